#pragma once
/// @file
/// Error codes of the tls part.
///
/// Three categories, so that every failure reads completely where it happens:
/// - `tls::errc` (category "moat.tls"): moat's own reasons -- configuration problems, the
///   distinct certificate-path failures (each mapped to the alert the peer receives), timeouts,
///   and every protocol failure a peer can provoke (named after the TLS alert moat sends).
/// - `tls::alert_category()` ("moat.tls.alert"): an alert *received* from the peer; the value is
///   the alert's number from RFC 8446 section 6 (e.g. 48 = unknown_ca).
/// - `tls::engine_category()` ("moat.tls.engine"): a failure reported by the TLS library that
///   has no moat reason (a local failure such as memory exhaustion); only a fallback. Its
///   reason_name() is "tls_error"; the library's own name appears only in format_error().
///
/// Codes compare equal to portable `std::errc` conditions where one fits, e.g.
/// `make_error_code(errc::recv_timeout) == std::errc::timed_out` (the table is in docs/tls.md).

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace moat::tls {

/// moat's own TLS error reasons.
enum class errc {
  // Configuration (thrown as moat::config_error at context build time).
  unsupported_version = 1,  ///< SSL 3.0 / TLS 1.0 / 1.1 requested (RFC 8996).
  unknown_version,          ///< not a TLS version name.
  unknown_cipher,           ///< cipher suite name not known.
  insecure_cipher,          ///< not a forward-secret AEAD suite.
  unknown_group,            ///< key-exchange group name not known.
  unknown_signature_algorithm,
  missing_ca,           ///< verify_peer without cacerts/cacertfile.
  missing_certificate,  ///< a server without a certificate.
  invalid_option,       ///< an option has an invalid value.
  // Certificate path validation (distinct reasons, also passed to the verify callback).
  cert_expired,
  cert_not_yet_valid,
  unknown_ca,
  invalid_signature,
  hostname_mismatch,
  invalid_key_usage,
  invalid_ext_key_usage,
  missing_basic_constraint,
  path_too_long,
  self_signed_peer,
  revoked,
  insecure_algorithm,
  bad_certificate,         ///< a path failure with no more specific reason.
  no_peer_certificate,     ///< fail_if_no_peer_cert and the peer sent none.
  rejected_by_verify_fun,  ///< the user's verify callback returned fail.
  // Handshake and connection.
  handshake_timeout,
  recv_timeout,
  connect_timeout,
  send_timeout,             ///< the peer did not take a message within the send timeout (closed).
  no_application_protocol,  ///< no ALPN protocol in common.
  unrecognized_name,        ///< SNI name with no certificate for it.
  closed,                   ///< the peer closed the connection (close_notify or EOF).
  truncated,                ///< the peer closed TCP without close_notify mid-stream.
  not_connected,            ///< operation on a socket that is not (or no longer) connected.
  frame_error,              ///< the packet decoder rejected the incoming data.
  operation_in_progress,    ///< a second recv/handshake while one is pending.
  wrong_mode,               ///< recv on an active socket, and similar.
  handler_failed,           ///< the connection's handler threw (the peer gets internal_error).
  shutting_down,            ///< the listener is draining and the grace period ran out.
  // Protocol failures a peer can provoke (mapped from the TLS library's errors), each named
  // after the alert moat sends for it.
  unexpected_message,       ///< a record or handshake message not valid at this point.
  bad_record_mac,           ///< a record failed to decrypt (bad MAC/tag).
  record_overflow,          ///< a record longer than the protocol allows.
  decode_error,             ///< a message whose fields or lengths do not parse.
  illegal_parameter,        ///< a field with a value that is not allowed (e.g. a key share).
  decrypt_error,            ///< a handshake signature or Finished that does not verify.
  unsupported_extension,    ///< an extension not allowed in this message.
  missing_extension,        ///< a mandatory extension is absent.
  no_shared_cipher,         ///< no cipher suite (or signature algorithm) in common.
  no_shared_group,          ///< no key-exchange group in common.
  insufficient_security,    ///< the peer's parameters are too weak.
  inappropriate_fallback,   ///< a downgraded retry while a higher version is supported.
  malformed_certificate,    ///< a certificate the peer sent does not parse.
  unsupported_certificate,  ///< a certificate of a type or with a critical part not known.
  handshake_failure,        ///< the peer's handshake is unacceptable (e.g. renegotiation_info).
  internal_error,           ///< the TLS library failed internally.
  sni_not_a_host_name,      ///< a client's SNI is an IPv6 address (or not a DNS name at all).
};

/// The category of tls::errc. Thread-safe.
[[nodiscard]] const std::error_category& category() noexcept;
/// The category of received TLS alerts (value = alert number). Thread-safe.
[[nodiscard]] const std::error_category& alert_category() noexcept;
/// The category of TLS library errors without a more specific moat reason. Thread-safe.
[[nodiscard]] const std::error_category& engine_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// The TLS alert (RFC 8446 section 6 number) moat sends to the peer when it fails a handshake
/// with this reason, or 0 when the reason sends none (e.g. a timeout just closes).
[[nodiscard]] std::uint8_t alert_for(errc e) noexcept;

/// The RFC name of a TLS alert number ("unknown_ca"), or "alert N".
[[nodiscard]] std::string alert_name(std::uint8_t alert);

/// Erlang-style reason atom for an error, e.g. "cert_expired", "unknown_ca",
/// "hostname_check_failed", "timeout", "closed"; "alert:<name>" for received alerts.
[[nodiscard]] std::string reason_name(std::error_code ec);

/// Human text for any error code, like Erlang's ssl:format_error/1: the message plus, for
/// verification failures, how to fix it.
[[nodiscard]] std::string format_error(std::error_code ec);

}  // namespace moat::tls

template <>
struct std::is_error_code_enum<moat::tls::errc> : std::true_type {};
