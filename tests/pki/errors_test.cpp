#include <gtest/gtest.h>

#include <moat/error.hpp>
#include <moat/pki/errors.hpp>
#include <set>
#include <string>

namespace pki = moat::pki;

TEST(PkiErrors, EveryCodeHasADistinctNonEmptyMessage) {
  std::set<std::string> seen;
  const int first = static_cast<int>(pki::errc::file_missing);
  const int last = static_cast<int>(pki::errc::not_issued_by_ca);
  for (int v = first; v <= last; ++v) {
    const std::error_code ec = pki::make_error_code(static_cast<pki::errc>(v));
    const std::string m = ec.message();
    EXPECT_FALSE(m.empty()) << v;
    EXPECT_EQ(m.find("unknown"), std::string::npos) << v << ": " << m;
    EXPECT_TRUE(seen.insert(m).second) << "duplicate message: " << m;
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(last - first + 1));
}

TEST(PkiErrors, AnUnknownValueHasASensibleMessage) {
  const std::error_code ec(9999, pki::category());
  EXPECT_EQ(ec.message(), "unknown moat.pki error 9999");
  EXPECT_STREQ(pki::category().name(), "moat.pki");
}

TEST(PkiErrors, CodesConvertImplicitlyAndCompareEqual) {
  const std::error_code ec = pki::errc::key_mismatch;
  EXPECT_EQ(ec, pki::errc::key_mismatch);
  EXPECT_NE(ec, pki::errc::file_missing);
  EXPECT_EQ(&ec.category(), &pki::category());
  EXPECT_EQ(ec.message(), "private key does not match the certificate");
}

TEST(PkiErrors, AConfigErrorNamesTheSubjectTheReasonAndTheDetail) {
  const moat::config_error e("certfile '/x/cert.pem'", pki::errc::not_pem_or_der,
                             "no PEM certificate found (is it DER?)");
  EXPECT_EQ(e.code(), pki::errc::not_pem_or_der);
  EXPECT_EQ(std::string(e.what()),
            "certfile '/x/cert.pem': neither PEM nor DER (no PEM certificate found (is it DER?))");
}
