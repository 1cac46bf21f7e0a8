// Replays the seed corpus in fuzz/corpus/acme_ca_requests, and every truncation and many byte
// flips of it, through the CA requests fuzz target's entry, so the normal build runs it.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "acme_ca_requests_entry.hpp"
#include "support/support.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

std::vector<std::pair<std::string, bytes>> seed_corpus() {
  return moat::test::read_corpus(MOAT_ACME_CA_FUZZ_CORPUS);
}

std::string_view text(const bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

TEST(AcmeCaRequestsFuzzEntry, AcceptsEveryInputOfTheSeedCorpus) {
  const auto corpus = seed_corpus();
  EXPECT_GE(corpus.size(), 14U);
  for (const auto& [name, input] : corpus) {
    std::string why;
    EXPECT_TRUE(moat::fuzz::acme_ca_requests_check(input, &why)) << name << ": " << why;
  }
}

TEST(AcmeCaRequestsFuzzEntry, TheSeedsAreWhatTheirNamesSay) {
  namespace d = moat::acme::detail;
  for (const auto& [name, input] : seed_corpus()) {
    const bool hostile = name == "alg-none" || name == "hs256-public-key" || name == "kid-and-jwk";
    try {
      const auto jws = d::parse_jws(text(input));
      EXPECT_FALSE(hostile) << name << " was accepted";
      if (jws.jwk) {
        EXPECT_NO_THROW(d::verify_signature(jws, jws.jwk_spki)) << name;
      }
    } catch (const d::ca_failure& f) {
      EXPECT_TRUE(hostile) << name << ": " << f.what();
      const auto expected = name == "kid-and-jwk" ? moat::acme::errc::malformed
                                                  : moat::acme::errc::bad_signature_algorithm;
      EXPECT_EQ(f.code(), expected) << name;
    }
  }
}

TEST(AcmeCaRequestsFuzzEntry, AcceptsEveryTruncationAndRandomByteFlipsOfTheSeeds) {
  std::mt19937 rng(8555);
  for (const auto& [name, input] : seed_corpus()) {
    for (std::size_t n = 0; n <= input.size(); ++n) {
      std::string why;
      const bytes cut(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
      ASSERT_TRUE(moat::fuzz::acme_ca_requests_check(cut, &why))
          << name << "[:" << n << "]: " << why;
    }
    for (int i = 0; i < 300 && !input.empty(); ++i) {
      bytes flipped = input;
      flipped[rng() % flipped.size()] = static_cast<std::uint8_t>(rng());
      std::string why;
      ASSERT_TRUE(moat::fuzz::acme_ca_requests_check(flipped, &why)) << name << " flip: " << why;
    }
  }
}
