#pragma once
/// @file
/// Private keys: generation, loading (PEM/DER, encrypted or not), export, signatures.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <moat/pki/errors.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace moat::pki {

/// The key types moat generates and accepts.
enum class key_type {
  ecdsa_p256,  ///< ECDSA on NIST P-256 (the default: fast handshakes, small certificates)
  ecdsa_p384,  ///< ECDSA on NIST P-384
  ed25519,     ///< EdDSA on Curve25519 (TLS 1.3 only on most peers)
  rsa,         ///< RSA (PKCS#1 v1.5 / PSS signatures), any size from 2048 bits
};

/// A short lower-case name: "ecdsa-p256", "ecdsa-p384", "ed25519", "rsa".
/// Thread-safety: pure function.
[[nodiscard]] std::string_view to_string(key_type t) noexcept;

/// The password of an encrypted private key: none (the default), a string, or a callback
/// that returns it (Erlang's `{password, fun() -> ... end}`). The callback is called only
/// when the key turns out to be encrypted, at most once per load, on the loading thread.
///
/// The password never appears in messages or logs; there is no way to print this type.
/// Thread-safety: copying is safe; the callback must be safe to call from the thread that
/// loads the key.
class key_password {
 public:
  /// No password.
  key_password() = default;
  /// A fixed password. An empty string means "no password".
  key_password(std::string password) : value_(std::move(password)) {}  // NOLINT: implicit
  /// A fixed password. An empty string means "no password".
  key_password(const char* password) : value_(std::string(password)) {}  // NOLINT: implicit
  /// A callback returning the password; called only if the key is encrypted.
  key_password(std::function<std::string()> callback)  // NOLINT: implicit
      : value_(std::move(callback)) {}

  /// True if neither a non-empty password nor a callback was given.
  [[nodiscard]] bool empty() const noexcept;
  /// The password: the string, or the callback's result (called now). Empty if none.
  [[nodiscard]] std::string resolve() const;

 private:
  std::variant<std::monostate, std::string, std::function<std::string()>> value_;
};

class private_key;
namespace detail {
struct key_impl;
const key_impl& impl_of(const private_key& k) noexcept;
}  // namespace detail

/// A private key (ECDSA P-256/P-384, Ed25519 or RSA).
///
/// Ownership: a cheap, copyable handle to an immutable key shared by all copies (the key
/// material is wiped when the last copy goes). A default-constructed `private_key` is empty;
/// every member except `empty()` throws `config_error` (`invalid_argument`) on an empty key.
/// Thread-safety: all members are const and may be called concurrently on shared keys.
class private_key {
 public:
  /// An empty key (no key material); see `empty()`.
  private_key() = default;
  /// Internal: wraps an implementation object (use `generate` or the loaders instead).
  explicit private_key(std::shared_ptr<const detail::key_impl> impl) noexcept
      : impl_(std::move(impl)) {}

  /// Generates a fresh key. `rsa_bits` is used only for `key_type::rsa` (2048..16384).
  /// Throws `config_error` (`invalid_argument` for a bad size, `generation_failed`).
  [[nodiscard]] static private_key generate(key_type type, unsigned rsa_bits = 2048);

  /// True if this handle holds no key.
  [[nodiscard]] bool empty() const noexcept { return !impl_; }
  /// The key's type.
  [[nodiscard]] key_type type() const;
  /// The key size in bits (RSA modulus size; 256 / 384 for ECDSA; 256 for Ed25519).
  [[nodiscard]] unsigned bits() const;
  /// The key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). This is secret
  /// material: do not log it.
  [[nodiscard]] std::string pem() const;
  /// The key as unencrypted PKCS#8 DER. Secret material.
  [[nodiscard]] std::vector<std::uint8_t> der() const;
  /// Writes `pem()` to `path` with mode 0600, atomically (temporary file in the same
  /// directory, fsync, rename). Throws `config_error` (`write_failed`) naming the file.
  void write_file(const std::filesystem::path& path) const;
  /// The public key as a DER SubjectPublicKeyInfo.
  [[nodiscard]] std::vector<std::uint8_t> public_key_der() const;

  /// Signs `data` with the algorithm of `jws_algorithm()`: ECDSA with SHA-256 (P-256) or
  /// SHA-384 (P-384) as a DER ECDSA-Sig-Value, RSA PKCS#1 v1.5 with SHA-256, or pure Ed25519.
  [[nodiscard]] std::vector<std::uint8_t> sign(std::span<const std::uint8_t> data) const;
  /// The JWS algorithm for this key (RFC 7518/8037): "ES256", "ES384", "EdDSA" or "RS256".
  [[nodiscard]] std::string_view jws_algorithm() const;
  /// Signs `data` for a JWS (RFC 7515): like `sign()`, but an ECDSA signature is the fixed
  /// size big-endian `r || s` that JWS requires instead of DER.
  [[nodiscard]] std::vector<std::uint8_t> jws_sign(std::span<const std::uint8_t> data) const;
  /// The public key as a JWK in the canonical form of RFC 7638 (required members only,
  /// sorted, no whitespace), so that its SHA-256 is the JWK thumbprint.
  [[nodiscard]] std::string public_jwk() const;

  /// True if both handles hold the same key (compares the public keys).
  friend bool operator==(const private_key& a, const private_key& b);

 private:
  friend const detail::key_impl& detail::impl_of(const private_key& k) noexcept;
  const detail::key_impl& get() const;
  std::shared_ptr<const detail::key_impl> impl_;
};

/// Verifies a JWS signature (RFC 7515/7518/8037) over `data` by the public key
/// `public_key_der` (a DER SubjectPublicKeyInfo). `alg` is "ES256" (P-256), "ES384" (P-384),
/// "EdDSA" (Ed25519) or "RS256" (RSA of at least 2048 bits); an ECDSA `signature` is the JWS
/// form `r || s`. False for a wrong signature, an algorithm that does not fit the key, an
/// algorithm not listed, or a key that does not parse -- never an exception.
/// Thread-safety: reentrant.
[[nodiscard]] bool verify_jws_signature(std::span<const std::uint8_t> public_key_der,
                                        std::string_view alg, std::span<const std::uint8_t> data,
                                        std::span<const std::uint8_t> signature);

/// The members of a public JSON Web Key (RFC 7517/7518/8037) as they were sent, base64url
/// strings unchanged: EC ("kty":"EC", "crv" P-256 or P-384, "x", "y"), OKP ("crv" Ed25519,
/// "x") or RSA ("n", "e"). Members a key type does not use stay empty.
struct jwk_members {
  std::string kty{};
  std::string crv{};
  std::string x{};
  std::string y{};
  std::string n{};
  std::string e{};
};

/// The DER SubjectPublicKeyInfo of a public JWK: EC P-256 / P-384 (points checked to lie on
/// the curve), Ed25519, RSA of 2048 bits or more (a public exponent of at least 3, odd).
/// Throws `config_error` (subject "jwk"): `unsupported_key_type` for another kty/crv or a
/// smaller RSA key, `malformed` for a member that is missing, not base64url, of the wrong
/// length or not a valid key. Thread-safety: reentrant.
[[nodiscard]] std::vector<std::uint8_t> public_key_der_from_jwk(const jwk_members& jwk);

/// The JWK in the canonical form of RFC 7638 (required members only, sorted, no
/// whitespace), as `private_key::public_jwk()` makes it; its SHA-256 is the thumbprint.
/// Throws like `public_key_der_from_jwk` (the key is checked first).
[[nodiscard]] std::string canonical_jwk(const jwk_members& jwk);

/// The RFC 7638 thumbprint of a JWK: base64url(SHA-256(canonical_jwk(jwk))).
[[nodiscard]] std::string jwk_thumbprint(const jwk_members& jwk);

/// The type and size of a DER SubjectPublicKeyInfo (e.g. a CSR's key).
struct public_key_description {
  bool supported = false;  ///< one of the key types moat handles
  key_type type = key_type::ecdsa_p256;
  unsigned bits = 0;
  std::string name{};  ///< "ECDSA P-256", "RSA 2048", "ECDSA secp521r1", ...
};
/// Describes `public_key_der`; `supported` is false for a key that does not parse or of
/// another type. Never throws. Thread-safety: reentrant.
[[nodiscard]] public_key_description describe_public_key(
    std::span<const std::uint8_t> public_key_der);

/// Loads a private key from a file: PEM (PKCS#8, encrypted PKCS#8, PKCS#1 "RSA PRIVATE
/// KEY", SEC1 "EC PRIVATE KEY", OpenSSL-encrypted traditional PEM) or DER.
///
/// Throws `config_error` whose subject is `<option> '<path>'` and whose code is one of:
/// file_missing, file_unreadable, is_directory, file_empty, not_pem_or_der, no_private_key
/// (e.g. the file holds a certificate), password_required, wrong_password,
/// unsupported_key_type, malformed.
/// Thread-safety: reentrant.
[[nodiscard]] private_key load_private_key(const std::filesystem::path& path,
                                           const key_password& password = {},
                                           std::string_view option = "keyfile");

/// Parses a private key held in memory (PEM or DER); as `load_private_key`, but the error's
/// subject is just `option`.
[[nodiscard]] private_key parse_private_key(std::string_view pem_or_der,
                                            const key_password& password = {},
                                            std::string_view option = "key");

}  // namespace moat::pki
