// Public JSON Web Keys (RFC 7517/7518/8037) to DER SubjectPublicKeyInfo, RFC 7638 thumbprints,
// and describing a DER public key -- what an ACME server needs to check a JWS.
#include <moat/pki/digest.hpp>
#include <moat/pki/encoding.hpp>
#include <moat/pki/key.hpp>

#include "pki/common.hpp"

namespace moat::pki {

using detail::fail;
using detail::owned_datum;

namespace {

constexpr std::string_view subject = "jwk";

std::vector<std::uint8_t> member(std::string_view name, const std::string& value) {
  if (value.empty())
    fail(subject, errc::malformed, "member '" + std::string(name) + "' is missing");
  auto bytes = base64url_decode(value);
  if (!bytes) {
    fail(subject, errc::malformed, "member '" + std::string(name) + "' is not base64url");
  }
  return std::move(*bytes);
}

std::vector<std::uint8_t> export_der(gnutls_pubkey_t pub) {
  owned_datum der;
  const int rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
  if (rc < 0) fail(subject, errc::malformed, detail::reason(rc));
  return der.vec();
}

}  // namespace

std::vector<std::uint8_t> public_key_der_from_jwk(const jwk_members& jwk) {
  auto pub = detail::new_pubkey();
  if (jwk.kty == "EC") {
    std::size_t size = 0;
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    if (jwk.crv == "P-256") {
      size = 32;
      curve = GNUTLS_ECC_CURVE_SECP256R1;
    } else if (jwk.crv == "P-384") {
      size = 48;
      curve = GNUTLS_ECC_CURVE_SECP384R1;
    } else {
      fail(subject, errc::unsupported_key_type, "EC curve '" + jwk.crv + "' is not supported");
    }
    const auto x = member("x", jwk.x);
    const auto y = member("y", jwk.y);
    if (x.size() != size || y.size() != size) {
      fail(subject, errc::malformed, "EC coordinates of the wrong length for " + jwk.crv);
    }
    const gnutls_datum_t dx = detail::as_datum(x);
    const gnutls_datum_t dy = detail::as_datum(y);
    int rc = gnutls_pubkey_import_ecc_raw(pub.get(), curve, &dx, &dy);
    if (rc >= 0) rc = gnutls_pubkey_verify_params(pub.get());
    if (rc < 0) fail(subject, errc::malformed, "not a point on " + jwk.crv);
    return export_der(pub.get());
  }
  if (jwk.kty == "OKP") {
    if (jwk.crv != "Ed25519") {
      fail(subject, errc::unsupported_key_type, "OKP curve '" + jwk.crv + "' is not supported");
    }
    const auto x = member("x", jwk.x);
    if (x.size() != 32) fail(subject, errc::malformed, "an Ed25519 key has 32 bytes");
    const gnutls_datum_t dx = detail::as_datum(x);
    if (gnutls_pubkey_import_ecc_raw(pub.get(), GNUTLS_ECC_CURVE_ED25519, &dx, nullptr) < 0) {
      fail(subject, errc::malformed, "not an Ed25519 key");
    }
    return export_der(pub.get());
  }
  if (jwk.kty == "RSA") {
    const auto n = member("n", jwk.n);
    const auto e = member("e", jwk.e);
    std::size_t lead = 0;
    while (lead < n.size() && n[lead] == 0) ++lead;
    const std::size_t bits = (n.size() - lead) * 8;
    if (bits < 2048) {
      fail(subject, errc::unsupported_key_type, "RSA keys need at least 2048 bits");
    }
    if (bits > 16384) fail(subject, errc::unsupported_key_type, "RSA key larger than 16384 bits");
    if (e.empty() || e.size() > 8 || (e.back() & 1U) == 0 || (e.size() == 1 && e[0] < 3)) {
      fail(subject, errc::malformed, "RSA public exponent is not an odd number >= 3");
    }
    const gnutls_datum_t dn = detail::as_datum(n);
    const gnutls_datum_t de = detail::as_datum(e);
    if (gnutls_pubkey_import_rsa_raw(pub.get(), &dn, &de) < 0) {
      fail(subject, errc::malformed, "not an RSA key");
    }
    return export_der(pub.get());
  }
  fail(subject, errc::unsupported_key_type, "key type '" + jwk.kty + "' is not supported");
}

std::string canonical_jwk(const jwk_members& jwk) {
  (void)public_key_der_from_jwk(jwk);  // the members are known to be base64url now
  if (jwk.kty == "EC") {
    return R"({"crv":")" + jwk.crv + R"(","kty":"EC","x":")" + jwk.x + R"(","y":")" + jwk.y +
           R"("})";
  }
  if (jwk.kty == "OKP") return R"({"crv":")" + jwk.crv + R"(","kty":"OKP","x":")" + jwk.x + R"("})";
  return R"({"e":")" + jwk.e + R"(","kty":"RSA","n":")" + jwk.n + R"("})";
}

std::string jwk_thumbprint(const jwk_members& jwk) {
  return base64url_encode(sha256(canonical_jwk(jwk)));
}

public_key_description describe_public_key(std::span<const std::uint8_t> public_key_der) {
  public_key_description out;
  try {
    auto pub = detail::new_pubkey();
    const gnutls_datum_t d = detail::as_datum(public_key_der);
    if (gnutls_pubkey_import(pub.get(), &d, GNUTLS_X509_FMT_DER) < 0) {
      out.name = "not a public key";
      return out;
    }
    const auto info = detail::describe(pub.get());
    out.supported = info.supported;
    out.type = info.type;
    out.bits = info.bits;
    out.name = info.name;
  } catch (const std::exception&) {
    out.supported = false;
    out.name = "not a public key";
  }
  return out;
}

}  // namespace moat::pki
