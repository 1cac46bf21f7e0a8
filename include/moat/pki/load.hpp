#pragma once
/// @file
/// Loading certificates and credentials from files or memory, with loud validation, and
/// writing PEM files atomically.
///
/// Every problem is thrown as `moat::config_error` whose subject names the option and the
/// file (`certfile '/x/cert.pem'`), or just the option for in-memory data, and whose code
/// is a `pki::errc`. All functions are reentrant (thread-safe on distinct arguments).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <moat/pki/certificate.hpp>
#include <moat/pki/key.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::pki {

/// Parses every certificate in `pem_or_der`, in order: all "CERTIFICATE" blocks of a PEM
/// text (other blocks are ignored), or one DER certificate.
/// Throws `config_error` (subject `option`): file_empty, not_pem_or_der, no_certificate
/// (e.g. "the data holds a private key"), malformed.
[[nodiscard]] std::vector<certificate> parse_certificates(std::string_view pem_or_der,
                                                          std::string_view option = "cert");

/// Reads `path` and parses it like `parse_certificates`; the error subject is
/// `<option> '<path>'`. Additional codes: file_missing, file_unreadable, is_directory.
[[nodiscard]] std::vector<certificate> load_certificates(const std::filesystem::path& path,
                                                         std::string_view option = "certfile");

/// Loads trusted CA certificates (`cacertfile`): like `load_certificates`; expired CAs
/// are accepted here (a peer's chain is what gets checked against the clock).
[[nodiscard]] std::vector<certificate> load_ca_certificates(const std::filesystem::path& path,
                                                            std::string_view option = "cacertfile");

/// Checks a chain a server is about to present (leaf first, then each issuer):
/// no_certificate if it is empty; cert_expired / cert_not_yet_valid naming the certificate
/// (position, CN and date) if one is outside its validity at `now`; chain_out_of_order if
/// certificate i (1-based) is not issued by certificate i+1. `subject` is used as the
/// error subject (e.g. "certfile '/x/cert.pem'").
void check_chain(const std::vector<certificate>& chain, std::string_view subject,
                 std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Throws `config_error` (`key_mismatch`, subject `subject`) unless `key` is the private
/// key of `leaf` (compares the public keys).
void check_key_matches(const certificate& leaf, const private_key& key, std::string_view subject);

/// A certificate chain (leaf first) and the leaf's private key.
/// Thread-safety: a plain value; the handles inside are immutable.
struct credentials {
  std::vector<certificate> chain;  ///< leaf first, then each issuer (not the root, usually)
  private_key key;                 ///< the leaf's private key
};

/// Loads `certfile` and `keyfile` and runs `check_chain` (subject `certfile '<path>'`) and
/// `check_key_matches` (subject `keyfile '<path>'`).
[[nodiscard]] credentials load_credentials(
    const std::filesystem::path& certfile, const std::filesystem::path& keyfile,
    const key_password& password = {},
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Writes `contents` to `path` atomically (temporary file in the same directory, fsync,
/// rename, fsync of the directory) with mode 0600 if `secret`, else 0644. Throws
/// `config_error` (`write_failed`) whose subject is `<option> '<path>'` (or `file '<path>'`
/// if `option` is empty), with the system's reason.
void write_pem_file(const std::filesystem::path& path, std::string_view contents, bool secret,
                    std::string_view option = {});

/// Encodes one PEM block: "-----BEGIN <label>-----", base64 lines of 64, "-----END ...".
[[nodiscard]] std::string pem_encode(std::string_view label, std::span<const std::uint8_t> der);

}  // namespace moat::pki
