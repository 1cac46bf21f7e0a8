#pragma once
/// @file
/// Making certificates (self-signed or signed by an issuer) and certificate signing
/// requests. Flexible on purpose: tests build odd certificates with it (expired, not yet
/// valid, CA without basicConstraints, wrong key usage...).

#include <chrono>
#include <cstdint>
#include <moat/pki/certificate.hpp>
#include <moat/pki/key.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::pki {

/// X.509 keyUsage bits (combine with `|`).
enum class key_usage_flags : unsigned {
  none = 0,  ///< as a value of `certificate_builder::key_usage`: omit the extension
  digital_signature = 1U << 0,
  content_commitment = 1U << 1,
  key_encipherment = 1U << 2,
  data_encipherment = 1U << 3,
  key_agreement = 1U << 4,
  key_cert_sign = 1U << 5,
  crl_sign = 1U << 6,
};
/// Union of two sets of key usages.
[[nodiscard]] constexpr key_usage_flags operator|(key_usage_flags a, key_usage_flags b) noexcept {
  return static_cast<key_usage_flags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
/// Intersection of two sets of key usages.
[[nodiscard]] constexpr key_usage_flags operator&(key_usage_flags a, key_usage_flags b) noexcept {
  return static_cast<key_usage_flags>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}

/// X.509 extendedKeyUsage purposes (combine with `|`).
enum class ext_key_usage_flags : unsigned {
  none = 0,  ///< as a value of `certificate_builder::ext_key_usage`: omit the extension
  server_auth = 1U << 0,
  client_auth = 1U << 1,
  code_signing = 1U << 2,
  email_protection = 1U << 3,
  ocsp_signing = 1U << 4,
};
/// Union of two sets of purposes.
[[nodiscard]] constexpr ext_key_usage_flags operator|(ext_key_usage_flags a,
                                                      ext_key_usage_flags b) noexcept {
  return static_cast<ext_key_usage_flags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
/// Intersection of two sets of purposes.
[[nodiscard]] constexpr ext_key_usage_flags operator&(ext_key_usage_flags a,
                                                      ext_key_usage_flags b) noexcept {
  return static_cast<ext_key_usage_flags>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}

/// An extension given as it is encoded: its OID in dotted form and the DER of its value
/// (what goes inside extnValue's OCTET STRING). E.g. RFC 8737's acmeIdentifier:
/// `{.oid = "1.3.6.1.5.5.7.1.31", .der = {0x04, 0x20, <SHA-256 of the key authorization>},
///   .critical = true}`.
struct x509_extension {
  std::string oid;
  std::vector<std::uint8_t> der;
  bool critical = false;
};

/// What to put in a certificate. Fill in the fields (aggregate, so designated initialisers
/// work), then call `self_sign` or `sign`. Every field has a sensible default.
///
/// Example: `certificate_builder{.common_name = "localhost",
///                               .subject_alt_names = {"DNS:localhost", "IP:127.0.0.1"}}
///               .self_sign(key)`
/// Thread-safety: a plain value; `self_sign`/`sign` are const and reentrant.
struct certificate_builder {
  /// Subject CN. May be empty if `subject_alt_names` is not.
  std::string common_name{};
  /// Subject O (omitted if empty).
  std::string organisation{};
  /// "DNS:name" (wildcard "*.example.com" allowed), "IP:1.2.3.4", "IP:::1",
  /// "URI:https://...", "email:a@b". An entry that is not one of these throws
  /// `config_error` (`invalid_san`, subject `subject_alt_names '<entry>'`).
  std::vector<std::string> subject_alt_names{};
  /// Start of validity; default: now minus 5 minutes (tolerates clock skew).
  std::optional<std::chrono::system_clock::time_point> not_before{};
  /// End of validity; default: `not_before + validity`. `time_point::max()` encodes
  /// "no well-defined expiration" (99991231235959Z).
  std::optional<std::chrono::system_clock::time_point> not_after{};
  /// Length of validity when `not_after` is not given.
  std::chrono::seconds validity = std::chrono::days{365};
  /// Serial number bytes (big-endian, positive, at most 20 bytes); default: 16 random bytes.
  std::vector<std::uint8_t> serial{};
  /// basicConstraints cA flag.
  bool is_ca = false;
  /// basicConstraints pathLenConstraint (only meaningful for a CA).
  std::optional<unsigned> path_len_constraint{};
  /// Whether to include the basicConstraints extension at all (tests need a CA without it).
  bool include_basic_constraints = true;
  /// keyUsage; default: CA = keyCertSign|cRLSign|digitalSignature, leaf = digitalSignature
  /// (+ keyEncipherment for RSA keys). `key_usage_flags::none` omits the extension.
  std::optional<key_usage_flags> key_usage{};
  /// extendedKeyUsage; default: leaf = serverAuth|clientAuth, CA = none (omitted).
  std::optional<ext_key_usage_flags> ext_key_usage{};
  /// Whether to include subjectKeyIdentifier / authorityKeyIdentifier.
  bool include_key_identifiers = true;
  /// Further extensions, added as given (an OID moat also sets, such as keyUsage, throws
  /// `config_error` `invalid_argument`: use the field for it).
  std::vector<x509_extension> extensions{};

  /// Makes a self-signed certificate for `key` (issuer = subject). Throws `config_error`
  /// (`invalid_san`, `invalid_argument`, `generation_failed`).
  [[nodiscard]] certificate self_sign(const private_key& key) const;
  /// Makes a certificate for `subject_key`'s public key, signed by `issuer_key`, with
  /// `issuer`'s subject as issuer name. Throws as `self_sign`, and `key_mismatch` if
  /// `issuer_key` is not the key of `issuer`.
  [[nodiscard]] certificate sign(const private_key& subject_key, const certificate& issuer,
                                 const private_key& issuer_key) const;
  /// As above, for a public key given as a DER SubjectPublicKeyInfo (e.g. from a CSR).
  [[nodiscard]] certificate sign(std::span<const std::uint8_t> subject_public_key_der,
                                 const certificate& issuer, const private_key& issuer_key) const;
};

/// One revoked certificate of a CRL.
struct crl_entry {
  std::vector<std::uint8_t> serial{};  ///< the serial's content octets (certificate::serial_bytes)
  std::chrono::system_clock::time_point revoked_at{};
};

/// What to put in a certificate revocation list (RFC 5280 section 5): version 2, signed by
/// the issuer, with an authorityKeyIdentifier and a cRLNumber.
struct crl_builder {
  std::vector<crl_entry> entries{};
  std::chrono::system_clock::time_point this_update{};
  std::chrono::system_clock::time_point next_update{};
  std::uint64_t number = 1;  ///< cRLNumber: grows with every new CRL of the issuer
  /// The DER CRL signed by `issuer_key`, the key of `issuer`. Throws `config_error`
  /// (`key_mismatch`, `invalid_argument` for a bad serial, `generation_failed`).
  [[nodiscard]] std::vector<std::uint8_t> sign(const certificate& issuer,
                                               const private_key& issuer_key) const;
};

/// The DER value of a cRLDistributionPoints extension (OID 2.5.29.31) with one
/// distribution point, the URI `url` -- for `certificate_builder::extensions`.
[[nodiscard]] std::vector<std::uint8_t> crl_distribution_point_der(std::string_view url);

/// Makes a PKCS#10 certificate signing request for `key`, with subject CN `common_name`
/// (omitted if empty) and a subjectAltName extension with `sans` (same syntax as
/// `certificate_builder::subject_alt_names`; omitted if empty). DER encoding.
/// Throws `config_error` (`invalid_san`, `invalid_argument`, `generation_failed`).
/// Thread-safety: reentrant.
[[nodiscard]] std::vector<std::uint8_t> make_csr_der(const private_key& key,
                                                     std::string_view common_name,
                                                     const std::vector<std::string>& sans);
/// As `make_csr_der`, PEM encoded ("-----BEGIN CERTIFICATE REQUEST-----").
[[nodiscard]] std::string make_csr_pem(const private_key& key, std::string_view common_name,
                                       const std::vector<std::string>& sans);

/// What a CSR asks for (as parsed by `parse_csr`; the signature is verified).
struct csr_info {
  std::string common_name{};                     ///< subject CN, empty if none
  std::vector<std::string> subject_alt_names{};  ///< as in `certificate::subject_alt_names`
  std::vector<std::uint8_t> public_key_der;      ///< SubjectPublicKeyInfo
};

/// Parses a PEM or DER PKCS#10 request and verifies its self-signature. Throws
/// `config_error` (subject `option`): file_empty, not_pem_or_der, malformed.
[[nodiscard]] csr_info parse_csr(std::string_view pem_or_der, std::string_view option = "csr");

}  // namespace moat::pki
