// Replays the handshake fuzz target's seed corpus (fuzz/corpus/dist_handshake) and generated
// inputs through its entry function, so the normal build exercises it.
#include <gtest/gtest.h>

#include <random>

#include "dist_handshake_entry.hpp"
#include "support/support.hpp"

namespace {

TEST(HandshakeFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  const auto corpus = moat::test::read_corpus(MOAT_DIST_HANDSHAKE_FUZZ_CORPUS);
  ASSERT_FALSE(corpus.empty());
  for (const auto& [name, input] : corpus) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::dist_handshake_check(input, &why)) << name << ": " << why;
  }
}

TEST(HandshakeFuzzEntry, AcceptsThousandsOfRandomInputsForBothSides) {
  std::mt19937 rng(11);
  for (int i = 0; i < 5000; ++i) {
    std::vector<std::uint8_t> input = {static_cast<std::uint8_t>(i % 16)};
    const std::size_t n = rng() % 80;
    for (std::size_t b = 0; b < n; ++b) input.push_back(static_cast<std::uint8_t>(rng()));
    std::string why;
    ASSERT_TRUE(moat::fuzz::dist_handshake_check(input, &why)) << why << " at input " << i;
  }
}

}  // namespace
