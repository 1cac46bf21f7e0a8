#include <atomic>
#include <string>

#include "pki/pki_test_util.hpp"

namespace pki = moat::pki;
using pki::test::catch_config_error;
using pki::test::must_run;
using pki::test::read_text;
using pki::test::write_text;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class PkiKey : public pki::test::temp_dir_test {};

// ---- generation ----------------------------------------------------------------------------

TEST(PkiKeyGeneration, MakesEachKeyTypeWithTheExpectedSize) {
  struct want {
    pki::key_type type;
    unsigned bits;
  };
  for (const want w : {want{pki::key_type::ecdsa_p256, 256}, want{pki::key_type::ecdsa_p384, 384},
                       want{pki::key_type::ed25519, 256}, want{pki::key_type::rsa, 2048}}) {
    const auto k = pki::private_key::generate(w.type);
    EXPECT_EQ(k.type(), w.type) << pki::to_string(w.type);
    EXPECT_EQ(k.bits(), w.bits) << pki::to_string(w.type);
    EXPECT_THAT(k.pem(), StartsWith("-----BEGIN PRIVATE KEY-----\n"));
    EXPECT_FALSE(k.public_key_der().empty());
    // The PEM parses back to the same key.
    const auto again = pki::parse_private_key(k.pem());
    EXPECT_EQ(again, k);
    EXPECT_EQ(again.type(), w.type);
  }
}

TEST(PkiKeyGeneration, MakesRsaKeysOfTheRequestedSize) {
  EXPECT_EQ(pki::private_key::generate(pki::key_type::rsa, 3072).bits(), 3072U);
}

TEST(PkiKeyGeneration, RejectsATooSmallRsaKey) {
  const auto e =
      catch_config_error([] { (void)pki::private_key::generate(pki::key_type::rsa, 1024); });
  EXPECT_EQ(e.code(), pki::errc::invalid_argument);
  EXPECT_THAT(e.what(), HasSubstr("1024"));
}

TEST(PkiKeyGeneration, TwoGeneratedKeysDiffer) {
  EXPECT_FALSE(pki::private_key::generate(pki::key_type::ed25519) ==
               pki::private_key::generate(pki::key_type::ed25519));
}

TEST(PkiKeyGeneration, KeyTypesHaveShortNames) {
  EXPECT_EQ(pki::to_string(pki::key_type::ecdsa_p256), "ecdsa-p256");
  EXPECT_EQ(pki::to_string(pki::key_type::ecdsa_p384), "ecdsa-p384");
  EXPECT_EQ(pki::to_string(pki::key_type::ed25519), "ed25519");
  EXPECT_EQ(pki::to_string(pki::key_type::rsa), "rsa");
}

TEST(PkiKeyGeneration, AnEmptyKeyThrowsInsteadOfCrashing) {
  const pki::private_key k;
  EXPECT_TRUE(k.empty());
  const auto e = catch_config_error([&] { (void)k.type(); });
  EXPECT_EQ(e.code(), pki::errc::invalid_argument);
}

// ---- writing ---------------------------------------------------------------------------------

TEST_F(PkiKey, WritesTheKeyFileWithMode0600AndNoTemporaryFileLeft) {
  const auto k = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto file = path("key.pem");
  k.write_file(file);
  EXPECT_EQ(pki::test::file_mode(file), 0600U);
  EXPECT_EQ(read_text(file), k.pem());
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1U);
  // openssl reads it too.
  must_run("openssl pkey -in key.pem -noout", dir_);
}

TEST_F(PkiKey, OverwritingAKeyFileKeepsMode0600) {
  const auto file = path("key.pem");
  write_text(file, "old");
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_all | std::filesystem::perms::others_read);
  pki::private_key::generate(pki::key_type::ed25519).write_file(file);
  EXPECT_EQ(pki::test::file_mode(file), 0600U);
}

TEST_F(PkiKey, WritingIntoAMissingDirectoryNamesTheFile) {
  const auto file = path("nope/key.pem");
  const auto e = catch_config_error(
      [&] { pki::private_key::generate(pki::key_type::ed25519).write_file(file); });
  EXPECT_EQ(e.code(), pki::errc::write_failed);
  EXPECT_THAT(e.what(), HasSubstr("keyfile '" + file.string() + "'"));
}

TEST_F(PkiKey, WritePemFileUsesMode0644ForPublicData) {
  pki::write_pem_file(path("a.pem"), "hello\n", false);
  pki::write_pem_file(path("b.pem"), "secret\n", true);
  EXPECT_EQ(pki::test::file_mode(path("a.pem")), 0644U);
  EXPECT_EQ(pki::test::file_mode(path("b.pem")), 0600U);
  EXPECT_EQ(read_text(path("a.pem")), "hello\n");
}

// ---- loading what openssl makes ------------------------------------------------------------

TEST_F(PkiKey, LoadsAPkcs8KeyMadeByOpenssl) {
  must_run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out k.pem", dir_);
  const auto k = pki::load_private_key(path("k.pem"));
  EXPECT_EQ(k.type(), pki::key_type::ecdsa_p384);
}

TEST_F(PkiKey, LoadsAPkcs1RsaKeyMadeByOpenssl) {
  must_run("openssl genrsa -traditional -out k.pem 2048", dir_);
  ASSERT_THAT(read_text(path("k.pem")), StartsWith("-----BEGIN RSA PRIVATE KEY-----"));
  const auto k = pki::load_private_key(path("k.pem"));
  EXPECT_EQ(k.type(), pki::key_type::rsa);
  EXPECT_EQ(k.bits(), 2048U);
}

TEST_F(PkiKey, LoadsASec1EcKeyMadeByOpenssl) {
  must_run("openssl ecparam -name prime256v1 -genkey -noout -out k.pem", dir_);
  ASSERT_THAT(read_text(path("k.pem")), StartsWith("-----BEGIN EC PRIVATE KEY-----"));
  EXPECT_EQ(pki::load_private_key(path("k.pem")).type(), pki::key_type::ecdsa_p256);
}

TEST_F(PkiKey, LoadsAnEd25519KeyMadeByOpenssl) {
  must_run("openssl genpkey -algorithm ed25519 -out k.pem", dir_);
  EXPECT_EQ(pki::load_private_key(path("k.pem")).type(), pki::key_type::ed25519);
}

TEST_F(PkiKey, LoadsADerKeyAndItsPublicKeyMatchesOpenssl) {
  must_run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem", dir_);
  must_run("openssl pkey -in k.pem -outform DER -out k.der", dir_);
  must_run("openssl pkey -in k.pem -pubout -outform DER -out pub.der", dir_);
  const auto k = pki::load_private_key(path("k.der"));
  EXPECT_EQ(k.type(), pki::key_type::ecdsa_p256);
  const std::string pub = read_text(path("pub.der"));
  EXPECT_EQ(k.public_key_der(), std::vector<std::uint8_t>(pub.begin(), pub.end()));
  EXPECT_EQ(k, pki::load_private_key(path("k.pem")));
}

TEST_F(PkiKey, LoadsAKeyFromAFileThatAlsoHoldsTheCertificate) {
  const auto k = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto c = pki::certificate_builder{.common_name = "both"}.self_sign(k);
  write_text(path("both.pem"), c.pem() + k.pem());
  EXPECT_EQ(pki::load_private_key(path("both.pem")), k);
  EXPECT_EQ(pki::load_certificates(path("both.pem")).size(), 1U);
}

// ---- encrypted keys --------------------------------------------------------------------------

TEST_F(PkiKey, LoadsAnEncryptedPkcs8KeyWithTheRightPassword) {
  must_run(
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 "
      "-pass pass:s3cret -out k.pem",
      dir_);
  ASSERT_THAT(read_text(path("k.pem")), StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
  EXPECT_EQ(pki::load_private_key(path("k.pem"), "s3cret").type(), pki::key_type::ecdsa_p256);
}

TEST_F(PkiKey, SaysAPasswordIsRequiredForAnEncryptedKey) {
  must_run(
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 "
      "-pass pass:s3cret -out k.pem",
      dir_);
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("k.pem")); });
  EXPECT_EQ(e.code(), pki::errc::password_required);
  EXPECT_EQ(std::string(e.what()),
            "keyfile '" + path("k.pem").string() + "': key is encrypted and no password was given");
}

TEST_F(PkiKey, SaysThePasswordIsWrongWithoutRevealingIt) {
  must_run(
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 "
      "-pass pass:s3cret -out k.pem",
      dir_);
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("k.pem"), "hunter2"); });
  EXPECT_EQ(e.code(), pki::errc::wrong_password);
  EXPECT_THAT(e.what(), HasSubstr("keyfile '" + path("k.pem").string() + "'"));
  EXPECT_THAT(e.what(), HasSubstr("wrong password"));
  EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("hunter2")));
}

TEST_F(PkiKey, CallsThePasswordCallbackOnlyForAnEncryptedKey) {
  must_run("openssl genpkey -algorithm ed25519 -aes256 -pass pass:from-callback -out enc.pem",
           dir_);
  must_run("openssl genpkey -algorithm ed25519 -out plain.pem", dir_);
  std::atomic<int> calls{0};
  const pki::key_password password(std::function<std::string()>([&calls] {
    ++calls;
    return std::string("from-callback");
  }));
  EXPECT_EQ(pki::load_private_key(path("plain.pem"), password).type(), pki::key_type::ed25519);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(pki::load_private_key(path("enc.pem"), password).type(), pki::key_type::ed25519);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(PkiKey, APasswordCallbackReturningTheWrongPasswordIsAWrongPassword) {
  must_run("openssl genpkey -algorithm ed25519 -aes256 -pass pass:right -out enc.pem", dir_);
  const pki::key_password password(std::function<std::string()>([] { return "wrong"; }));
  const auto e =
      catch_config_error([&] { (void)pki::load_private_key(path("enc.pem"), password); });
  EXPECT_EQ(e.code(), pki::errc::wrong_password);
}

TEST_F(PkiKey, LoadsAnEncryptedDerPkcs8Key) {
  must_run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem", dir_);
  must_run("openssl pkcs8 -topk8 -in k.pem -outform DER -passout pass:pw -out k.der", dir_);
  EXPECT_EQ(pki::load_private_key(path("k.der"), "pw"), pki::load_private_key(path("k.pem")));
  EXPECT_EQ(catch_config_error([&] { (void)pki::load_private_key(path("k.der")); }).code(),
            pki::errc::password_required);
  EXPECT_EQ(catch_config_error([&] { (void)pki::load_private_key(path("k.der"), "nope"); }).code(),
            pki::errc::wrong_password);
}

TEST_F(PkiKey, LoadsATraditionalOpensslEncryptedRsaKey) {
  must_run("openssl genrsa -traditional -out plain.pem 2048", dir_);
  must_run("openssl rsa -in plain.pem -traditional -aes256 -passout pass:pw -out enc.pem", dir_);
  ASSERT_THAT(read_text(path("enc.pem")), HasSubstr("Proc-Type: 4,ENCRYPTED"));
  EXPECT_EQ(pki::load_private_key(path("enc.pem"), "pw"), pki::load_private_key(path("plain.pem")));
  EXPECT_EQ(catch_config_error([&] { (void)pki::load_private_key(path("enc.pem")); }).code(),
            pki::errc::password_required);
  EXPECT_EQ(catch_config_error([&] { (void)pki::load_private_key(path("enc.pem"), "x"); }).code(),
            pki::errc::wrong_password);
}

// ---- loading errors --------------------------------------------------------------------------

TEST_F(PkiKey, SaysTheKeyFileIsMissing) {
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("missing.pem")); });
  EXPECT_EQ(e.code(), pki::errc::file_missing);
  EXPECT_EQ(std::string(e.what()),
            "keyfile '" + path("missing.pem").string() + "': file not found");
  EXPECT_EQ(e.subject(), "keyfile '" + path("missing.pem").string() + "'");
}

TEST_F(PkiKey, UsesTheOptionNameGivenInTheMessage) {
  const auto e = catch_config_error(
      [&] { (void)pki::load_private_key(path("missing.pem"), {}, "dist.keyfile"); });
  EXPECT_THAT(e.what(), StartsWith("dist.keyfile '"));
}

TEST_F(PkiKey, SaysTheKeyFileIsADirectory) {
  const auto e = catch_config_error([&] { (void)pki::load_private_key(dir_); });
  EXPECT_EQ(e.code(), pki::errc::is_directory);
  EXPECT_THAT(e.what(), HasSubstr(dir_.string()));
}

TEST_F(PkiKey, SaysTheKeyFileIsEmpty) {
  write_text(path("empty.pem"), "");
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("empty.pem")); });
  EXPECT_EQ(e.code(), pki::errc::file_empty);
  EXPECT_THAT(e.what(), HasSubstr("empty.pem': file is empty"));
}

TEST_F(PkiKey, SaysTheKeyFileIsUnreadable) {
  // As root, permissions do not stop a read; /proc/self/mem opens but fails to read (EIO).
  const bool root = ::geteuid() == 0;
  const std::filesystem::path file = root ? std::filesystem::path("/proc/self/mem") : path("k.pem");
  if (!root) {
    write_text(file, "x");
    std::filesystem::permissions(file, std::filesystem::perms::none);
  }
  const auto e = catch_config_error([&] { (void)pki::load_private_key(file); });
  EXPECT_EQ(e.code(), pki::errc::file_unreadable);
  EXPECT_THAT(e.what(), HasSubstr("keyfile '" + file.string() + "': file cannot be read ("));
  EXPECT_THAT(e.what(), HasSubstr(root ? "Input/output error" : "Permission denied"));
}

TEST_F(PkiKey, SaysAFileHoldingOnlyACertificateHasNoKey) {
  const auto k = pki::private_key::generate(pki::key_type::ecdsa_p256);
  write_text(path("cert.pem"), pki::certificate_builder{.common_name = "x"}.self_sign(k).pem());
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("cert.pem")); });
  EXPECT_EQ(e.code(), pki::errc::no_private_key);
  EXPECT_THAT(e.what(),
              HasSubstr("cert.pem': no private key found (the file holds a certificate)"));
}

TEST_F(PkiKey, SaysADerCertificateIsNotAKey) {
  const auto k = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto der = pki::certificate_builder{.common_name = "x"}.self_sign(k).der();
  write_text(path("cert.der"), std::string(der.begin(), der.end()));
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("cert.der")); });
  EXPECT_EQ(e.code(), pki::errc::no_private_key);
  EXPECT_THAT(e.what(), HasSubstr("DER certificate"));
}

TEST_F(PkiKey, SaysTextThatIsNotPemIsNeitherPemNorDer) {
  write_text(path("k.pem"), "this is not a key\n");
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("k.pem")); });
  EXPECT_EQ(e.code(), pki::errc::not_pem_or_der);
  EXPECT_THAT(e.what(), HasSubstr("k.pem': neither PEM nor DER"));
}

TEST_F(PkiKey, SaysACorruptPemKeyIsMalformed) {
  const std::string pem = pki::private_key::generate(pki::key_type::ecdsa_p256).pem();
  std::string broken = pem;
  broken.replace(40, 20, "!!!!****!!!!****!!!!");
  write_text(path("k.pem"), broken);
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("k.pem")); });
  EXPECT_EQ(e.code(), pki::errc::malformed);
  EXPECT_THAT(e.what(), HasSubstr("k.pem'"));
}

TEST_F(PkiKey, SaysATruncatedPemKeyIsMalformed) {
  const std::string pem = pki::private_key::generate(pki::key_type::ecdsa_p256).pem();
  write_text(path("k.pem"), pem.substr(0, pem.size() / 2));
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("k.pem")); });
  EXPECT_EQ(e.code(), pki::errc::malformed);
}

TEST_F(PkiKey, SaysGarbageDerIsMalformed) {
  write_text(path("k.der"), std::string("\x30\x82\x01\x00garbage", 11));
  const auto e = catch_config_error([&] { (void)pki::load_private_key(path("k.der")); });
  EXPECT_EQ(e.code(), pki::errc::malformed);
}

TEST_F(PkiKey, RejectsUnsupportedKeyTypesByName) {
  must_run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out p521.pem", dir_);
  must_run("openssl genpkey -algorithm ed448 -out ed448.pem", dir_);
  auto e = catch_config_error([&] { (void)pki::load_private_key(path("p521.pem")); });
  EXPECT_EQ(e.code(), pki::errc::unsupported_key_type);
  EXPECT_THAT(e.what(), HasSubstr("p521.pem'"));
  EXPECT_THAT(e.what(), HasSubstr("SECP521R1"));
  e = catch_config_error([&] { (void)pki::load_private_key(path("ed448.pem")); });
  EXPECT_EQ(e.code(), pki::errc::unsupported_key_type);
}

TEST(PkiKeyParse, NamesOnlyTheOptionForInMemoryData) {
  const auto e = catch_config_error([] { (void)pki::parse_private_key("nonsense"); });
  EXPECT_EQ(e.code(), pki::errc::not_pem_or_der);
  EXPECT_THAT(e.what(), StartsWith("key: neither PEM nor DER"));
  EXPECT_EQ(catch_config_error([] { (void)pki::parse_private_key(""); }).code(),
            pki::errc::file_empty);
}

TEST(PkiKeyParse, ParsesDerFromMemory) {
  const auto k = pki::private_key::generate(pki::key_type::rsa);
  const auto der = k.der();
  EXPECT_EQ(pki::parse_private_key(
                std::string_view(reinterpret_cast<const char*>(der.data()), der.size())),
            k);
}

// ---- signatures and JWK ------------------------------------------------------------------------

TEST_F(PkiKey, SignaturesVerifyWithOpenssl) {
  for (const auto type : {pki::key_type::ecdsa_p256, pki::key_type::ecdsa_p384,
                          pki::key_type::ed25519, pki::key_type::rsa}) {
    const auto k = pki::private_key::generate(type);
    const std::string msg = "signed by moat";
    const auto sig =
        k.sign(std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()));
    write_text(path("msg"), msg);
    write_text(path("sig"), std::string(sig.begin(), sig.end()));
    write_text(path("pub.pem"), pki::pem_encode("PUBLIC KEY", k.public_key_der()));
    const std::string digest = type == pki::key_type::ecdsa_p384 ? "-digest sha384"
                               : type == pki::key_type::ed25519  ? ""
                                                                 : "-digest sha256";
    must_run(
        "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin " + digest + " -in msg -sigfile sig",
        dir_);
  }
}

TEST(PkiKeyJws, JoseSignaturesHaveTheFixedSizes) {
  const std::vector<std::uint8_t> msg{1, 2, 3};
  EXPECT_EQ(pki::private_key::generate(pki::key_type::ecdsa_p256).jws_sign(msg).size(), 64U);
  EXPECT_EQ(pki::private_key::generate(pki::key_type::ecdsa_p384).jws_sign(msg).size(), 96U);
  EXPECT_EQ(pki::private_key::generate(pki::key_type::ed25519).jws_sign(msg).size(), 64U);
  EXPECT_EQ(pki::private_key::generate(pki::key_type::rsa).jws_sign(msg).size(), 256U);
}

TEST(PkiKeyJws, PublicJwksAreCanonical) {
  const auto ec = pki::private_key::generate(pki::key_type::ecdsa_p256);
  EXPECT_EQ(ec.jws_algorithm(), "ES256");
  EXPECT_THAT(
      ec.public_jwk(),
      ::testing::MatchesRegex(
          R"(\{"crv":"P-256","kty":"EC","x":"[-_A-Za-z0-9]{43}","y":"[-_A-Za-z0-9]{43}"\})"));
  const auto ed = pki::private_key::generate(pki::key_type::ed25519);
  EXPECT_EQ(ed.jws_algorithm(), "EdDSA");
  EXPECT_THAT(ed.public_jwk(), ::testing::MatchesRegex(
                                   R"(\{"crv":"Ed25519","kty":"OKP","x":"[-_A-Za-z0-9]{43}"\})"));
  const auto rsa = pki::private_key::generate(pki::key_type::rsa);
  EXPECT_EQ(rsa.jws_algorithm(), "RS256");
  EXPECT_THAT(rsa.public_jwk(), StartsWith(R"({"e":"AQAB","kty":"RSA","n":")"));
}

TEST_F(PkiKey, APasswordCanBeGivenAsAPlainLambda) {
  must_run("openssl genpkey -algorithm ed25519 -aes256 -pass pass:lambda -out enc.pem", dir_);
  const pki::key_password password{[] {
    return std::string("lambda");
  }};
  EXPECT_FALSE(password.empty());
  EXPECT_EQ(pki::load_private_key(path("enc.pem"), password).type(), pki::key_type::ed25519);
  EXPECT_TRUE(pki::key_password{}.empty());
  EXPECT_TRUE(pki::key_password{""}.empty());
}
