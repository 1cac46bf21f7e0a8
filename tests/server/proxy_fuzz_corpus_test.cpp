// Replays the seed corpus in fuzz/corpus/proxy_protocol (and generated inputs) through the
// PROXY protocol parser fuzz target's entry, so the normal build exercises it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "proxy_protocol_entry.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

TEST(ProxyProtocolFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  const std::filesystem::path dir = MOAT_PROXY_FUZZ_CORPUS;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const bytes input{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::string why;
    EXPECT_TRUE(moat::fuzz::proxy_protocol_check(input, &why)) << entry.path() << ": " << why;
    ++count;
  }
  EXPECT_GE(count, 5U);
}

TEST(ProxyProtocolFuzzEntry, AcceptsThousandsOfRandomV1AndV2Headers) {
  std::mt19937 rng(2024);
  const std::string v2sig("\r\n\r\n\0\r\nQUIT\n", 12);
  const char* words[] = {"PROXY",       "TCP4", "TCP6",  "UNKNOWN", "1.2.3.4", "::1",
                         "2001:db8::7", "0",    "65535", "65536",   "080",     "",
                         "  ",          "\r\n", "\r",    "\n"};
  for (int i = 0; i < 3000; ++i) {
    bytes input;
    if (rng() % 2 == 0) {
      std::string s = "PROXY ";
      const std::size_t n = rng() % 8;
      for (std::size_t w = 0; w < n; ++w) {
        s += words[rng() % std::size(words)];
        if (rng() % 4 != 0) s += ' ';
      }
      if (rng() % 3 != 0) s += "\r\n";
      input.assign(s.begin(), s.end());
    } else {
      input.assign(v2sig.begin(), v2sig.end());
      input.push_back(static_cast<std::uint8_t>(rng() % 3 == 0 ? rng() : 0x20 + rng() % 2));
      const std::uint8_t families[] = {0x00, 0x11, 0x12, 0x21, 0x22, 0x31};
      input.push_back(families[rng() % std::size(families)]);
      const std::size_t len = rng() % 2 == 0 ? rng() % 64 : rng() % 700;
      input.push_back(static_cast<std::uint8_t>(len >> 8));
      input.push_back(static_cast<std::uint8_t>(len & 0xff));
      const std::size_t body = rng() % 2 == 0 ? len : rng() % (len + 8);
      for (std::size_t b = 0; b < body; ++b) input.push_back(static_cast<std::uint8_t>(rng()));
    }
    std::string why;
    ASSERT_TRUE(moat::fuzz::proxy_protocol_check(input, &why)) << why << " at input " << i;
  }
}

}  // namespace
