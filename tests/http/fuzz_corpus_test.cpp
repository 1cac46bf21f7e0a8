// Replays the seed corpus in fuzz/corpus/http_request (and generated inputs) through the
// request parsing fuzz target's entry, so the normal build exercises it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "http_request_entry.hpp"
#include "support/support.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

TEST(HttpRequestFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  const auto corpus = moat::test::read_corpus(MOAT_HTTP_FUZZ_CORPUS);
  for (const auto& [name, input] : corpus) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::http_request_check(input, &why)) << name << ": " << why;
  }
  EXPECT_GE(corpus.size(), 10U);
}

TEST(HttpRequestFuzzEntry, AcceptsThousandsOfRandomlyAssembledRequests) {
  std::mt19937 rng(8);
  const char* parts[] = {"GET ",
                         "POST ",
                         "HEAD ",
                         "/",
                         "/a%20b",
                         "?q=1",
                         "*",
                         "http://h/",
                         " HTTP/1.1\r\n",
                         " HTTP/1.0\r\n",
                         "Host: x\r\n",
                         "Host: [::1]:8\r\n",
                         "Content-Length: 3\r\n",
                         "Transfer-Encoding: chunked\r\n",
                         "Expect: 100-continue\r\n",
                         "Connection: close\r\n",
                         "\r\n",
                         "abc",
                         "3\r\nabc\r\n",
                         "0\r\n\r\n",
                         ":",
                         " ",
                         "\n",
                         "%00"};
  for (int i = 0; i < 3000; ++i) {
    bytes input{static_cast<std::uint8_t>(rng())};
    const std::size_t n = 1 + rng() % 14;
    for (std::size_t k = 0; k < n; ++k) {
      const std::string p = parts[rng() % std::size(parts)];
      input.insert(input.end(), p.begin(), p.end());
    }
    std::string why;
    ASSERT_TRUE(moat::fuzz::http_request_check(input, &why))
        << why << " at input " << i << ": "
        << ::testing::PrintToString(std::string(input.begin() + 1, input.end())) << " (pieces of "
        << 1 + input[0] % 16 << ")";
  }
}

}  // namespace
