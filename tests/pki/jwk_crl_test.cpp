// Public JWKs to SubjectPublicKeyInfo and their RFC 7638 thumbprints, describing a public
// key, and CRLs (read back by openssl).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <moat/error.hpp>
#include <moat/pki/pki.hpp>
#include <sstream>

namespace pki = moat::pki;

namespace {

/// The string member `name` of a flat JSON object such as private_key::public_jwk().
std::string member(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  const auto at = json.find(key);
  if (at == std::string::npos) return {};
  const auto start = at + key.size();
  return json.substr(start, json.find('"', start) - start);
}

pki::jwk_members members_of(const pki::private_key& k) {
  const std::string j = k.public_jwk();
  return {.kty = member(j, "kty"),
          .crv = member(j, "crv"),
          .x = member(j, "x"),
          .y = member(j, "y"),
          .n = member(j, "n"),
          .e = member(j, "e")};
}

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

void expect_error(const pki::jwk_members& k, pki::errc code) {
  try {
    (void)pki::public_key_der_from_jwk(k);
    ADD_FAILURE() << "accepted kty=" << k.kty << " crv=" << k.crv;
  } catch (const moat::config_error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
  }
}

}  // namespace

TEST(PkiJwk, EveryKeyTypeRoundTripsToItsSubjectPublicKeyInfoAndThumbprint) {
  for (const auto t : {pki::key_type::ecdsa_p256, pki::key_type::ecdsa_p384, pki::key_type::ed25519,
                       pki::key_type::rsa}) {
    const auto k = pki::private_key::generate(t);
    const auto m = members_of(k);
    EXPECT_EQ(pki::public_key_der_from_jwk(m), k.public_key_der()) << pki::to_string(t);
    EXPECT_EQ(pki::canonical_jwk(m), k.public_jwk());
    EXPECT_EQ(pki::jwk_thumbprint(m), pki::base64url_encode(pki::sha256(k.public_jwk())));
    const auto d = pki::describe_public_key(k.public_key_der());
    EXPECT_TRUE(d.supported);
    EXPECT_EQ(d.type, t);
    EXPECT_EQ(d.bits, k.bits());
  }
}

TEST(PkiJwk, KeysThatAreNotUsableAreRefusedWithTheReason) {
  auto ec = members_of(pki::private_key::generate(pki::key_type::ecdsa_p256));
  auto off_curve = ec;
  auto y = *pki::base64url_decode(ec.y);
  y[31] ^= 1U;
  off_curve.y = pki::base64url_encode(y);
  expect_error(off_curve, pki::errc::malformed);
  auto short_x = ec;
  short_x.x = pki::base64url_encode(std::vector<std::uint8_t>(31, 1));
  expect_error(short_x, pki::errc::malformed);
  auto bad_b64 = ec;
  bad_b64.x = "not base64url!";
  expect_error(bad_b64, pki::errc::malformed);
  auto no_y = ec;
  no_y.y.clear();
  expect_error(no_y, pki::errc::malformed);
  auto p521 = ec;
  p521.crv = "P-521";
  expect_error(p521, pki::errc::unsupported_key_type);
  expect_error({.kty = "oct"}, pki::errc::unsupported_key_type);
  auto rsa = members_of(pki::private_key::generate(pki::key_type::rsa));
  auto small = rsa;
  small.n = pki::base64url_encode(std::vector<std::uint8_t>(128, 0xC1));
  expect_error(small, pki::errc::unsupported_key_type);
  auto even_e = rsa;
  even_e.e = pki::base64url_encode(std::vector<std::uint8_t>{1, 0, 0});
  expect_error(even_e, pki::errc::malformed);
  EXPECT_FALSE(pki::describe_public_key(std::vector<std::uint8_t>{1, 2, 3}).supported);
}

TEST(PkiCrl, OpensslReadsTheCrlItsEntriesAndVerifiesItsSignature) {
  const auto ca_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto ca =
      pki::certificate_builder{.common_name = "crl test CA", .is_ca = true}.self_sign(ca_key);
  const auto leaf_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto leaf = pki::certificate_builder{
      .common_name = "leaf",
      .extensions = {
          {.oid = "2.5.29.31",
           .der = pki::crl_distribution_point_der("http://ca.test/crl"),
           .critical =
               false}}}.sign(leaf_key, ca, ca_key);
  const auto now = std::chrono::system_clock::now();
  const auto der = pki::crl_builder{.entries = {{.serial = leaf.serial_bytes(), .revoked_at = now},
                                                {.serial = {0x01, 0x02}, .revoked_at = now}},
                                    .this_update = now,
                                    .next_update = now + std::chrono::hours(24),
                                    .number = 42}
                       .sign(ca, ca_key);
  const std::string dir = ::testing::TempDir();
  {
    std::ofstream(dir + "/crl.der", std::ios::binary)
        .write(reinterpret_cast<const char*>(der.data()), static_cast<std::streamsize>(der.size()));
    std::ofstream(dir + "/ca.pem") << ca.pem();
    std::ofstream(dir + "/leaf.pem") << leaf.pem();
  }
  const auto text = run("openssl crl -inform DER -in " + dir + "/crl.der -noout -text -CAfile " +
                        dir + "/ca.pem");
  EXPECT_NE(text.find("verify OK"), std::string::npos) << text;
  EXPECT_NE(text.find(leaf.serial_hex()), std::string::npos) << text;
  EXPECT_NE(text.find("0102"), std::string::npos) << text;
  EXPECT_NE(text.find("CRL Number"), std::string::npos) << text;
  EXPECT_NE(text.find("Authority Key Identifier"), std::string::npos) << text;
  const auto cert_text = run("openssl x509 -in " + dir + "/leaf.pem -noout -text");
  EXPECT_NE(cert_text.find("URI:http://ca.test/crl"), std::string::npos) << cert_text;
  EXPECT_THROW((void)pki::crl_builder{}.sign(ca, leaf_key), moat::config_error);
}
