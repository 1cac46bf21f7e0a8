#pragma once
// Internal helpers for talking to GnuTLS.

#include <gnutls/gnutls.h>

#include <moat/tls/errors.hpp>
#include <stdexcept>
#include <system_error>

namespace moat::tls::detail {

/// A GnuTLS error code as a std::error_code, mapped to a specific moat reason where one
/// exists (a received alert, a timeout, ...), else in engine_category().
[[nodiscard]] std::error_code make_gnutls_error(int rc, gnutls_session_t session = nullptr);

/// Throws std::system_error for an unexpected GnuTLS failure (allocation and the like).
inline void check_gnutls(int rc) {
  if (rc < 0) throw std::system_error(make_gnutls_error(rc));
}

}  // namespace moat::tls::detail
