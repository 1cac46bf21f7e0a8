#pragma once
// Internal header for the tls part: the GnuTLS objects behind pki handles.
// Only src/pki and src/tls may include this (it includes GnuTLS headers).

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include <moat/pki/certificate.hpp>
#include <moat/pki/key.hpp>

namespace moat::pki {

/// The GnuTLS certificate behind `c`. Borrowed: valid while any copy of `c` lives. Treat
/// as read-only (other threads may use it concurrently). Throws config_error if `c` is empty.
[[nodiscard]] gnutls_x509_crt_t native_handle(const certificate& c);

/// The GnuTLS x509 private key behind `k`. Borrowed: valid while any copy of `k` lives.
/// Read-only. Throws config_error if `k` is empty.
[[nodiscard]] gnutls_x509_privkey_t native_handle(const private_key& k);

/// The abstract GnuTLS private key behind `k` (for gnutls_privkey_sign_*). Borrowed: valid
/// while `k` lives; never pass it to a function that takes ownership (such as
/// gnutls_certificate_set_key) -- use gnutls_certificate_set_x509_key with
/// `native_handle(k)`, which copies. Throws config_error if `k` is empty.
[[nodiscard]] gnutls_privkey_t native_privkey(const private_key& k);

/// Wraps a certificate; takes ownership of `owned` (which is deinitialised at once: the
/// result holds its own parsed copy, so `native_handle` of it is another object).
[[nodiscard]] certificate certificate_from_native(gnutls_x509_crt_t owned);

}  // namespace moat::pki
