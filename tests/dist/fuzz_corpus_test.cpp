// Replays tricky inputs (and the seed corpus in fuzz/corpus/dist_term) through the fuzz
// target's entry function, so the normal build exercises it.
#include <gtest/gtest.h>

#include <moat/dist/external.hpp>
#include <random>
#include <string>
#include <vector>

#include "dist_term_entry.hpp"
#include "support/support.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

bytes text(const std::string& s) {
  return {s.begin(), s.end()};
}

TEST(DistTermFuzzEntry, AcceptsEveryTrickyInput) {
  const std::vector<bytes> inputs = {
      {},
      {131},
      {131, 106},
      {131, 97, 1, 97},                                              // trailing bytes
      {131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106},    // list tail that is a list
      {131, 77, 0, 0, 0, 1, 8, 7},                                   // a bitstring of whole bytes
      {131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                   // a bignum of zero bytes
      {131, 116, 0, 0, 0, 1, 70, 0x80, 0, 0, 0, 0, 0, 0, 0, 97, 1},  // -0.0 as a key
      {131, 80, 0, 0, 0, 2, 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01},
      text("[a|b]."),
      text("#{1 => 2, 1.0 => 3}"),
      text("<<1:1,2:2,3:3>>"),
      text("'\\x{10FFFF}'"),
      text("\"\\x{D800}\""),
      text("a. b. 'c'."),
      text("-0.0"),
      text("[[[[[[[[[[]]]]]]]]]]"),
      text("#Ref<a.1.2.3.4.5.6>"),
  };
  for (const auto& input : inputs) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::dist_term_check(input, &why))
        << why << " (input of " << input.size() << " bytes)";
  }
}

TEST(DistTermFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  const auto corpus = moat::test::read_corpus(MOAT_DIST_TERM_FUZZ_CORPUS);
  ASSERT_FALSE(corpus.empty());
  for (const auto& [name, input] : corpus) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::dist_term_check(input, &why)) << name << ": " << why;
  }
}

TEST(DistTermFuzzEntry, AcceptsThousandsOfMutatedSeeds) {
  const auto corpus = moat::test::read_corpus(MOAT_DIST_TERM_FUZZ_CORPUS);
  ASSERT_FALSE(corpus.empty());
  std::mt19937 rng(10);
  for (int i = 0; i < 3000; ++i) {
    bytes input = corpus[rng() % corpus.size()].second;
    for (auto flips = 1 + rng() % 3; flips > 0 && !input.empty(); --flips) {
      input[rng() % input.size()] = static_cast<std::uint8_t>(rng());
    }
    if (rng() % 4 == 0 && !input.empty()) input.resize(rng() % input.size());
    std::string why;
    ASSERT_TRUE(moat::fuzz::dist_term_check(input, &why)) << why << " at input " << i;
  }
}

}  // namespace
