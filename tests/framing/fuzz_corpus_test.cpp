// Replays tricky inputs (and the seed corpus in fuzz/corpus/framing_decoder) through the fuzz
// target's entry function, so the normal build exercises it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "framing_decoder_entry.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

// The first byte selects mode = b % 5 (raw, u8, u16, u32, line), limit = (b / 5) % 8
// (default, 1, 2, 7, 64, 255, 300, unlimited) and the chunking (b / 40).
constexpr std::uint8_t sel(unsigned mode, unsigned limit, unsigned chunking) {
  return static_cast<std::uint8_t>(mode + 5 * limit + 40 * chunking);
}

std::vector<bytes> tricky_inputs() {
  return {
      {},
      {sel(0, 0, 0)},
      {sel(0, 0, 3), 'r', 'a', 'w'},
      {sel(1, 0, 0), 0},                              // u8 empty frame
      {sel(1, 3, 0), 7, 1, 2, 3, 4, 5, 6, 7},         // u8 at the limit 7
      {sel(1, 3, 1), 8, 1, 2, 3, 4, 5, 6, 7, 8},      // u8 one above the limit
      {sel(1, 0, 2), 0xff},                           // u8 header alone: truncated
      {sel(2, 1, 0), 0x00, 0x01, 'a', 0x00, 0x02},    // u16 limit 1, then too large
      {sel(2, 0, 4), 0xff, 0xff},                     // u16 max header, truncated
      {sel(3, 7, 5), 0xff, 0xff, 0xff, 0xff, 1},      // u32 4 GiB header, unlimited
      {sel(3, 0, 6), 0x04, 0x00, 0x00, 0x01},         // u32 just above 64 MiB default
      {sel(3, 2, 0), 0, 0, 0, 2, 'a', 'b', 0, 0, 0},  // u32 frame then partial header
      {sel(4, 0, 0), '\n', '\n'},                     // empty lines
      {sel(4, 2, 0), 'a', '\n', 'b', 'c'},            // line limit 2, "bc" passes it
      {sel(4, 2, 1), 'a', '\n', 'b', '\n'},           // line limit 2 exactly
      {sel(4, 1, 0), '\n', 'x'},                      // line limit 1
      {sel(4, 4, 3), '\r', '\n', 'a', '\r', '\n', 'b'},
      {sel(4, 7, 2), 'n', 'o', ' ', 'n', 'l'},  // unlimited, truncated
  };
}

TEST(FramingFuzzEntry, AcceptsEveryTrickyInput) {
  for (const auto& input : tricky_inputs()) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::framing_decoder_check(input, &why))
        << why << " (input of " << input.size() << " bytes, first byte "
        << (input.empty() ? -1 : input[0]) << ")";
  }
}

TEST(FramingFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  const std::filesystem::path dir = MOAT_FRAMING_FUZZ_CORPUS;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const bytes input{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::string why;
    EXPECT_TRUE(moat::fuzz::framing_decoder_check(input, &why)) << entry.path() << ": " << why;
    ++count;
  }
  EXPECT_GT(count, 0U);
}

TEST(FramingFuzzEntry, AcceptsThousandsOfRandomStreamsOfValidFrames) {
  std::mt19937 rng(2024);
  for (int i = 0; i < 3000; ++i) {
    bytes input = {static_cast<std::uint8_t>(rng() & 0xffU)};
    const auto mode = input[0] % 5U;
    const std::size_t frames = rng() % 20;
    for (std::size_t f = 0; f < frames; ++f) {
      const std::size_t n = rng() % 80;
      if (mode == 1) input.push_back(static_cast<std::uint8_t>(n));
      if (mode == 2) input.insert(input.end(), {0, static_cast<std::uint8_t>(n)});
      if (mode == 3) input.insert(input.end(), {0, 0, 0, static_cast<std::uint8_t>(n)});
      for (std::size_t b = 0; b < n; ++b)
        input.push_back(static_cast<std::uint8_t>(rng() % 4 == 0 ? '\n' : rng()));
    }
    std::string why;
    ASSERT_TRUE(moat::fuzz::framing_decoder_check(input, &why)) << why << " at input " << i;
  }
}

}  // namespace
