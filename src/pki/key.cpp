#include <gnutls/crypto.h>

#include <algorithm>
#include <array>
#include <moat/pki/encoding.hpp>
#include <moat/pki/key.hpp>

#include "pki/common.hpp"
#include "pki/native.hpp"

namespace moat::pki {

using detail::fail;
using detail::owned_datum;
using detail::reason;

std::string_view to_string(key_type t) noexcept {
  switch (t) {
    case key_type::ecdsa_p256:
      return "ecdsa-p256";
    case key_type::ecdsa_p384:
      return "ecdsa-p384";
    case key_type::ed25519:
      return "ed25519";
    case key_type::rsa:
      return "rsa";
  }
  return "unknown";
}

// ---- key_password ------------------------------------------------------------------------

bool key_password::empty() const noexcept {
  if (const auto* s = std::get_if<std::string>(&value_)) return s->empty();
  if (const auto* f = std::get_if<std::function<std::string()>>(&value_)) return !*f;
  return true;
}

std::string key_password::resolve() const {
  if (const auto* s = std::get_if<std::string>(&value_)) return *s;
  if (const auto* f = std::get_if<std::function<std::string()>>(&value_)) {
    if (*f) return (*f)();
  }
  return {};
}

// ---- private_key -------------------------------------------------------------------------

namespace detail {
const key_impl& impl_of(const private_key& k) noexcept {
  return *k.impl_;
}
}  // namespace detail

const detail::key_impl& private_key::get() const {
  if (!impl_) fail("private_key", errc::invalid_argument, "the key is empty");
  return *impl_;
}

private_key private_key::generate(key_type type, unsigned rsa_bits) {
  auto key = detail::new_x509_key();
  int rc = 0;
  switch (type) {
    case key_type::ecdsa_p256:
      rc = gnutls_x509_privkey_generate2(key.get(), GNUTLS_PK_ECDSA,
                                         GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0,
                                         nullptr, 0);
      break;
    case key_type::ecdsa_p384:
      rc = gnutls_x509_privkey_generate2(key.get(), GNUTLS_PK_ECDSA,
                                         GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0,
                                         nullptr, 0);
      break;
    case key_type::ed25519:
      rc = gnutls_x509_privkey_generate2(key.get(), GNUTLS_PK_EDDSA_ED25519,
                                         GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), 0, nullptr,
                                         0);
      break;
    case key_type::rsa:
      if (rsa_bits < 2048 || rsa_bits > 16384) {
        fail("rsa_bits", errc::invalid_argument,
             "RSA keys must have 2048 to 16384 bits, not " + std::to_string(rsa_bits));
      }
      rc = gnutls_x509_privkey_generate2(key.get(), GNUTLS_PK_RSA, rsa_bits, 0, nullptr, 0);
      break;
    default:
      fail("key_type", errc::unsupported_key_type);
  }
  if (rc < 0) {
    fail("private key (" + std::string(to_string(type)) + ")", errc::generation_failed, reason(rc));
  }
  return detail::make_key(std::move(key), "generated key");
}

key_type private_key::type() const {
  return get().type;
}
unsigned private_key::bits() const {
  return get().bits;
}
std::vector<std::uint8_t> private_key::public_key_der() const {
  return get().spki;
}

std::string private_key::pem() const {
  owned_datum out(true);
  const int rc = gnutls_x509_privkey_export2_pkcs8(get().x509.get(), GNUTLS_X509_FMT_PEM, nullptr,
                                                   GNUTLS_PKCS_PLAIN, &out);
  if (rc < 0) fail("private key", errc::generation_failed, reason(rc));
  return std::string(out.text());
}

std::vector<std::uint8_t> private_key::der() const {
  owned_datum out(true);
  const int rc = gnutls_x509_privkey_export2_pkcs8(get().x509.get(), GNUTLS_X509_FMT_DER, nullptr,
                                                   GNUTLS_PKCS_PLAIN, &out);
  if (rc < 0) fail("private key", errc::generation_failed, reason(rc));
  return out.vec();
}

void private_key::write_file(const std::filesystem::path& path) const {
  std::string text = pem();
  try {
    detail::atomic_write(path, text, 0600, detail::file_subject("keyfile", path));
  } catch (...) {
    detail::wipe(text);
    throw;
  }
  detail::wipe(text);
}

namespace {

gnutls_sign_algorithm_t sign_algorithm(key_type t) {
  switch (t) {
    case key_type::ecdsa_p256:
      return GNUTLS_SIGN_ECDSA_SHA256;
    case key_type::ecdsa_p384:
      return GNUTLS_SIGN_ECDSA_SHA384;
    case key_type::ed25519:
      return GNUTLS_SIGN_EDDSA_ED25519;
    case key_type::rsa:
      return GNUTLS_SIGN_RSA_SHA256;
  }
  return GNUTLS_SIGN_UNKNOWN;
}

// Left-pads (or strips leading zeros of) a big-endian integer to exactly `size` bytes.
std::vector<std::uint8_t> fixed_size(std::span<const std::uint8_t> v, std::size_t size) {
  while (v.size() > size && v.front() == 0) v = v.subspan(1);
  std::vector<std::uint8_t> out(size - std::min(size, v.size()), 0);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

}  // namespace

std::vector<std::uint8_t> private_key::sign(std::span<const std::uint8_t> data) const {
  const auto& k = get();
  const gnutls_datum_t in = detail::as_datum(data);
  owned_datum sig;
  const int rc = gnutls_privkey_sign_data2(k.abstract.get(), sign_algorithm(k.type), 0, &in, &sig);
  if (rc < 0) fail("private key", errc::generation_failed, "signing failed: " + reason(rc));
  return sig.vec();
}

std::string_view private_key::jws_algorithm() const {
  switch (get().type) {
    case key_type::ecdsa_p256:
      return "ES256";
    case key_type::ecdsa_p384:
      return "ES384";
    case key_type::ed25519:
      return "EdDSA";
    case key_type::rsa:
      return "RS256";
  }
  return "none";
}

std::vector<std::uint8_t> private_key::jws_sign(std::span<const std::uint8_t> data) const {
  const auto& k = get();
  std::vector<std::uint8_t> sig = sign(data);
  if (k.type != key_type::ecdsa_p256 && k.type != key_type::ecdsa_p384) return sig;
  const std::size_t n = k.type == key_type::ecdsa_p256 ? 32 : 48;
  const gnutls_datum_t der = detail::as_datum(std::span<const std::uint8_t>(sig));
  owned_datum r, s;
  const int rc = gnutls_decode_rs_value(&der, &r, &s);
  if (rc < 0) fail("private key", errc::generation_failed, "signing failed: " + reason(rc));
  std::vector<std::uint8_t> out = fixed_size(r.bytes(), n);
  const auto s_fixed = fixed_size(s.bytes(), n);
  out.insert(out.end(), s_fixed.begin(), s_fixed.end());
  return out;
}

bool verify_jws_signature(std::span<const std::uint8_t> public_key_der, std::string_view alg,
                          std::span<const std::uint8_t> data,
                          std::span<const std::uint8_t> signature) {
  auto pub = detail::new_pubkey();
  const gnutls_datum_t spki = detail::as_datum(public_key_der);
  if (gnutls_pubkey_import(pub.get(), &spki, GNUTLS_X509_FMT_DER) < 0) return false;
  const detail::pubkey_info info = detail::describe(pub.get());
  if (!info.supported) return false;
  gnutls_sign_algorithm_t algo = GNUTLS_SIGN_UNKNOWN;
  std::size_t rs_size = 0;  // ECDSA: the size of r and of s
  if (alg == "ES256" && info.type == key_type::ecdsa_p256) {
    algo = GNUTLS_SIGN_ECDSA_SHA256;
    rs_size = 32;
  } else if (alg == "ES384" && info.type == key_type::ecdsa_p384) {
    algo = GNUTLS_SIGN_ECDSA_SHA384;
    rs_size = 48;
  } else if (alg == "EdDSA" && info.type == key_type::ed25519) {
    algo = GNUTLS_SIGN_EDDSA_ED25519;
  } else if (alg == "RS256" && info.type == key_type::rsa && info.bits >= 2048) {
    algo = GNUTLS_SIGN_RSA_SHA256;
  } else {
    return false;
  }
  const gnutls_datum_t msg = detail::as_datum(data);
  if (rs_size == 0) {
    const gnutls_datum_t sig = detail::as_datum(signature);
    return gnutls_pubkey_verify_data2(pub.get(), algo, 0, &msg, &sig) >= 0;
  }
  if (signature.size() != 2 * rs_size) return false;
  const gnutls_datum_t r = detail::as_datum(signature.first(rs_size));
  const gnutls_datum_t s_part = detail::as_datum(signature.subspan(rs_size));
  owned_datum der;
  if (gnutls_encode_rs_value(&der, &r, &s_part) < 0) return false;
  const gnutls_datum_t sig = detail::as_datum(der.bytes());
  return gnutls_pubkey_verify_data2(pub.get(), algo, 0, &msg, &sig) >= 0;
}

std::string private_key::public_jwk() const {
  const auto& k = get();
  switch (k.type) {
    case key_type::rsa: {
      owned_datum n, e;
      const int rc = gnutls_pubkey_export_rsa_raw2(k.pub.get(), &n, &e, GNUTLS_EXPORT_FLAG_NO_LZ);
      if (rc < 0) fail("private key", errc::generation_failed, reason(rc));
      return R"({"e":")" + base64url_encode(e.bytes()) + R"(","kty":"RSA","n":")" +
             base64url_encode(n.bytes()) + R"("})";
    }
    case key_type::ed25519: {
      gnutls_ecc_curve_t curve{};
      owned_datum x;
      const int rc = gnutls_pubkey_export_ecc_raw2(k.pub.get(), &curve, &x, nullptr, 0);
      if (rc < 0) fail("private key", errc::generation_failed, reason(rc));
      return R"({"crv":"Ed25519","kty":"OKP","x":")" + base64url_encode(x.bytes()) + R"("})";
    }
    case key_type::ecdsa_p256:
    case key_type::ecdsa_p384: {
      gnutls_ecc_curve_t curve{};
      owned_datum x, y;
      const int rc = gnutls_pubkey_export_ecc_raw2(k.pub.get(), &curve, &x, &y, 0);
      if (rc < 0) fail("private key", errc::generation_failed, reason(rc));
      const bool p256 = k.type == key_type::ecdsa_p256;
      const std::size_t size = p256 ? 32 : 48;
      return std::string(R"({"crv":")") + (p256 ? "P-256" : "P-384") + R"(","kty":"EC","x":")" +
             base64url_encode(fixed_size(x.bytes(), size)) + R"(","y":")" +
             base64url_encode(fixed_size(y.bytes(), size)) + R"("})";
    }
  }
  return {};
}

bool operator==(const private_key& a, const private_key& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  return a.get().spki == b.get().spki;
}

gnutls_x509_privkey_t native_handle(const private_key& k) {
  if (k.empty()) fail("private_key", errc::invalid_argument, "the key is empty");
  return detail::impl_of(k).x509.get();
}

gnutls_privkey_t native_privkey(const private_key& k) {
  if (k.empty()) fail("private_key", errc::invalid_argument, "the key is empty");
  return detail::impl_of(k).abstract.get();
}

// ---- loading -----------------------------------------------------------------------------

namespace {

bool is_key_label(std::string_view label) {
  return label.size() >= 11 && label.substr(label.size() - 11) == "PRIVATE KEY";
}

bool is_decoding_error(int rc) {
  return rc == GNUTLS_E_ASN1_DER_ERROR || rc == GNUTLS_E_ASN1_TAG_ERROR ||
         rc == GNUTLS_E_ASN1_VALUE_NOT_FOUND || rc == GNUTLS_E_ASN1_ELEMENT_NOT_FOUND ||
         rc == GNUTLS_E_ASN1_GENERIC_ERROR || rc == GNUTLS_E_ASN1_DER_OVERFLOW ||
         rc == GNUTLS_E_ASN1_TYPE_ANY_ERROR || rc == GNUTLS_E_ASN1_SYNTAX_ERROR ||
         rc == GNUTLS_E_ASN1_VALUE_NOT_VALID || rc == GNUTLS_E_ASN1_TAG_IMPLICIT ||
         rc == GNUTLS_E_BASE64_DECODING_ERROR || rc == GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR ||
         rc == GNUTLS_E_PARSING_ERROR || rc == GNUTLS_E_INVALID_REQUEST ||
         rc == GNUTLS_E_UNEXPECTED_PACKET_LENGTH;
}

bool is_unsupported(int rc) {
  return rc == GNUTLS_E_UNKNOWN_PK_ALGORITHM || rc == GNUTLS_E_ECC_UNSUPPORTED_CURVE ||
         rc == GNUTLS_E_UNIMPLEMENTED_FEATURE || rc == GNUTLS_E_UNKNOWN_CIPHER_TYPE ||
         rc == GNUTLS_E_UNKNOWN_ALGORITHM;
}

// Imports with the given password (nullptr: none); returns the GnuTLS code.
int try_import(detail::x509_key_ptr& key, std::string_view data, gnutls_x509_crt_fmt_t fmt,
               const char* password) {
  key = detail::new_x509_key();
  const gnutls_datum_t d = detail::as_datum(data);
  return gnutls_x509_privkey_import2(key.get(), &d, fmt, password,
                                     password == nullptr ? GNUTLS_PKCS_PLAIN : 0);
}

bool is_der_certificate(std::string_view data) {
  auto crt = detail::new_crt();
  const gnutls_datum_t d = detail::as_datum(data);
  return gnutls_x509_crt_import(crt.get(), &d, GNUTLS_X509_FMT_DER) >= 0;
}

private_key parse_key(std::string_view data, const key_password& password, std::string_view subject,
                      std::string_view what) {
  if (detail::is_blank(data)) fail(subject, errc::file_empty);
  gnutls_x509_crt_fmt_t fmt = GNUTLS_X509_FMT_DER;
  bool encrypted = false;
  bool known_plain = false;
  std::string_view input = data;
  if (data.find("-----BEGIN ") != std::string_view::npos) {
    fmt = GNUTLS_X509_FMT_PEM;
    const auto blocks = detail::pem_blocks(data);
    const detail::pem_block* found = nullptr;
    for (const auto& b : blocks) {
      if (is_key_label(b.label)) {
        found = &b;
        break;
      }
    }
    if (found == nullptr) {
      fail(subject, errc::no_private_key, detail::describe_pem_contents(blocks, what));
    }
    if (!found->complete) {
      fail(subject, errc::malformed, "no '-----END " + found->label + "-----' line");
    }
    if (found->label == "OPENSSH PRIVATE KEY") {
      fail(subject, errc::unsupported_key_type,
           "OpenSSH key format; convert it with 'ssh-keygen -p -m PKCS8 -f FILE'");
    }
    input = found->text;
    encrypted = found->label == "ENCRYPTED PRIVATE KEY" ||
                found->text.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
    known_plain = !encrypted;
  } else if (static_cast<unsigned char>(data.front()) != 0x30) {
    fail(subject, errc::not_pem_or_der,
         "no '-----BEGIN PRIVATE KEY-----' line and not DER-encoded either");
  }

  detail::x509_key_ptr key;
  int rc = GNUTLS_E_DECRYPTION_FAILED;
  if (!encrypted) {
    rc = try_import(key, input, fmt, nullptr);
    if (rc >= 0) return detail::make_key(std::move(key), subject);
    if (is_unsupported(rc)) fail(subject, errc::unsupported_key_type, reason(rc));
  }
  const bool maybe_encrypted =
      encrypted || (!known_plain && fmt == GNUTLS_X509_FMT_DER &&
                    (rc == GNUTLS_E_DECRYPTION_FAILED || is_decoding_error(rc)));
  if (maybe_encrypted) {
    if (password.empty()) {
      if (encrypted || rc == GNUTLS_E_DECRYPTION_FAILED) fail(subject, errc::password_required);
    } else {
      std::string secret = password.resolve();
      if (secret.empty()) {
        if (encrypted || rc == GNUTLS_E_DECRYPTION_FAILED) fail(subject, errc::password_required);
      } else {
        const int rc2 = try_import(key, input, fmt, secret.c_str());
        detail::wipe(secret);
        if (rc2 >= 0) return detail::make_key(std::move(key), subject);
        if (is_unsupported(rc2)) fail(subject, errc::unsupported_key_type, reason(rc2));
        if (encrypted || rc2 == GNUTLS_E_DECRYPTION_FAILED) {
          // A wrong password usually fails the padding check (DECRYPTION_FAILED) but can
          // also yield garbage that does not decode.
          if (rc2 == GNUTLS_E_DECRYPTION_FAILED || is_decoding_error(rc2)) {
            fail(subject, errc::wrong_password);
          }
          fail(subject, errc::malformed, reason(rc2));
        }
        rc = rc2;
      }
    }
  }
  if (fmt == GNUTLS_X509_FMT_DER) {
    if (is_der_certificate(data)) {
      fail(subject, errc::no_private_key,
           "the " + std::string(what) + " holds a DER certificate, not a key");
    }
    fail(subject, errc::malformed, "not a DER private key: " + reason(rc));
  }
  fail(subject, errc::malformed, reason(rc));
}

}  // namespace

private_key parse_private_key(std::string_view pem_or_der, const key_password& password,
                              std::string_view option) {
  return parse_key(pem_or_der, password, option, "data");
}

private_key load_private_key(const std::filesystem::path& path, const key_password& password,
                             std::string_view option) {
  const std::string subject = detail::file_subject(option, path);
  std::string data = detail::read_file(path, subject);
  try {
    private_key k = parse_key(data, password, subject, "file");
    detail::wipe(data);
    return k;
  } catch (...) {
    detail::wipe(data);
    throw;
  }
}

}  // namespace moat::pki
