#include <gtest/gtest.h>

#include <moat/error.hpp>
#include <moat/pki/pki.hpp>
#include <string>
#include <vector>

namespace pki = moat::pki;

namespace {

std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

std::string hex(std::span<const std::uint8_t> b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const auto x : b) {
    out += digits[x >> 4];
    out += digits[x & 15];
  }
  return out;
}

}  // namespace

TEST(PkiEncoding, Base64urlMatchesTheTestVectorsOfRfc4648WithoutPadding) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(pki::base64url_encode(plain), encoded);
    EXPECT_EQ(pki::base64url_decode(encoded), bytes(plain)) << encoded;
  }
  // The two characters that differ from base64.
  const std::vector<std::uint8_t> high = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(pki::base64url_encode(high), "-_-_");
  EXPECT_EQ(pki::base64url_decode("-_-_"), high);
}

TEST(PkiEncoding, Base64urlDecodingRefusesEverythingButTheOneCanonicalForm) {
  for (const std::string_view bad :
       {"Zg==", "Zm9v+A", "Zm9v/A", "Zm 9v", "Z", "Zm9vY", "Zh", "Zm9", "Zm\n9v"}) {
    EXPECT_EQ(pki::base64url_decode(bad), std::nullopt) << bad;
  }
}

TEST(PkiDigest, Sha256AndHmacSha256MatchTheirPublishedTestVectors) {
  EXPECT_EQ(hex(pki::sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231, test case 2.
  EXPECT_EQ(hex(pki::hmac_sha256(bytes("Jefe"), bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(PkiDigest, ConstantTimeEqualComparesContentAndLength) {
  EXPECT_TRUE(pki::constant_time_equal(bytes("token"), bytes("token")));
  EXPECT_FALSE(pki::constant_time_equal(bytes("token"), bytes("tokeN")));
  EXPECT_FALSE(pki::constant_time_equal(bytes("token"), bytes("token2")));
}

TEST(PkiDigest, RandomBytesHaveTheSizeAskedForAndDiffer) {
  EXPECT_TRUE(pki::random_bytes(0).empty());
  const auto a = pki::random_bytes(32);
  const auto b = pki::random_bytes(32);
  EXPECT_EQ(a.size(), 32U);
  EXPECT_NE(a, b);
}

TEST(PkiCertificateIdentity, AnExtraExtensionIsWrittenAsGivenAndReadBack) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto digest = pki::sha256("token.thumbprint");
  std::vector<std::uint8_t> value = {0x04, 0x20};
  value.insert(value.end(), digest.begin(), digest.end());
  const auto cert =
      pki::certificate_builder{
          .subject_alt_names = {"DNS:example.test"},
          .extensions = {{.oid = "1.3.6.1.5.5.7.1.31", .der = value, .critical = true}}}
          .self_sign(key);
  const auto ext = cert.extension("1.3.6.1.5.5.7.1.31");
  ASSERT_TRUE(ext.has_value());
  EXPECT_EQ(ext->der, value);
  EXPECT_TRUE(ext->critical);
  EXPECT_FALSE(cert.extension("1.2.3.4").has_value());
  // A round trip through DER keeps it.
  EXPECT_EQ(pki::certificate::from_der(cert.der()).extension("1.3.6.1.5.5.7.1.31")->der, value);
}

TEST(PkiCertificateIdentity, AnExtensionThatHasItsOwnBuilderFieldIsRefused) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  try {
    (void)pki::certificate_builder{.common_name = "x",
                                   .extensions = {{.oid = "2.5.29.17", .der = {0x30, 0x00}}}}
        .self_sign(key);
    FAIL() << "no exception";
  } catch (const moat::config_error& e) {
    EXPECT_EQ(e.code(), pki::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("2.5.29.17"), std::string::npos) << e.what();
  }
}

TEST(PkiCertificateIdentity, SerialBytesKeepTheLeadingZeroAndTheAuthorityKeyIdNamesTheIssuer) {
  const auto ca_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto ca = pki::certificate_builder{.common_name = "CA", .is_ca = true}.self_sign(ca_key);
  const auto leaf_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto leaf =
      pki::certificate_builder{.common_name = "leaf", .serial = {0x00, 0x87, 0x65}}.sign(
          leaf_key, ca, ca_key);
  EXPECT_EQ(leaf.serial_bytes(), (std::vector<std::uint8_t>{0x00, 0x87, 0x65}));
  EXPECT_EQ(leaf.serial_hex(), "8765");
  const auto other = pki::certificate_builder{.common_name = "other"}.sign(leaf_key, ca, ca_key);
  EXPECT_FALSE(leaf.authority_key_id().empty());
  EXPECT_EQ(leaf.authority_key_id(), other.authority_key_id());
  EXPECT_EQ(leaf.authority_key_id(), ca.authority_key_id());  // self-signed: its own key id
  const auto no_ids =
      pki::certificate_builder{.common_name = "bare", .include_key_identifiers = false}.self_sign(
          leaf_key);
  EXPECT_TRUE(no_ids.authority_key_id().empty());
}

TEST(PkiJwsVerification, EachKeyTypesJwsSignatureVerifiesAndNothingElseDoes) {
  const std::vector<std::uint8_t> data = bytes("eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ");
  const std::pair<pki::key_type, std::string_view> kinds[] = {{pki::key_type::ecdsa_p256, "ES256"},
                                                              {pki::key_type::ecdsa_p384, "ES384"},
                                                              {pki::key_type::ed25519, "EdDSA"},
                                                              {pki::key_type::rsa, "RS256"}};
  for (const auto& [type, alg] : kinds) {
    const auto key = pki::private_key::generate(type);
    EXPECT_EQ(key.jws_algorithm(), alg);
    const auto sig = key.jws_sign(data);
    const auto spki = key.public_key_der();
    EXPECT_TRUE(pki::verify_jws_signature(spki, alg, data, sig)) << alg;
    auto tampered = data;
    tampered.back() ^= 1U;
    EXPECT_FALSE(pki::verify_jws_signature(spki, alg, tampered, sig)) << alg;
    auto bad_sig = sig;
    bad_sig[bad_sig.size() / 2] ^= 1U;
    EXPECT_FALSE(pki::verify_jws_signature(spki, alg, data, bad_sig)) << alg;
    // The wrong algorithm for the key, "none", and a key that does not parse.
    EXPECT_FALSE(pki::verify_jws_signature(spki, alg == "ES256" ? "ES384" : "ES256", data, sig));
    EXPECT_FALSE(pki::verify_jws_signature(spki, "none", data, {}));
    EXPECT_FALSE(pki::verify_jws_signature(bytes("not a key"), alg, data, sig));
  }
}
