#pragma once
// Internal helpers for talking to GnuTLS.

#include <gnutls/gnutls.h>

#include <moat/tls/errors.hpp>
#include <stdexcept>
#include <system_error>

namespace moat::tls::detail {

/// A GnuTLS error code as a std::error_code: a received alert (alert_category(), needs the
/// session), else a moat reason (tls::errc) for every failure a peer can provoke, else --
/// only for local failures such as memory exhaustion -- the code itself in engine_category().
/// `transport_eof`: the transport has reached end of stream, so a record cut short is
/// errc::truncated rather than errc::decode_error.
[[nodiscard]] std::error_code make_gnutls_error(int rc, gnutls_session_t session = nullptr,
                                                bool transport_eof = false) noexcept;

/// The error for an alert received from the peer: its number in alert_category(), except
/// close_notify (number 0, which as an error_code would read as success): errc::closed.
[[nodiscard]] std::error_code received_alert_error(int alert) noexcept;

/// Throws std::system_error for an unexpected GnuTLS failure (allocation and the like).
inline void check_gnutls(int rc) {
  if (rc < 0) throw std::system_error(make_gnutls_error(rc));
}

}  // namespace moat::tls::detail
