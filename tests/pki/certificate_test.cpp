#include <algorithm>
#include <chrono>
#include <string>

#include "pki/pki_test_util.hpp"

namespace pki = moat::pki;
using pki::test::catch_config_error;
using pki::test::must_run;
using pki::test::read_text;
using pki::test::write_text;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;
using sys_clock = std::chrono::system_clock;

class PkiCertificate : public pki::test::temp_dir_test {};

TEST_F(PkiCertificate, ASelfSignedCertificateCarriesItsNamesAndParsesBack) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto cert =
      pki::certificate_builder{
          .common_name = "example.test",
          .organisation = "Example Org",
          .subject_alt_names = {"DNS:example.test", "DNS:*.example.test", "IP:192.0.2.7", "IP:::1",
                                "URI:spiffe://example.test/svc", "email:ops@example.test"}}
          .self_sign(key);
  EXPECT_EQ(cert.common_name(), "example.test");
  EXPECT_EQ(cert.subject(), "CN=example.test,O=Example Org");
  EXPECT_EQ(cert.issuer(), cert.subject());
  EXPECT_THAT(cert.subject_alt_names(),
              ElementsAre("DNS:example.test", "DNS:*.example.test", "IP:192.0.2.7", "IP:::1",
                          "URI:spiffe://example.test/svc", "email:ops@example.test"));
  EXPECT_TRUE(cert.is_self_signed());
  EXPECT_FALSE(cert.is_ca());
  EXPECT_EQ(cert.public_key_type(), pki::key_type::ecdsa_p256);
  EXPECT_EQ(cert.public_key_bits(), 256U);
  EXPECT_EQ(cert.public_key_der(), key.public_key_der());
  EXPECT_EQ(cert.serial_hex().size(), 32U);
  EXPECT_EQ(cert.signature_algorithm(), "ECDSA-SHA256");
  EXPECT_TRUE(cert.is_valid_at(sys_clock::now()));
  EXPECT_LE(cert.not_after() - cert.not_before(), std::chrono::days{366});

  // Round trips through PEM and DER.
  EXPECT_EQ(pki::certificate::from_der(cert.der()), cert);
  EXPECT_EQ(pki::certificate::from_pem(cert.pem()), cert);
  EXPECT_THAT(cert.pem(), StartsWith("-----BEGIN CERTIFICATE-----\n"));

  // And openssl sees the same.
  write_text(path("c.pem"), cert.pem());
  const std::string text = must_run("openssl x509 -in c.pem -noout -text", dir_);
  EXPECT_THAT(text, HasSubstr("DNS:example.test, DNS:*.example.test, IP Address:192.0.2.7, "
                              "IP Address:0:0:0:0:0:0:0:1, URI:spiffe://example.test/svc, "
                              "email:ops@example.test"));
  EXPECT_THAT(text, HasSubstr("Subject: O = Example Org, CN = example.test"));
  EXPECT_THAT(text, HasSubstr("CA:FALSE"));
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication, TLS Web Client Authentication"));
  EXPECT_THAT(text, HasSubstr("Digital Signature"));
  EXPECT_THAT(text, HasSubstr("ecdsa-with-SHA256"));
  EXPECT_THAT(text, HasSubstr("Subject Key Identifier"));
  must_run("openssl verify -CAfile c.pem c.pem", dir_);
}

TEST_F(PkiCertificate, TheFingerprintAndSerialEqualOpenssls) {
  const auto key = pki::private_key::generate(pki::key_type::ed25519);
  const auto cert = pki::certificate_builder{.common_name = "fp"}.self_sign(key);
  write_text(path("c.pem"), cert.pem());
  const std::string fp = must_run("openssl x509 -in c.pem -noout -fingerprint -sha256", dir_);
  EXPECT_EQ(fp, "sha256 Fingerprint=" + cert.sha256_fingerprint() + "\n");
  const std::string serial = must_run("openssl x509 -in c.pem -noout -serial", dir_);
  EXPECT_EQ(serial, "serial=" + cert.serial_hex() + "\n");
  EXPECT_EQ(cert.sha256_fingerprint().size(), 32U * 3 - 1);
}

TEST_F(PkiCertificate, EachKeyTypeMakesACertificateOpensslAccepts) {
  for (const auto type : {pki::key_type::ecdsa_p256, pki::key_type::ecdsa_p384,
                          pki::key_type::ed25519, pki::key_type::rsa}) {
    const auto key = pki::private_key::generate(type);
    const auto cert = pki::certificate_builder{.common_name = "k"}.self_sign(key);
    EXPECT_EQ(cert.public_key_type(), type);
    EXPECT_TRUE(cert.is_self_signed()) << pki::to_string(type);
    write_text(path("c.pem"), cert.pem());
    must_run("openssl verify -CAfile c.pem c.pem", dir_);
    if (type == pki::key_type::rsa) {
      EXPECT_THAT(must_run("openssl x509 -in c.pem -noout -text", dir_),
                  HasSubstr("Digital Signature, Key Encipherment"));
    }
  }
}

TEST_F(PkiCertificate, ABuilderChainVerifiesWithOpenssl) {
  const auto c = pki::test::make_chain();
  write_text(path("root.pem"), c.root.pem());
  write_text(path("inter.pem"), c.inter.pem());
  write_text(path("leaf.pem"), c.leaf.pem());
  EXPECT_EQ(must_run("openssl verify -CAfile root.pem -untrusted inter.pem leaf.pem", dir_),
            "leaf.pem: OK\n");
  must_run("openssl verify -CAfile root.pem -untrusted inter.pem -purpose sslserver leaf.pem",
           dir_);
  must_run("openssl verify -CAfile root.pem -untrusted inter.pem -purpose sslclient leaf.pem",
           dir_);
  EXPECT_TRUE(c.root.is_ca());
  EXPECT_TRUE(c.inter.is_ca());
  EXPECT_EQ(c.inter.path_len_constraint(), 0);
  EXPECT_EQ(c.root.path_len_constraint(), -1);
  EXPECT_TRUE(c.leaf.is_issued_by(c.inter));
  EXPECT_TRUE(c.inter.is_issued_by(c.root));
  EXPECT_FALSE(c.leaf.is_issued_by(c.root));
  EXPECT_FALSE(c.inter.is_issued_by(c.leaf));
  EXPECT_FALSE(c.leaf.is_self_signed());
  EXPECT_EQ(c.leaf.issuer(), c.inter.subject());
  const std::string text = must_run("openssl x509 -in inter.pem -noout -text", dir_);
  EXPECT_THAT(text, HasSubstr("CA:TRUE, pathlen:0"));
  EXPECT_THAT(text, HasSubstr("Certificate Sign, CRL Sign"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Extended Key Usage")));
}

TEST_F(PkiCertificate, AnRsaRootCanSignAnEd25519Leaf) {
  const auto root_key = pki::private_key::generate(pki::key_type::rsa);
  const auto root =
      pki::certificate_builder{.common_name = "rsa root", .is_ca = true}.self_sign(root_key);
  const auto leaf_key = pki::private_key::generate(pki::key_type::ed25519);
  const auto leaf = pki::certificate_builder{.common_name = "ed leaf"}.sign(
      leaf_key.public_key_der(), root, root_key);
  EXPECT_TRUE(leaf.is_issued_by(root));
  EXPECT_EQ(leaf.public_key_type(), pki::key_type::ed25519);
  write_text(path("root.pem"), root.pem());
  write_text(path("leaf.pem"), leaf.pem());
  must_run("openssl verify -CAfile root.pem leaf.pem", dir_);
}

TEST_F(PkiCertificate, ACaWithoutBasicConstraintsIsRejectedByOpenssl) {
  const auto root_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto root =
      pki::certificate_builder{
          .common_name = "no-bc root", .is_ca = true, .include_basic_constraints = false}
          .self_sign(root_key);
  EXPECT_FALSE(root.is_ca());
  EXPECT_THAT(root.summary(), HasSubstr("no basicConstraints"));
  const auto leaf_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto leaf = pki::certificate_builder{.common_name = "leaf"}.sign(leaf_key, root, root_key);
  EXPECT_TRUE(leaf.is_issued_by(root));  // the signature is fine
  write_text(path("root.pem"), root.pem());
  write_text(path("leaf.pem"), leaf.pem());
  const auto r = pki::test::run("openssl verify -x509_strict -CAfile root.pem leaf.pem", dir_);
  EXPECT_THAT(r.output, HasSubstr("invalid CA certificate"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_THAT(must_run("openssl x509 -in root.pem -noout -text", dir_),
              ::testing::Not(HasSubstr("Basic Constraints")));
}

TEST_F(PkiCertificate, HonoursExplicitDatesSerialAndUsages) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto nb = sys_clock::from_time_t(1577836800);  // 2020-01-01
  const auto na = sys_clock::from_time_t(1609459199);  // 2020-12-31 23:59:59
  const auto cert = pki::certificate_builder{.common_name = "old",
                                             .not_before = nb,
                                             .not_after = na,
                                             .serial = {0x01, 0x02, 0x03},
                                             .key_usage = pki::key_usage_flags::key_agreement,
                                             .ext_key_usage = pki::ext_key_usage_flags::client_auth,
                                             .include_key_identifiers = false}
                        .self_sign(key);
  EXPECT_EQ(cert.not_before(), nb);
  EXPECT_EQ(cert.not_after(), na);
  EXPECT_EQ(cert.serial_hex(), "010203");
  EXPECT_FALSE(cert.is_valid_at(sys_clock::now()));
  EXPECT_EQ(pki::format_utc(cert.not_after()), "2020-12-31 23:59:59 UTC");
  write_text(path("c.pem"), cert.pem());
  const std::string text = must_run("openssl x509 -in c.pem -noout -text", dir_);
  EXPECT_THAT(text, HasSubstr("Not Before: Jan  1 00:00:00 2020 GMT"));
  EXPECT_THAT(text, HasSubstr("Key Agreement"));
  EXPECT_THAT(text, HasSubstr("TLS Web Client Authentication"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("TLS Web Server Authentication")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Key Identifier")));
}

TEST(PkiBuilder, SupportsDatesBeyond2050AndNoWellDefinedExpiration) {
  const auto key = pki::private_key::generate(pki::key_type::ed25519);
  const auto far = sys_clock::from_time_t(4102444800);  // 2100-01-01
  const auto until_2100 =
      pki::certificate_builder{.common_name = "far", .not_after = far}.self_sign(key);
  EXPECT_EQ(until_2100.not_after(), far);
  const auto forever =
      pki::certificate_builder{.common_name = "forever", .not_after = sys_clock::time_point::max()}
          .self_sign(key);
  EXPECT_EQ(forever.not_after(), sys_clock::time_point::max());
  EXPECT_THAT(forever.summary(), HasSubstr("9999-12-31"));
}

TEST(PkiBuilder, RejectsAnInvalidSubjectAltNameNamingTheEntry) {
  const auto key = pki::private_key::generate(pki::key_type::ed25519);
  for (const std::string bad :
       {"example.com", "DNS:", "DNS:bad name", "DNS:a..b", "DNS:a.*.b", "IP:300.1.1.1",
        "IP:localhost", "FTP:x", "email:nobody", "URI:noscheme"}) {
    const auto e = catch_config_error([&] {
      (void)pki::certificate_builder{.common_name = "x", .subject_alt_names = {bad}}.self_sign(key);
    });
    EXPECT_EQ(e.code(), pki::errc::invalid_san) << bad;
    EXPECT_THAT(e.what(), HasSubstr("'" + bad + "'")) << bad;
  }
}

TEST(PkiBuilder, RejectsInconsistentArguments) {
  const auto key = pki::private_key::generate(pki::key_type::ed25519);
  EXPECT_EQ(catch_config_error([&] { (void)pki::certificate_builder{}.self_sign(key); }).code(),
            pki::errc::invalid_argument);
  const auto now = sys_clock::now();
  EXPECT_EQ(catch_config_error([&] {
              (void)pki::certificate_builder{
                  .common_name = "x", .not_before = now, .not_after = now - 1h}
                  .self_sign(key);
            }).code(),
            pki::errc::invalid_argument);
  EXPECT_EQ(catch_config_error([&] {
              (void)pki::certificate_builder{.common_name = "x",
                                             .serial = std::vector<std::uint8_t>(21, 1)}
                  .self_sign(key);
            }).code(),
            pki::errc::invalid_argument);
  EXPECT_EQ(catch_config_error([&] {
              (void)pki::certificate_builder{.common_name = "x"}.self_sign({});
            }).code(),
            pki::errc::invalid_argument);
}

TEST(PkiBuilder, RefusesToSignWithAKeyThatIsNotTheIssuers) {
  const auto c = pki::test::make_chain();
  const auto e = catch_config_error([&] {
    (void)pki::certificate_builder{.common_name = "x"}.sign(c.leaf_key, c.root, c.inter_key);
  });
  EXPECT_EQ(e.code(), pki::errc::key_mismatch);
}

TEST(PkiCertificateParse, FromDerRejectsGarbage) {
  const std::vector<std::uint8_t> junk{0x30, 0x03, 0x02, 0x01, 0x01};
  const auto e = catch_config_error([&] { (void)pki::certificate::from_der(junk); });
  EXPECT_EQ(e.code(), pki::errc::malformed);
  EXPECT_THAT(e.what(), StartsWith("certificate: "));
}

TEST(PkiCertificateParse, AnEmptyCertificateThrowsInsteadOfCrashing) {
  const pki::certificate c;
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(catch_config_error([&] { (void)c.subject(); }).code(), pki::errc::invalid_argument);
}

TEST(PkiCertificateSummary, DescribesTheCertificateForHumans) {
  const auto c = pki::test::make_chain();
  const std::string s = c.leaf.summary();
  EXPECT_THAT(s, HasSubstr("Subject:       CN=leaf.example\n"));
  EXPECT_THAT(s, HasSubstr("Issuer:        CN=Test Intermediate\n"));
  EXPECT_THAT(s, HasSubstr("Alt names:     DNS:leaf.example, IP:127.0.0.1\n"));
  EXPECT_THAT(s, HasSubstr("Public key:    ECDSA P-256\n"));
  EXPECT_THAT(s, HasSubstr("CA:            no\n"));
  EXPECT_THAT(s, HasSubstr("Self-signed:   no\n"));
  EXPECT_THAT(s, HasSubstr("SHA-256:       " + c.leaf.sha256_fingerprint() + "\n"));
  EXPECT_THAT(s, HasSubstr("expires in 36"));
  EXPECT_THAT(c.inter.summary(), HasSubstr("CA:            yes, path length 0\n"));
}

TEST_F(PkiCertificate, ReadsCertificatesMadeByOpenssl) {
  must_run(
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 3 "
      "-subj '/C=SE/O=Acme, Inc./CN=openssl.test' "
      "-addext 'subjectAltName=DNS:openssl.test,IP:10.0.0.1,IP:2001:db8::1'",
      dir_);
  const auto certs = pki::load_certificates(path("c.pem"));
  ASSERT_EQ(certs.size(), 1U);
  const auto& c = certs.front();
  EXPECT_EQ(c.common_name(), "openssl.test");
  EXPECT_EQ(c.subject(), "CN=openssl.test,O=Acme\\, Inc.,C=SE");
  EXPECT_THAT(c.subject_alt_names(),
              ElementsAre("DNS:openssl.test", "IP:10.0.0.1", "IP:2001:db8::1"));
  EXPECT_EQ(c.public_key_type(), pki::key_type::rsa);
  EXPECT_EQ(c.public_key_bits(), 2048U);
  EXPECT_TRUE(c.is_self_signed());
  EXPECT_EQ(c.public_key_der(), pki::load_private_key(path("k.pem")).public_key_der());
}

// Found by the pki_loaders fuzz target: a certificate whose key algorithm the TLS library does
// not know parses, but public_key_algorithm() -- documented never to throw -- and so summary()
// (`moat cert show`) threw "malformed".
TEST_F(PkiCertificate, ACertificateWithAnUnknownKeyAlgorithmStillDescribesItself) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto der = pki::certificate_builder{.common_name = "odd.test"}.self_sign(key).der();
  // id-ecPublicKey (1.2.840.10045.2.1) -> 1.2.840.10045.2.99, an algorithm nobody knows.
  const std::vector<std::uint8_t> oid{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
  const auto at = std::search(der.begin(), der.end(), oid.begin(), oid.end());
  ASSERT_NE(at, der.end());
  at[6] = 99;
  const auto cert = pki::certificate::from_der(der);
  EXPECT_EQ(cert.common_name(), "odd.test");
  EXPECT_EQ(cert.public_key_algorithm(), "unknown (OID 1.2.840.10045.2.99)");
  EXPECT_EQ(cert.public_key_bits(), 0U);
  EXPECT_THAT(cert.summary(), HasSubstr("unknown (OID 1.2.840.10045.2.99)"));
  const auto type = catch_config_error([&] { (void)cert.public_key_type(); });
  EXPECT_EQ(type.code(), pki::errc::unsupported_key_type) << type.what();
  EXPECT_THAT(type.what(), HasSubstr("1.2.840.10045.2.99"));
  const auto spki = catch_config_error([&] { (void)cert.public_key_der(); });
  EXPECT_EQ(spki.code(), pki::errc::unsupported_key_type) << spki.what();
}

// ---- CSR ---------------------------------------------------------------------------------------
class PkiCsr : public pki::test::temp_dir_test {};

TEST_F(PkiCsr, ACsrVerifiesWithOpensslAndCarriesTheNames) {
  for (const auto type : {pki::key_type::ecdsa_p256, pki::key_type::ed25519, pki::key_type::rsa}) {
    const auto key = pki::private_key::generate(type);
    const std::string pem = pki::make_csr_pem(key, "csr.test", {"DNS:csr.test", "IP:10.1.2.3"});
    EXPECT_THAT(pem, StartsWith("-----BEGIN CERTIFICATE REQUEST-----\n"));
    write_text(path("r.pem"), pem);
    must_run("openssl req -in r.pem -verify -noout", dir_);
    const std::string text = must_run("openssl req -in r.pem -noout -text", dir_);
    EXPECT_THAT(text, HasSubstr("CN = csr.test"));
    EXPECT_THAT(text, HasSubstr("DNS:csr.test, IP Address:10.1.2.3"));

    const auto info = pki::parse_csr(pem);
    EXPECT_EQ(info.common_name, "csr.test");
    EXPECT_THAT(info.subject_alt_names, ElementsAre("DNS:csr.test", "IP:10.1.2.3"));
    EXPECT_EQ(info.public_key_der, key.public_key_der());
  }
}

TEST_F(PkiCsr, TheDerFormIsWhatThePemWraps) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto der = pki::make_csr_der(key, "", {"DNS:acme.test"});
  write_text(path("r.der"), std::string(der.begin(), der.end()));
  must_run("openssl req -inform DER -in r.der -verify -noout", dir_);
  const auto info =
      pki::parse_csr(std::string_view(reinterpret_cast<const char*>(der.data()), der.size()));
  EXPECT_EQ(info.common_name, "");
  EXPECT_THAT(info.subject_alt_names, ElementsAre("DNS:acme.test"));
}

TEST(PkiCsrErrors, RejectsBadNamesAndGarbage) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  EXPECT_EQ(catch_config_error([&] { (void)pki::make_csr_der(key, "x", {"nope"}); }).code(),
            pki::errc::invalid_san);
  EXPECT_EQ(catch_config_error([&] { (void)pki::make_csr_der(key, "", {}); }).code(),
            pki::errc::invalid_argument);
  EXPECT_EQ(catch_config_error([&] { (void)pki::parse_csr("hello"); }).code(),
            pki::errc::not_pem_or_der);
}

TEST(PkiCsrSigning, ACaCanSignWhatACsrAsksFor) {
  const auto c = pki::test::make_chain();
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto info = pki::parse_csr(pki::make_csr_pem(key, "from-csr", {"DNS:from-csr.test"}));
  const auto cert = pki::certificate_builder{.common_name = info.common_name,
                                             .subject_alt_names = info.subject_alt_names}
                        .sign(info.public_key_der, c.inter, c.inter_key);
  EXPECT_TRUE(cert.is_issued_by(c.inter));
  EXPECT_EQ(cert.public_key_der(), key.public_key_der());
}
