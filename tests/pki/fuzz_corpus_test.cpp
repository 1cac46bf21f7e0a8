// Replays the seed corpus in fuzz/corpus/pki_loaders (and generated near-valid inputs)
// through the PEM/DER loaders fuzz target's entry, so the normal build exercises it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "pki_loaders_entry.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

std::vector<std::pair<std::string, bytes>> seed_corpus() {
  std::vector<std::pair<std::string, bytes>> r;
  for (const auto& entry : std::filesystem::directory_iterator(MOAT_PKI_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    r.emplace_back(entry.path().filename().string(),
                   bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()});
  }
  return r;
}

TEST(PkiLoadersFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  ASSERT_TRUE(std::filesystem::is_directory(MOAT_PKI_FUZZ_CORPUS)) << MOAT_PKI_FUZZ_CORPUS;
  const auto corpus = seed_corpus();
  EXPECT_GE(corpus.size(), 5U);
  for (const auto& [name, input] : corpus) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::pki_loaders_check(input, &why)) << name << ": " << why;
  }
}

TEST(PkiLoadersFuzzEntry, AcceptsEveryTruncationAndSingleByteFlipOfTheDerSeeds) {
  std::mt19937 rng(5);
  for (const auto& [name, input] : seed_corpus()) {
    if (name.size() < 4 || name.substr(name.size() - 4) != ".der") continue;
    for (std::size_t n = 0; n < input.size(); n += 7) {
      std::string why;
      EXPECT_TRUE(moat::fuzz::pki_loaders_check({input.data(), n}, &why))
          << name << " cut at " << n << ": " << why;
    }
    for (int i = 0; i < 50; ++i) {
      bytes mutated = input;
      mutated[rng() % mutated.size()] ^= static_cast<std::uint8_t>(1U << (rng() % 8));
      std::string why;
      EXPECT_TRUE(moat::fuzz::pki_loaders_check(mutated, &why))
          << name << " mutation " << i << ": " << why;
    }
  }
}

}  // namespace
