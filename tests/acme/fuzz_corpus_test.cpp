// Replays the seed corpus in fuzz/corpus/acme_documents, and every truncation and many byte
// flips of it, through the ACME documents fuzz target's entry, so the normal build runs it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "acme_documents_entry.hpp"
#include "support/support.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

std::vector<std::pair<std::string, bytes>> seed_corpus() {
  return moat::test::read_corpus(MOAT_ACME_FUZZ_CORPUS);
}

}  // namespace

TEST(AcmeDocumentsFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  const auto corpus = seed_corpus();
  EXPECT_GE(corpus.size(), 8U);
  for (const auto& [name, input] : corpus) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::acme_documents_check(input, &why)) << name << ": " << why;
  }
}

TEST(AcmeDocumentsFuzzEntry, AcceptsEveryTruncationAndRandomByteFlipsOfTheSeeds) {
  std::mt19937 rng(8555);
  for (const auto& [name, input] : seed_corpus()) {
    for (std::size_t n = 0; n <= input.size(); ++n) {
      std::string why;
      const bytes cut(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
      ASSERT_TRUE(moat::fuzz::acme_documents_check(cut, &why)) << name << "[:" << n << "]: " << why;
    }
    for (int i = 0; i < 300 && !input.empty(); ++i) {
      bytes flipped = input;
      flipped[rng() % flipped.size()] = static_cast<std::uint8_t>(rng());
      std::string why;
      ASSERT_TRUE(moat::fuzz::acme_documents_check(flipped, &why)) << name << " flip: " << why;
    }
  }
}
