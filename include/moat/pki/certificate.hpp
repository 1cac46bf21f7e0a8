#pragma once
/// @file
/// X.509 certificates: an immutable handle with the accessors servers, clients and the CLI
/// need.

#include <chrono>
#include <cstdint>
#include <memory>
#include <moat/pki/key.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::pki {

class certificate;
namespace detail {
struct cert_impl;
const cert_impl& impl_of(const certificate& c) noexcept;
}  // namespace detail

/// An X.509 certificate.
///
/// Ownership: a cheap, copyable handle to an immutable certificate shared by all copies.
/// A default-constructed `certificate` is empty; every member except `empty()` throws
/// `config_error` (`invalid_argument`) on an empty certificate.
/// Thread-safety: all members are const and may be called concurrently on shared handles.
class certificate {
 public:
  /// An empty certificate; see `empty()`.
  certificate() = default;
  /// Internal: wraps an implementation object (use `from_der`, the loaders or
  /// `certificate_builder` instead).
  explicit certificate(std::shared_ptr<const detail::cert_impl> impl) noexcept
      : impl_(std::move(impl)) {}

  /// Parses one DER-encoded certificate. Throws `config_error` (`malformed`, subject
  /// "certificate") if `der` is not a certificate.
  [[nodiscard]] static certificate from_der(std::span<const std::uint8_t> der);
  /// Parses exactly one PEM certificate (the first one in `pem`). Throws `config_error`
  /// with subject "certificate" (`no_certificate`, `malformed`).
  [[nodiscard]] static certificate from_pem(std::string_view pem);

  /// True if this handle holds no certificate.
  [[nodiscard]] bool empty() const noexcept { return !impl_; }
  /// The DER encoding.
  [[nodiscard]] std::vector<std::uint8_t> der() const;
  /// The PEM encoding ("-----BEGIN CERTIFICATE-----", ending in a newline).
  [[nodiscard]] std::string pem() const;
  /// The subject distinguished name as an RFC 4514 string, e.g. "CN=example.com,O=Example".
  [[nodiscard]] std::string subject() const;
  /// The issuer distinguished name as an RFC 4514 string.
  [[nodiscard]] std::string issuer() const;
  /// The (first) common name of the subject; empty if there is none.
  [[nodiscard]] std::string common_name() const;
  /// The subject alternative names, in order, as "DNS:name", "IP:1.2.3.4", "IP:::1",
  /// "URI:...", "email:..." (other kinds as "othername", "dirname:<DN>", "RID:<oid>").
  [[nodiscard]] std::vector<std::string> subject_alt_names() const;
  /// Start of the validity period (notBefore).
  [[nodiscard]] std::chrono::system_clock::time_point not_before() const;
  /// End of the validity period (notAfter); `time_point::max()` for "no well-defined
  /// expiration" (99991231235959Z) and for dates `system_clock` cannot represent
  /// (after 2262 with libstdc++).
  [[nodiscard]] std::chrono::system_clock::time_point not_after() const;
  /// The serial number as upper-case hex without separators (like `openssl x509 -serial`).
  [[nodiscard]] std::string serial_hex() const;
  /// The serial number's content octets as encoded (big-endian two's complement, with the
  /// leading zero octet a positive number may need), as ACME Renewal Information's
  /// certificate ID uses them (RFC 9773 section 4.1).
  [[nodiscard]] std::vector<std::uint8_t> serial_bytes() const;
  /// The keyIdentifier of the authorityKeyIdentifier extension; empty when there is none.
  [[nodiscard]] std::vector<std::uint8_t> authority_key_id() const;
  /// The value (the DER inside extnValue's OCTET STRING) of the extension with `oid`
  /// (dotted form, e.g. "1.3.6.1.5.5.7.1.31"), and whether it is critical; nullopt when the
  /// certificate has no such extension.
  struct extension_value {
    std::vector<std::uint8_t> der;
    bool critical = false;
  };
  [[nodiscard]] std::optional<extension_value> extension(std::string_view oid) const;
  /// SHA-256 of the DER, upper-case hex bytes separated by colons ("AB:CD:...").
  [[nodiscard]] std::string sha256_fingerprint() const;
  /// The type of the subject public key. Throws `config_error` (`unsupported_key_type`)
  /// for other keys (e.g. ECDSA P-521, DSA); see `public_key_algorithm()` for a name that
  /// never throws.
  [[nodiscard]] key_type public_key_type() const;
  /// A human name of the subject public key's algorithm, e.g. "ECDSA P-256", "RSA 2048", or
  /// "unknown (OID 1.2.3.4)" for an algorithm the TLS library does not know.
  [[nodiscard]] std::string public_key_algorithm() const;
  /// The size of the subject public key in bits (0 for an algorithm the library does not
  /// know).
  [[nodiscard]] unsigned public_key_bits() const;
  /// The subject public key as a DER SubjectPublicKeyInfo. Throws `config_error`
  /// (`unsupported_key_type`) for an algorithm the library does not know.
  [[nodiscard]] std::vector<std::uint8_t> public_key_der() const;
  /// The name of the signature algorithm, e.g. "ECDSA-SHA256".
  [[nodiscard]] std::string signature_algorithm() const;
  /// True if basicConstraints says cA=TRUE.
  [[nodiscard]] bool is_ca() const;
  /// The basicConstraints pathLenConstraint, or -1 if absent (or not a CA).
  [[nodiscard]] int path_len_constraint() const;
  /// True if the certificate's issuer is its own subject and it is signed by its own key.
  [[nodiscard]] bool is_self_signed() const;
  /// True if `issuer`'s subject is this certificate's issuer name and `issuer`'s key
  /// verifies this certificate's signature. Does not look at validity dates or CA flags.
  [[nodiscard]] bool is_issued_by(const certificate& issuer) const;
  /// True if `now` lies within [not_before, not_after].
  [[nodiscard]] bool is_valid_at(std::chrono::system_clock::time_point now) const;
  /// A multi-line human summary (subject, issuer, serial, validity, key, SANs, CA,
  /// fingerprint), each line ending in '\n'; used by `moat cert show`.
  [[nodiscard]] std::string summary() const;

  /// True if both hold the same certificate (same DER).
  friend bool operator==(const certificate& a, const certificate& b);

 private:
  friend const detail::cert_impl& detail::impl_of(const certificate& c) noexcept;
  const detail::cert_impl& get() const;
  std::shared_ptr<const detail::cert_impl> impl_;
};

/// Formats a time point as "YYYY-MM-DD HH:MM:SS UTC" (the form used in pki messages).
/// Thread-safety: reentrant.
[[nodiscard]] std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace moat::pki
