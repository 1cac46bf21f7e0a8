#pragma once
/// @file
/// The body of the PEM/DER loaders fuzz target, shared by the libFuzzer binary
/// (fuzz/pki_loaders_fuzz.cpp) and the corpus replay test (tests/pki), so the entry is
/// exercised by the normal build too.
///
/// Input: the contents of a certificate or key file (a seed is a PEM or DER certificate,
/// chain or private key). Every in-memory loader reads it: `certificate::from_der`,
/// `certificate::from_pem`, `parse_certificates` and `parse_private_key` (without a password,
/// then with the password "fuzz", which the encrypted seeds use). Checked:
/// - a loader either succeeds or throws `moat::config_error` with a `pki::errc` code and a
///   message naming the option; nothing else escapes (no other exception, no crash);
/// - what loads is usable: every accessor of a certificate answers (only `public_key_type` and
///   `public_key_der` may refuse, for a key the library does not support), and a certificate
///   or key survives its own encoding (DER and PEM) unchanged.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <moat/error.hpp>
#include <moat/pki/certificate.hpp>
#include <moat/pki/errors.hpp>
#include <moat/pki/key.hpp>
#include <moat/pki/load.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace moat::fuzz {

namespace pki_detail {

/// Throws std::logic_error (a violation) unless `c` is usable and survives its encodings.
inline void check_certificate(const moat::pki::certificate& c) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::logic_error(what);
  };
  require(!c.empty(), "a loader returned an empty certificate");
  const auto der = c.der();
  require(moat::pki::certificate::from_der(der) == c, "the certificate's DER does not reload");
  require(moat::pki::certificate::from_pem(c.pem()) == c, "the certificate's PEM does not reload");
  // Every accessor answers; the results only need to exist.
  (void)c.subject();
  (void)c.issuer();
  (void)c.common_name();
  (void)c.subject_alt_names();
  (void)c.not_before();
  (void)c.not_after();
  (void)c.serial_hex();
  (void)c.sha256_fingerprint();
  (void)c.public_key_algorithm();
  (void)c.public_key_bits();
  (void)c.signature_algorithm();
  (void)c.is_ca();
  (void)c.path_len_constraint();
  (void)c.is_self_signed();
  (void)c.summary();
  // Only these two may refuse, and only a key the library does not support.
  try {
    (void)c.public_key_type();
  } catch (const moat::config_error& e) {
    require(e.code() == moat::pki::errc::unsupported_key_type,
            "public_key_type refused with another reason than unsupported_key_type");
  }
  try {
    (void)c.public_key_der();
  } catch (const moat::config_error& e) {
    require(e.code() == moat::pki::errc::unsupported_key_type,
            "public_key_der refused with another reason than unsupported_key_type");
  }
}

/// Throws std::logic_error (a violation) unless `k` survives its encodings.
inline void check_key(const moat::pki::private_key& k) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::logic_error(what);
  };
  require(!k.empty(), "a loader returned an empty key");
  require(k.bits() > 0, "a key of 0 bits");
  const auto der = k.der();
  const std::string_view der_text(reinterpret_cast<const char*>(der.data()), der.size());
  require(moat::pki::parse_private_key(der_text) == k, "the key's DER does not reload");
  require(moat::pki::parse_private_key(k.pem()) == k, "the key's PEM does not reload");
  (void)k.public_key_der();
}

/// Runs `load` and returns what it loaded; a config_error is an expected refusal (checked:
/// a moat.pki code and a message) and yields nothing; anything else propagates.
template <class F>
auto loaded_or_refused(F&& load) -> std::optional<decltype(load())> {
  try {
    return load();
  } catch (const moat::config_error& e) {
    if (e.code().category() != moat::pki::category()) {
      throw std::logic_error("a loader refused with a code outside moat.pki: " +
                             std::string(e.what()));
    }
    if (std::string_view(e.what()).empty()) throw std::logic_error("a refusal without a message");
    return std::nullopt;
  }
}

}  // namespace pki_detail

/// Runs one input (see the file comment). Returns true when the loaders behaved; on a
/// violation returns false and, if `why` is given, describes it.
/// Thread-safety: reentrant.
[[nodiscard]] inline bool pki_loaders_check(std::span<const std::uint8_t> input,
                                            std::string* why = nullptr) {
  using namespace pki_detail;
  namespace pki = moat::pki;
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  try {
    // What loads is checked outside loaded_or_refused: a config_error from a loaded
    // certificate or key is a violation, not a refusal.
    if (auto c = loaded_or_refused([&] { return pki::certificate::from_der(input); })) {
      check_certificate(*c);
    }
    if (auto c = loaded_or_refused([&] { return pki::certificate::from_pem(text); })) {
      check_certificate(*c);
    }
    if (auto chain = loaded_or_refused([&] { return pki::parse_certificates(text, "cert"); })) {
      if (chain->empty()) throw std::logic_error("parse_certificates returned nothing");
      for (const auto& c : *chain) check_certificate(c);
    }
    if (auto k = loaded_or_refused([&] { return pki::parse_private_key(text, {}, "key"); })) {
      check_key(*k);
    }
    if (auto k = loaded_or_refused(
            [&] { return pki::parse_private_key(text, pki::key_password("fuzz"), "key"); })) {
      check_key(*k);
    }
  } catch (const std::exception& e) {
    if (why != nullptr) *why = e.what();
    return false;
  }
  return true;
}

}  // namespace moat::fuzz
