#pragma once
// Internal helpers of the pki part: RAII for GnuTLS objects, error helpers, file I/O.
// Not a public header; may include GnuTLS.

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <moat/error.hpp>
#include <moat/pki/certificate.hpp>
#include <moat/pki/errors.hpp>
#include <moat/pki/key.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::pki::detail {

// ---- RAII ------------------------------------------------------------------------------

struct crt_deleter {
  void operator()(gnutls_x509_crt_t p) const noexcept { gnutls_x509_crt_deinit(p); }
};
struct x509_key_deleter {
  void operator()(gnutls_x509_privkey_t p) const noexcept { gnutls_x509_privkey_deinit(p); }
};
struct privkey_deleter {
  void operator()(gnutls_privkey_t p) const noexcept { gnutls_privkey_deinit(p); }
};
struct pubkey_deleter {
  void operator()(gnutls_pubkey_t p) const noexcept { gnutls_pubkey_deinit(p); }
};
struct crq_deleter {
  void operator()(gnutls_x509_crq_t p) const noexcept { gnutls_x509_crq_deinit(p); }
};
using crt_ptr = std::unique_ptr<std::remove_pointer_t<gnutls_x509_crt_t>, crt_deleter>;
using x509_key_ptr =
    std::unique_ptr<std::remove_pointer_t<gnutls_x509_privkey_t>, x509_key_deleter>;
using privkey_ptr = std::unique_ptr<std::remove_pointer_t<gnutls_privkey_t>, privkey_deleter>;
using pubkey_ptr = std::unique_ptr<std::remove_pointer_t<gnutls_pubkey_t>, pubkey_deleter>;
using crq_ptr = std::unique_ptr<std::remove_pointer_t<gnutls_x509_crq_t>, crq_deleter>;

crt_ptr new_crt();
x509_key_ptr new_x509_key();
privkey_ptr new_privkey();
pubkey_ptr new_pubkey();
crq_ptr new_crq();

/// A gnutls_datum_t whose data GnuTLS allocated; freed (and wiped if `secret`) on scope exit.
class owned_datum {
 public:
  explicit owned_datum(bool secret = false) noexcept : secret_(secret) {}
  owned_datum(const owned_datum&) = delete;
  owned_datum& operator=(const owned_datum&) = delete;
  ~owned_datum();
  gnutls_datum_t* operator&() noexcept { return &d_; }  // NOLINT: deliberate
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return {d_.data, d_.size}; }
  [[nodiscard]] std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(d_.data), d_.size};
  }
  [[nodiscard]] std::vector<std::uint8_t> vec() const { return {d_.data, d_.data + d_.size}; }

 private:
  gnutls_datum_t d_{nullptr, 0};
  bool secret_;
};

/// A non-owning datum over `s` (GnuTLS takes non-const pointers but does not write).
gnutls_datum_t as_datum(std::string_view s) noexcept;
gnutls_datum_t as_datum(std::span<const std::uint8_t> s) noexcept;

// ---- implementation objects ---------------------------------------------------------------

struct key_impl {
  x509_key_ptr x509;
  privkey_ptr abstract;  // wraps x509 (not a copy)
  pubkey_ptr pub;
  key_type type = key_type::ecdsa_p256;
  unsigned bits = 0;
  std::vector<std::uint8_t> spki;
};

struct cert_impl {
  crt_ptr crt;
  std::vector<std::uint8_t> der;
};

/// Wraps an owned x509 private key; throws config_error(subject, unsupported_key_type) for
/// key types moat does not handle.
private_key make_key(x509_key_ptr key, std::string_view subject);
/// Wraps an owned certificate (caches its DER).
certificate make_certificate(crt_ptr crt);

// ---- errors ------------------------------------------------------------------------------

/// Throws moat::config_error{subject, code, detail}.
[[noreturn]] void fail(std::string_view subject, errc code, const std::string& detail = {});
/// GnuTLS's description of a negative return code.
std::string reason(int gnutls_rc);
/// `option '<path>'`
std::string file_subject(std::string_view option, const std::filesystem::path& path);

// ---- files -------------------------------------------------------------------------------

/// Reads a whole file; throws config_error(subject, file_missing / file_unreadable /
/// is_directory). Does not check emptiness.
std::string read_file(const std::filesystem::path& path, std::string_view subject);
/// Atomic write (temp in same dir, fsync, rename, fsync dir) with `mode`; throws
/// config_error(subject, write_failed).
void atomic_write(const std::filesystem::path& path, std::string_view contents, unsigned mode,
                  std::string_view subject);
/// Overwrites a string's bytes before it is freed.
void wipe(std::string& s) noexcept;

// ---- PEM ---------------------------------------------------------------------------------

struct pem_block {
  std::string label;      // e.g. "CERTIFICATE"
  std::string_view text;  // from "-----BEGIN" to the end of the END line's dashes
  bool complete = false;  // false if no matching END line was found
};
/// The PEM blocks in `data`, in order.
std::vector<pem_block> pem_blocks(std::string_view data);
/// "the <what> holds a private key" / "... a certificate request" / "... only PEM blocks X, Y"
std::string describe_pem_contents(const std::vector<pem_block>& blocks, std::string_view what);
/// True if `data` is empty or whitespace only.
bool is_blank(std::string_view data) noexcept;

// ---- misc --------------------------------------------------------------------------------

/// SAN entry parsed into a GnuTLS SAN type and raw value.
struct san_entry {
  gnutls_x509_subject_alt_name_t type;
  std::string value;  // raw bytes for IP addresses
};
/// Parses "DNS:...", "IP:...", "URI:...", "email:..."; throws config_error(invalid_san).
san_entry parse_san(std::string_view entry);
/// Formats a SAN returned by GnuTLS as "DNS:x" etc.
std::string format_san(unsigned type, std::string_view value);

/// Key type and size of a public key; false if unsupported (then `name` still describes it).
struct pubkey_info {
  bool supported = false;
  key_type type = key_type::ecdsa_p256;
  unsigned bits = 0;
  std::string name;
};
pubkey_info describe(gnutls_pubkey_t pub);

/// The digest used to sign with a key of this type.
gnutls_digest_algorithm_t sign_digest(key_type t);

/// Upper-case hex, optionally with ':' between bytes.
std::string to_hex(std::span<const std::uint8_t> bytes, bool colons);

}  // namespace moat::pki::detail
