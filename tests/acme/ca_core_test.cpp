// The CA's I/O-free pieces: names it certifies, reverse-DNS names for TLS-ALPN-01 on IP
// addresses, nonces, problem documents, CSR checks.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <moat/pki/pki.hpp>

#include "acme/ca_issue.hpp"
#include "acme/ca_problem.hpp"
#include "acme/ca_state.hpp"
#include "acme/ca_validate.hpp"
#include "acme/tls_alpn_names.hpp"

namespace acme = moat::acme;
namespace d = moat::acme::detail;
namespace pki = moat::pki;

TEST(AcmeCaCore, DnsNamesAreLdhLabelsWithAnOptionalWildcardInFront) {
  for (const char* good : {"example.test", "a-b.example.test", "localhost", "*.example.test",
                           "xn--bcher-kva.example", "A.EXAMPLE.TEST"}) {
    EXPECT_TRUE(d::valid_dns_name(good)) << good;
  }
  for (const char* bad : {"", ".", "example.test.", "-a.test", "a-.test", "a..test", "a_b.test",
                          "*.*.test", "a.*.test", "*", "1.2.3.4", "a.123", "ex ample.test"}) {
    EXPECT_FALSE(d::valid_dns_name(bad)) << bad;
  }
  EXPECT_FALSE(d::valid_dns_name(std::string(64, 'a') + ".test"));
  EXPECT_FALSE(d::valid_dns_name(
      std::string(250, 'a').insert(60, ".").insert(120, ".").insert(180, ".") + ".test"));
}

TEST(AcmeCaCore, IpAddressesGetTheirReverseDnsNameAsSni) {
  EXPECT_EQ(d::reverse_dns_name("127.0.0.1"), "1.0.0.127.in-addr.arpa");
  EXPECT_EQ(d::reverse_dns_name("2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

TEST(AcmeCaCore, NoncesAreSingleUseAndBounded) {
  d::nonce_store s(3);
  const auto a = s.issue();
  EXPECT_EQ(a.size(), 22U);
  EXPECT_TRUE(s.consume(a));
  EXPECT_FALSE(s.consume(a));
  const auto b = s.issue();
  (void)s.issue();
  (void)s.issue();
  (void)s.issue();  // b is the oldest of four: forgotten
  EXPECT_FALSE(s.consume(b));
  EXPECT_FALSE(s.consume("made-up"));
}

TEST(AcmeCaCore, AProblemDocumentHasTheTypeTheStatusAndTheSubproblems) {
  d::ca_failure f(acme::errc::rejected_identifier, "1 of the identifiers cannot be certified", 0,
                  {{d::problem_type(acme::errc::rejected_identifier), "not a valid DNS name",
                    acme::identifier::dns("bad_name")}});
  EXPECT_EQ(f.status(), 400);
  const auto o = boost::json::parse(d::problem_json(f)).as_object();
  EXPECT_EQ(o.at("type").as_string(), "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(o.at("status").as_int64(), 400);
  EXPECT_EQ(o.at("subproblems").as_array()[0].at("identifier").at("value").as_string(), "bad_name");
  EXPECT_EQ(d::default_status(acme::errc::unauthorized), 403);
  EXPECT_EQ(d::default_status(acme::errc::order_not_ready), 403);
  EXPECT_EQ(d::default_status(acme::errc::already_replaced), 409);
  EXPECT_EQ(d::default_status(acme::errc::server_internal), 500);
}

TEST(AcmeCaCore, ACsrMustAskForExactlyTheOrdersNamesWithAnotherKey) {
  const auto account = pki::private_key::generate(pki::key_type::ecdsa_p256).public_key_der();
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p384);
  const std::vector<acme::identifier> ids = {acme::identifier::dns("example.test"),
                                             acme::identifier::ip("::1")};
  const auto ok = pki::make_csr_der(key, "EXAMPLE.test", {"DNS:Example.Test", "IP:0:0::1"});
  EXPECT_EQ(d::check_csr(ok, ids, account), key.public_key_der());
  const auto code = [&](const std::vector<std::uint8_t>& csr) {
    try {
      (void)d::check_csr(csr, ids, account);
      return acme::errc{};
    } catch (const d::ca_failure& f) {
      return f.code();
    }
  };
  EXPECT_EQ(code(pki::make_csr_der(key, "", {"DNS:example.test"})), acme::errc::bad_csr);
  EXPECT_EQ(code(pki::make_csr_der(key, "other.test", {"DNS:example.test", "IP:::1"})),
            acme::errc::bad_csr);
  EXPECT_EQ(code(pki::make_csr_der(key, "", {"DNS:example.test", "IP:::1", "URI:https://x"})),
            acme::errc::bad_csr);
  EXPECT_EQ(code({0x30, 0x03, 0x02, 0x01, 0x01}), acme::errc::bad_csr);
  auto tampered = ok;
  tampered[tampered.size() - 3] ^= 1U;
  EXPECT_EQ(code(tampered), acme::errc::bad_csr);
}
