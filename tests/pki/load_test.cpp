#include <chrono>
#include <string>

#include "pki/pki_test_util.hpp"

namespace pki = moat::pki;
using pki::test::catch_config_error;
using pki::test::must_run;
using pki::test::read_text;
using pki::test::write_text;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;
using sys_clock = std::chrono::system_clock;

class PkiLoad : public pki::test::temp_dir_test {
 protected:
  // Writes a leaf + intermediate chain and the leaf key; returns nothing, files in dir_.
  void write_server_files(const pki::test::test_chain& c) {
    write_text(path("chain.pem"), c.leaf.pem() + c.inter.pem());
    c.leaf_key.write_file(path("key.pem"));
    write_text(path("root.pem"), c.root.pem());
  }
};

// ---- certificates --------------------------------------------------------------------------

TEST_F(PkiLoad, LoadsEveryCertificateInOrder) {
  const auto c = pki::test::make_chain();
  write_text(path("all.pem"), "# comment\n" + c.leaf.pem() + "\n" + c.inter.pem() + c.root.pem());
  const auto certs = pki::load_certificates(path("all.pem"));
  ASSERT_EQ(certs.size(), 3U);
  EXPECT_EQ(certs[0], c.leaf);
  EXPECT_EQ(certs[1], c.inter);
  EXPECT_EQ(certs[2], c.root);
}

TEST_F(PkiLoad, LoadsADerCertificateMadeByOpenssl) {
  const auto c = pki::test::make_chain();
  write_text(path("leaf.pem"), c.leaf.pem());
  must_run("openssl x509 -in leaf.pem -outform DER -out leaf.der", dir_);
  const auto certs = pki::load_certificates(path("leaf.der"));
  ASSERT_EQ(certs.size(), 1U);
  EXPECT_EQ(certs[0], c.leaf);
}

TEST_F(PkiLoad, SaysTheCertificateFileIsMissing) {
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("cert.pem")); });
  EXPECT_EQ(e.code(), pki::errc::file_missing);
  EXPECT_EQ(std::string(e.what()), "certfile '" + path("cert.pem").string() + "': file not found");
}

TEST_F(PkiLoad, SaysTheCertificateFileIsADirectory) {
  const auto e = catch_config_error([&] { (void)pki::load_certificates(dir_); });
  EXPECT_EQ(e.code(), pki::errc::is_directory);
  EXPECT_EQ(std::string(e.what()), "certfile '" + dir_.string() + "': is a directory, not a file");
}

TEST_F(PkiLoad, SaysTheCertificateFileIsUnreadable) {
  // As root, permissions do not stop a read; /proc/self/mem opens but fails to read (EIO).
  const bool root = ::geteuid() == 0;
  const std::filesystem::path file = root ? std::filesystem::path("/proc/self/mem") : path("c.pem");
  if (!root) {
    write_text(file, "x");
    std::filesystem::permissions(file, std::filesystem::perms::none);
  }
  const auto e = catch_config_error([&] { (void)pki::load_certificates(file); });
  EXPECT_EQ(e.code(), pki::errc::file_unreadable);
  EXPECT_THAT(e.what(), HasSubstr("certfile '" + file.string() + "': file cannot be read ("));
  EXPECT_THAT(e.what(), HasSubstr(root ? "Input/output error" : "Permission denied"));
}

TEST_F(PkiLoad, SaysTheCertificateFileIsEmpty) {
  write_text(path("cert.pem"), "\n  \n");
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("cert.pem")); });
  EXPECT_EQ(e.code(), pki::errc::file_empty);
  EXPECT_THAT(e.what(), HasSubstr("cert.pem': file is empty"));
}

TEST_F(PkiLoad, SaysTextWithoutPemIsNeitherPemNorDer) {
  write_text(path("cert.pem"), "hello world\n");
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("cert.pem")); });
  EXPECT_EQ(e.code(), pki::errc::not_pem_or_der);
  EXPECT_THAT(e.what(),
              HasSubstr("cert.pem': neither PEM nor DER (no '-----BEGIN CERTIFICATE-----'"));
}

TEST_F(PkiLoad, SaysAFileHoldingOnlyAKeyHasNoCertificate) {
  pki::private_key::generate(pki::key_type::ecdsa_p256).write_file(path("key.pem"));
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("key.pem")); });
  EXPECT_EQ(e.code(), pki::errc::no_certificate);
  EXPECT_EQ(std::string(e.what()), "certfile '" + path("key.pem").string() +
                                       "': no certificate found (the file holds a private key)");
}

TEST_F(PkiLoad, SaysADerKeyIsNotACertificate) {
  must_run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -outform DER -out k.der",
           dir_);
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("k.der")); });
  EXPECT_EQ(e.code(), pki::errc::no_certificate);
  EXPECT_THAT(e.what(), HasSubstr("DER private key"));
}

TEST_F(PkiLoad, SaysACsrIsNotACertificate) {
  write_text(path("r.pem"),
             pki::make_csr_pem(pki::private_key::generate(pki::key_type::ed25519), "x", {}));
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("r.pem")); });
  EXPECT_EQ(e.code(), pki::errc::no_certificate);
  EXPECT_THAT(e.what(), HasSubstr("certificate request"));
}

TEST_F(PkiLoad, SaysWhichCertificateIsCorrupt) {
  const auto c = pki::test::make_chain();
  std::string second = c.inter.pem();
  second[60] = second[60] == 'A' ? 'B' : 'A';
  second.insert(100, "#$%");
  write_text(path("chain.pem"), c.leaf.pem() + second);
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("chain.pem")); });
  EXPECT_EQ(e.code(), pki::errc::malformed);
  EXPECT_THAT(e.what(),
              HasSubstr("chain.pem': malformed data (corrupt PEM or DER) (certificate 2 of 2"));
}

TEST_F(PkiLoad, SaysATruncatedPemCertificateIsMalformed) {
  const auto c = pki::test::make_chain();
  const std::string pem = c.leaf.pem();
  write_text(path("cert.pem"), pem.substr(0, pem.size() - 30));
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("cert.pem")); });
  EXPECT_EQ(e.code(), pki::errc::malformed);
}

TEST_F(PkiLoad, SaysTruncatedDerIsMalformed) {
  const auto der = pki::test::make_chain().leaf.der();
  write_text(path("cert.der"), std::string(der.begin(), der.begin() + 100));
  const auto e = catch_config_error([&] { (void)pki::load_certificates(path("cert.der")); });
  EXPECT_EQ(e.code(), pki::errc::malformed);
  EXPECT_THAT(e.what(), HasSubstr("cert.der'"));
}

TEST(PkiParse, NamesOnlyTheOptionForInMemoryCertificates) {
  const auto e = catch_config_error([] { (void)pki::parse_certificates("junk"); });
  EXPECT_THAT(e.what(), StartsWith("cert: neither PEM nor DER"));
  const auto e2 = catch_config_error([] { (void)pki::parse_certificates("junk", "peer_cert"); });
  EXPECT_THAT(e2.what(), StartsWith("peer_cert: "));
}

TEST_F(PkiLoad, CaFilesAcceptExpiredCasButNeedACertificate) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto old = pki::certificate_builder{.common_name = "old CA",
                                            .not_before = sys_clock::now() - 48h,
                                            .not_after = sys_clock::now() - 24h,
                                            .is_ca = true}
                       .self_sign(key);
  write_text(path("ca.pem"), old.pem());
  EXPECT_EQ(pki::load_ca_certificates(path("ca.pem")).size(), 1U);
  key.write_file(path("key.pem"));
  const auto e = catch_config_error([&] { (void)pki::load_ca_certificates(path("key.pem")); });
  EXPECT_EQ(e.code(), pki::errc::no_certificate);
  EXPECT_THAT(e.what(), StartsWith("cacertfile '"));
}

// ---- chain checks ----------------------------------------------------------------------------

TEST(PkiCheckChain, AcceptsAGoodChain) {
  const auto c = pki::test::make_chain();
  EXPECT_NO_THROW(pki::check_chain({c.leaf, c.inter, c.root}, "certfile 'x'"));
  EXPECT_NO_THROW(pki::check_chain({c.leaf, c.inter}, "certfile 'x'"));
  EXPECT_NO_THROW(pki::check_chain({c.leaf}, "certfile 'x'"));
}

TEST(PkiCheckChain, SaysWhichCertificateIsOutOfOrder) {
  const auto c = pki::test::make_chain();
  const auto e = catch_config_error([&] {
    pki::check_chain({c.leaf, c.root, c.inter}, "certfile 'x'");
  });
  EXPECT_EQ(e.code(), pki::errc::chain_out_of_order);
  EXPECT_THAT(e.what(), StartsWith("certfile 'x': certificate chain out of order"));
  EXPECT_THAT(e.what(), HasSubstr("certificate 1 of 3 (CN 'leaf.example') is not signed by "
                                  "certificate 2 of 3 (CN 'Test Root')"));
  const auto e2 = catch_config_error([&] { pki::check_chain({c.inter, c.leaf}, "certfile 'x'"); });
  EXPECT_EQ(e2.code(), pki::errc::chain_out_of_order);
}

TEST(PkiCheckChain, SaysWhichCertificateHasExpiredAndWhen) {
  const auto c = pki::test::make_chain();
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto expired = pki::certificate_builder{.common_name = "expired.example",
                                                .not_before = sys_clock::from_time_t(1577836800),
                                                .not_after = sys_clock::from_time_t(1580515200)}
                           .sign(key, c.inter, c.inter_key);
  const auto e = catch_config_error([&] { pki::check_chain({expired, c.inter}, "certfile 'x'"); });
  EXPECT_EQ(e.code(), pki::errc::cert_expired);
  EXPECT_EQ(std::string(e.what()),
            "certfile 'x': certificate has expired (certificate 1 of 2 (CN 'expired.example') "
            "expired on 2020-02-01 00:00:00 UTC)");
}

TEST(PkiCheckChain, SaysWhichCertificateIsNotYetValid) {
  const auto c = pki::test::make_chain();
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto future = pki::certificate_builder{.common_name = "future.example",
                                               .not_before = sys_clock::now() + 24h}
                          .sign(key, c.inter, c.inter_key);
  const auto e = catch_config_error([&] { pki::check_chain({future, c.inter}, "certfile 'x'"); });
  EXPECT_EQ(e.code(), pki::errc::cert_not_yet_valid);
  EXPECT_THAT(e.what(), HasSubstr("certificate 1 of 2 (CN 'future.example') is valid only from "));
}

TEST(PkiCheckChain, UsesTheTimeGiven) {
  const auto c = pki::test::make_chain();
  EXPECT_EQ(catch_config_error([&] {
              pki::check_chain({c.leaf, c.inter}, "s", sys_clock::now() + std::chrono::days{400});
            }).code(),
            pki::errc::cert_expired);
  EXPECT_EQ(catch_config_error([&] {
              pki::check_chain({c.leaf, c.inter}, "s", sys_clock::now() - std::chrono::days{1});
            }).code(),
            pki::errc::cert_not_yet_valid);
}

TEST(PkiCheckChain, AnEmptyChainHasNoCertificate) {
  EXPECT_EQ(catch_config_error([] { pki::check_chain({}, "s"); }).code(),
            pki::errc::no_certificate);
}

// ---- credentials -------------------------------------------------------------------------------

TEST_F(PkiLoad, LoadsMatchingCredentials) {
  const auto c = pki::test::make_chain();
  write_server_files(c);
  const auto creds = pki::load_credentials(path("chain.pem"), path("key.pem"));
  ASSERT_EQ(creds.chain.size(), 2U);
  EXPECT_EQ(creds.chain[0], c.leaf);
  EXPECT_EQ(creds.key, c.leaf_key);
}

TEST_F(PkiLoad, RejectsAKeyThatDoesNotMatchTheCertificate) {
  const auto c = pki::test::make_chain();
  write_server_files(c);
  c.inter_key.write_file(path("key.pem"));
  const auto e =
      catch_config_error([&] { (void)pki::load_credentials(path("chain.pem"), path("key.pem")); });
  EXPECT_EQ(e.code(), pki::errc::key_mismatch);
  EXPECT_THAT(e.what(), StartsWith("keyfile '" + path("key.pem").string() +
                                   "': private key does not match the certificate"));
  EXPECT_THAT(e.what(), HasSubstr("certfile '" + path("chain.pem").string() + "'"));
}

TEST(PkiCheckKey, RejectsAKeyOfAnotherType) {
  const auto c = pki::test::make_chain();
  const auto e = catch_config_error([&] {
    pki::check_key_matches(c.leaf, pki::private_key::generate(pki::key_type::ed25519),
                           "keyfile 'k'");
  });
  EXPECT_EQ(e.code(), pki::errc::key_mismatch);
  EXPECT_THAT(e.what(), HasSubstr("certificate: ECDSA P-256, key: Ed25519"));
}

TEST_F(PkiLoad, CredentialsNameTheCertfileWhenTheChainIsOutOfOrder) {
  const auto c = pki::test::make_chain();
  write_server_files(c);
  write_text(path("chain.pem"), c.inter.pem() + c.leaf.pem());
  const auto e =
      catch_config_error([&] { (void)pki::load_credentials(path("chain.pem"), path("key.pem")); });
  EXPECT_EQ(e.code(), pki::errc::chain_out_of_order);
  EXPECT_THAT(e.what(), StartsWith("certfile '" + path("chain.pem").string() + "'"));
}

TEST_F(PkiLoad, CredentialsPassThePasswordOn) {
  const auto c = pki::test::make_chain();
  write_server_files(c);
  must_run("openssl pkey -in key.pem -aes256 -passout pass:pw -out enc.pem", dir_);
  EXPECT_EQ(pki::load_credentials(path("chain.pem"), path("enc.pem"), "pw").key, c.leaf_key);
  EXPECT_EQ(catch_config_error([&] {
              (void)pki::load_credentials(path("chain.pem"), path("enc.pem"));
            }).code(),
            pki::errc::password_required);
}

TEST_F(PkiLoad, CredentialsMadeByOpensslLoad) {
  must_run(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem "
      "-out c.pem -days 2 -subj /CN=ossl",
      dir_);
  const auto creds = pki::load_credentials(path("c.pem"), path("k.pem"));
  EXPECT_EQ(creds.chain.front().common_name(), "ossl");
}
