#pragma once
/// @file
/// The error codes of moat's `pki` part (keys, certificates, CSRs, PEM/DER files).
///
/// Configuration problems are thrown as `moat::config_error` carrying one of these codes;
/// the error's subject names the option and the file, e.g. `certfile '/x/cert.pem'`.

#include <string>
#include <system_error>
#include <type_traits>

namespace moat::pki {

/// Why a pki operation failed. Every value has a distinct message (see `category()`).
enum class errc {
  file_missing = 1,      ///< the file does not exist
  file_unreadable,       ///< the file exists but cannot be read (permissions, I/O error)
  is_directory,          ///< a directory was given where a file was expected
  file_empty,            ///< the file (or the in-memory data) is empty
  not_pem_or_der,        ///< the data is neither PEM nor DER
  no_certificate,        ///< no certificate found in the data
  no_private_key,        ///< no private key found in the data
  key_mismatch,          ///< the private key does not belong to the certificate
  password_required,     ///< the key is encrypted and no password was given
  wrong_password,        ///< the key could not be decrypted with the password given
  cert_expired,          ///< a certificate's notAfter is in the past
  cert_not_yet_valid,    ///< a certificate's notBefore is in the future
  chain_out_of_order,    ///< certificate N of a chain is not signed by certificate N+1
  unsupported_key_type,  ///< the key is not ECDSA P-256/P-384, Ed25519 or RSA
  invalid_san,           ///< a subject alternative name could not be understood
  invalid_argument,      ///< an argument is out of range or inconsistent
  generation_failed,     ///< generating a key, certificate or CSR failed
  write_failed,          ///< writing a file failed
  malformed,             ///< corrupt DER or PEM (bad base64, truncated structure)
  not_issued_by_ca,      ///< the chain does not lead to any of the trusted CA certificates
};

/// The `std::error_category` of `errc` (name "moat.pki").
/// Thread-safety: a singleton with static storage; safe to use from any thread.
[[nodiscard]] const std::error_category& category() noexcept;

/// Makes a `std::error_code` in `pki::category()`; found by ADL so that
/// `std::error_code ec = errc::file_missing;` works.
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace moat::pki

template <>
struct std::is_error_code_enum<moat::pki::errc> : std::true_type {};
