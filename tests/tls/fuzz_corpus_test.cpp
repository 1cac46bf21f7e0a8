// Replays the seed corpus in fuzz/corpus/tls_server_engine (and a few generated inputs)
// through the TLS server engine fuzz target's entry, so the normal build exercises it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tls_server_engine_entry.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

std::vector<std::pair<std::string, bytes>> seed_corpus() {
  std::vector<std::pair<std::string, bytes>> r;
  for (const auto& entry : std::filesystem::directory_iterator(MOAT_TLS_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    r.emplace_back(entry.path().filename().string(),
                   bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()});
  }
  return r;
}

TEST(TlsServerEngineFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  ASSERT_TRUE(std::filesystem::is_directory(MOAT_TLS_FUZZ_CORPUS)) << MOAT_TLS_FUZZ_CORPUS;
  const auto corpus = seed_corpus();
  EXPECT_GE(corpus.size(), 5U);
  for (const auto& [name, input] : corpus) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::tls_server_engine_check(input, nullptr, &why)) << name << ": " << why;
  }
}

TEST(TlsServerEngineFuzzEntry, AcceptsEveryPrefixOfACapturedClientHello) {
  // Every cut of a real ClientHello: a partial header, a partial record, the whole record.
  const auto corpus = seed_corpus();
  for (const auto& [name, input] : corpus) {
    if (name != "openssl-tls13-clienthello") continue;
    for (std::size_t n = 0; n <= input.size(); ++n) {
      std::string why;
      ASSERT_TRUE(moat::fuzz::tls_server_engine_check({input.data(), n}, nullptr, &why))
          << "prefix of " << n << " bytes: " << why;
    }
    return;
  }
  FAIL() << "openssl-tls13-clienthello is missing from the corpus";
}

TEST(TlsServerEngineFuzzEntry, AcceptsCapturedClientHellosWithSingleBytesFlipped) {
  std::mt19937 rng(11);
  for (const auto& [name, input] : seed_corpus()) {
    if (name.find("clienthello") == std::string::npos) continue;
    for (int i = 0; i < 20; ++i) {
      bytes mutated = input;
      mutated[rng() % mutated.size()] ^= static_cast<std::uint8_t>(1U << (rng() % 8));
      std::string why;
      EXPECT_TRUE(moat::fuzz::tls_server_engine_check(mutated, nullptr, &why))
          << name << " mutation " << i << ": " << why;
    }
  }
}

}  // namespace
