// The tls error categories and their messages.
#include <fmt/format.h>
#include <gnutls/gnutls.h>

#include <array>
#include <moat/tls/errors.hpp>

#include "tls/gnutls_util.hpp"

namespace moat::tls {
namespace {

struct errc_info {
  const char* reason;                 // Erlang-style atom
  const char* message;                // human text
  std::uint8_t alert;                 // alert sent to the peer (0 = none)
  std::errc condition = std::errc{};  // portable condition (std::errc{} = none)
};

// The portable conditions (docs/tls.md, "Errors"): a condition is given only where the errno
// meaning fits. Configuration mistakes are invalid_argument; timeouts timed_out; the peer
// breaking the protocol is protocol_error; nothing in common with the peer is not_supported.
// A normal close (closed), a close without close_notify (truncated) and the certificate
// reasons have none: no errno says "closed cleanly" or "untrusted certificate".
errc_info info(errc e) {
  constexpr auto einval = std::errc::invalid_argument;
  constexpr auto eproto = std::errc::protocol_error;
  switch (e) {
    case errc::unsupported_version:
      return {"unsupported_version", "protocol version not supported", 70,
              std::errc::not_supported};
    case errc::unknown_version:
      return {"unknown_version", "unknown TLS version", 0, einval};
    case errc::unknown_cipher:
      return {"unknown_cipher", "unknown cipher suite", 0, einval};
    case errc::insecure_cipher:
      return {"insecure_cipher", "cipher suite is not a forward-secret AEAD suite", 0, einval};
    case errc::unknown_group:
      return {"unknown_group", "unknown key-exchange group", 0, einval};
    case errc::unknown_signature_algorithm:
      return {"unknown_signature_algorithm", "unknown signature algorithm", 0, einval};
    case errc::missing_ca:
      return {"missing_ca", "peer verification is on but no CA certificates are configured", 0,
              einval};
    case errc::missing_certificate:
      return {"missing_certificate", "no certificate and key configured", 0, einval};
    case errc::invalid_option:
      return {"invalid_option", "invalid option value", 0, einval};
    case errc::cert_expired:
      return {"cert_expired", "certificate has expired", 45};
    case errc::cert_not_yet_valid:
      return {"cert_not_yet_valid", "certificate is not yet valid", 45};
    case errc::unknown_ca:
      return {"unknown_ca", "certificate is not signed by a trusted CA", 48};
    case errc::invalid_signature:
      return {"invalid_signature", "certificate signature is invalid", 42};
    case errc::hostname_mismatch:
      return {"hostname_check_failed", "certificate does not match the host name", 42};
    case errc::invalid_key_usage:
      return {"invalid_key_usage", "certificate key usage does not allow this use", 43};
    case errc::invalid_ext_key_usage:
      return {"invalid_ext_key_usage",
              "certificate extended key usage does not allow this role (server/client auth)", 43};
    case errc::missing_basic_constraint:
      return {"missing_basic_constraint",
              "issuer certificate is not a CA (basicConstraints missing or CA:FALSE)", 42};
    case errc::path_too_long:
      return {"max_path_length_reached", "certificate chain is longer than the allowed depth", 48};
    case errc::self_signed_peer:
      return {"selfsigned_peer", "peer certificate is self-signed and not trusted", 42};
    case errc::revoked:
      return {"certificate_revoked", "certificate has been revoked", 44};
    case errc::insecure_algorithm:
      return {"insecure_algorithm", "certificate is signed with an insecure algorithm", 42};
    case errc::bad_certificate:
      return {"bad_certificate", "certificate verification failed", 42};
    case errc::no_peer_certificate:
      return {"no_peer_certificate", "peer sent no certificate but one is required", 116};
    case errc::rejected_by_verify_fun:
      return {"rejected_by_verify_fun", "the verify callback rejected the certificate", 42};
    case errc::handshake_timeout:
      return {"timeout", "handshake did not complete within the timeout", 0, std::errc::timed_out};
    case errc::recv_timeout:
      return {"timeout", "no data arrived within the timeout", 0, std::errc::timed_out};
    case errc::connect_timeout:
      return {"timeout", "connection was not established within the timeout", 0,
              std::errc::timed_out};
    case errc::send_timeout:
      return {"send_timeout", "the peer did not take the data within the send timeout", 0,
              std::errc::timed_out};
    case errc::no_application_protocol:
      return {"no_application_protocol", "no ALPN protocol in common with the peer", 120,
              std::errc::not_supported};
    case errc::unrecognized_name:
      return {"unrecognized_name", "no certificate for the requested server name", 112};
    case errc::closed:
      return {"closed", "connection closed by the peer", 0};
    case errc::truncated:
      return {"truncated", "peer closed the connection without close_notify", 0};
    case errc::not_connected:
      return {"enotconn", "socket is not connected", 0, std::errc::not_connected};
    case errc::frame_error:
      return {"frame_error", "malformed or oversized packet", 0, std::errc::message_size};
    case errc::operation_in_progress:
      // EALREADY ("operation already in progress"), as Erlang's {error, ealready}; not
      // EINPROGRESS, which means "started, completes later".
      return {"ealready", "another operation of this kind is in progress", 0,
              std::errc::connection_already_in_progress};
    case errc::wrong_mode:
      // Erlang's gen_tcp:recv on an active socket: {error, einval}.
      return {"wrong_mode", "operation not allowed in the socket's delivery mode", 0, einval};
    case errc::handler_failed:
      return {"handler_failed", "the connection handler failed", 80};
    case errc::shutting_down:
      return {"shutting_down", "the server is shutting down", 0, std::errc::operation_canceled};
    case errc::unexpected_message:
      return {"unexpected_message", "the peer sent a message that is not valid at this point", 10,
              eproto};
    case errc::bad_record_mac:
      return {"bad_record_mac", "a record from the peer failed to decrypt (bad MAC)", 20, eproto};
    case errc::record_overflow:
      return {"record_overflow", "the peer sent a record longer than allowed", 22, eproto};
    case errc::decode_error:
      return {"decode_error", "the peer sent a message that does not decode (bad length or field)",
              50, eproto};
    case errc::illegal_parameter:
      return {"illegal_parameter", "the peer sent a parameter with a value that is not allowed", 47,
              eproto};
    case errc::decrypt_error:
      return {"decrypt_error", "the peer's handshake signature or Finished message does not verify",
              51, eproto};
    case errc::unsupported_extension:
      return {"unsupported_extension", "the peer sent an extension not allowed in that message",
              110, eproto};
    case errc::missing_extension:
      return {"missing_extension", "the peer left out a mandatory extension", 109, eproto};
    case errc::no_shared_cipher:
      return {"no_shared_cipher",
              "no cipher suite and signature algorithm in common with the peer that the "
              "certificate can serve",
              40, std::errc::not_supported};
    case errc::no_shared_group:
      return {"no_shared_group", "no key-exchange group in common with the peer", 40,
              std::errc::not_supported};
    case errc::insufficient_security:
      return {"insufficient_security", "the peer's parameters are too weak", 71};
    case errc::inappropriate_fallback:
      return {"inappropriate_fallback",
              "the peer retried with a lower version although both support a higher one", 86,
              eproto};
    case errc::malformed_certificate:
      return {"malformed_certificate", "a certificate the peer sent does not parse", 42};
    case errc::unsupported_certificate:
      return {"unsupported_certificate",
              "a certificate the peer sent has an unsupported key type or critical extension", 43};
    case errc::handshake_failure:
      return {"handshake_failure",
              "the peer's handshake is not acceptable (e.g. a failed secure renegotiation check)",
              40, eproto};
    case errc::internal_error:
      return {"internal_error", "the TLS library failed internally", 80};
    case errc::sni_not_a_host_name:
      // Erlang's inet6_tls_dist sends the host part of 'node@::1' as SNI. RFC 6066 allows
      // only host names there, and GnuTLS refuses anything else; it cannot be told not to.
      return {"sni_not_a_host_name",
              "the client sent an IPv6 address (or another name that is not a DNS host name) as "
              "its SNI server name, which RFC 6066 does not allow and the TLS library refuses; "
              "the client must connect by host name",
              47, eproto};
  }
  return {"unknown", nullptr, 0};
}

class errc_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.tls"; }
  std::string message(int v) const override {
    const auto i = info(static_cast<errc>(v));
    return i.message != nullptr ? i.message : fmt::format("unknown moat.tls error {}", v);
  }
  std::error_condition default_error_condition(int v) const noexcept override {
    const auto i = info(static_cast<errc>(v));
    if (i.message == nullptr || i.condition == std::errc{}) return {v, *this};
    return i.condition;
  }
};

constexpr std::array<std::pair<std::uint8_t, const char*>, 29> kAlerts{{
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {22, "record_overflow"},
    {40, "handshake_failure"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
}};

class alert_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.tls.alert"; }
  std::string message(int v) const override {
    return fmt::format("peer sent TLS alert {}", alert_name(static_cast<std::uint8_t>(v)));
  }
  // The peer's alert says what it saw; where that is a portable failure, say so.
  std::error_condition default_error_condition(int v) const noexcept override {
    switch (v) {
      case 10:   // unexpected_message
      case 20:   // bad_record_mac
      case 22:   // record_overflow
      case 47:   // illegal_parameter
      case 50:   // decode_error
      case 51:   // decrypt_error
      case 109:  // missing_extension
      case 110:  // unsupported_extension
        return std::errc::protocol_error;
      case 49:  // access_denied
        return std::errc::permission_denied;
      case 70:   // protocol_version
      case 120:  // no_application_protocol
        return std::errc::not_supported;
      case 90:  // user_canceled
        return std::errc::operation_canceled;
      default:
        return {v, *this};
    }
  }
};

class engine_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.tls.engine"; }
  std::string message(int v) const override {
    const char* s = gnutls_strerror(v);
    return s != nullptr ? std::string(s) : fmt::format("TLS library error {}", v);
  }
  // A library code that has a moat reason has that reason's condition; the local failures
  // that remain here have the obvious errno.
  std::error_condition default_error_condition(int v) const noexcept override {
    if (const auto mapped = detail::make_gnutls_error(v); mapped.category() != *this) {
      return mapped.default_error_condition();
    }
    switch (v) {
      case GNUTLS_E_AGAIN:
        return std::errc::resource_unavailable_try_again;
      case GNUTLS_E_INTERRUPTED:
        return std::errc::interrupted;
      case GNUTLS_E_MEMORY_ERROR:
        return std::errc::not_enough_memory;
      case GNUTLS_E_INVALID_REQUEST:
        return std::errc::invalid_argument;
      case GNUTLS_E_PUSH_ERROR:
      case GNUTLS_E_PULL_ERROR:
      case GNUTLS_E_FILE_ERROR:
        return std::errc::io_error;
      case GNUTLS_E_UNIMPLEMENTED_FEATURE:
        return std::errc::not_supported;
      default:
        return {v, *this};
    }
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const errc_category c;
  return c;
}
const std::error_category& alert_category() noexcept {
  static const alert_category_impl c;
  return c;
}
const std::error_category& engine_category() noexcept {
  static const engine_category_impl c;
  return c;
}

std::uint8_t alert_for(errc e) noexcept {
  return info(e).alert;
}

std::string alert_name(std::uint8_t alert) {
  for (const auto& [n, name] : kAlerts)
    if (n == alert) return name;
  return fmt::format("alert {}", alert);
}

std::string reason_name(std::error_code ec) {
  if (!ec) return "ok";
  if (ec.category() == category()) {
    const auto i = info(static_cast<errc>(ec.value()));
    return i.message != nullptr ? i.reason : "unknown";
  }
  if (ec.category() == alert_category()) {
    return "alert:" + alert_name(static_cast<std::uint8_t>(ec.value()));
  }
  if (ec.category() == engine_category()) {
    // Only a fallback (make_gnutls_error gives every failure a peer can cause a moat reason);
    // the library's own name is detail for format_error, never a reason or a stats key.
    return "tls_error";
  }
  return ec.message();
}

std::string format_error(std::error_code ec) {
  std::string s = ec.message();
  if (ec.category() == engine_category()) {
    if (const char* n = gnutls_strerror_name(ec.value()); n != nullptr) {
      return fmt::format("{} (TLS library error {})", s, n);
    }
    return s;
  }
  if (ec.category() != category()) return s;
  switch (static_cast<errc>(ec.value())) {
    case errc::unknown_ca:
    case errc::self_signed_peer:
      return s +
             " (give the issuing CA with cacertfile/cacerts, or check the peer sends its "
             "intermediate certificates)";
    case errc::hostname_mismatch:
      return s +
             " (the name connected to must be in the certificate's subjectAltName; set "
             "server_name_indication to the name the certificate carries)";
    case errc::cert_expired:
    case errc::cert_not_yet_valid:
      return s + " (renew the certificate, or check the clocks of both hosts)";
    case errc::no_peer_certificate:
      return s + " (the client must present a certificate: certfile and keyfile)";
    default:
      return s;
  }
}

namespace detail {

std::error_code received_alert_error(int alert) noexcept {
  // close_notify is alert number 0, and a std::error_code of value 0 means success: the peer
  // closed (found by fuzzing: a handshake "ended" without an error and without being done).
  if (alert == GNUTLS_A_CLOSE_NOTIFY) return make_error_code(errc::closed);
  return {alert, alert_category()};
}

std::error_code make_gnutls_error(int rc, gnutls_session_t session, bool transport_eof) noexcept {
  switch (rc) {
    case GNUTLS_E_WARNING_ALERT_RECEIVED:
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
      if (session != nullptr) {
        // An int: a peer may send any number, not only the enumerators.
        return received_alert_error(static_cast<int>(gnutls_alert_get(session)));
      }
      break;
    case GNUTLS_E_PREMATURE_TERMINATION:
      return make_error_code(errc::truncated);
    case GNUTLS_E_SESSION_EOF:  // a close_notify in the middle of the handshake
      return make_error_code(errc::closed);
    case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:  // also GNUTLS_E_TLS_PACKET_DECODING_ERROR
      // A record cut short by the end of the stream, or a length field that does not add up.
      return make_error_code(transport_eof ? errc::truncated : errc::decode_error);
    case GNUTLS_E_NO_CERTIFICATE_FOUND:
    case GNUTLS_E_CERTIFICATE_REQUIRED:
      return make_error_code(errc::no_peer_certificate);
    case GNUTLS_E_NO_APPLICATION_PROTOCOL:
      return make_error_code(errc::no_application_protocol);
    case GNUTLS_E_UNRECOGNIZED_NAME:
      return make_error_code(errc::unrecognized_name);
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
      return make_error_code(errc::unsupported_version);
    case GNUTLS_E_KEY_USAGE_VIOLATION:
      return make_error_code(errc::invalid_key_usage);
    case GNUTLS_E_TIMEDOUT:
      return make_error_code(errc::handshake_timeout);
    // What a peer can provoke with bytes, named after the alert that answers it (the same
    // alert the library would choose, except where noted).
    case GNUTLS_E_UNEXPECTED_PACKET:
    case GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET:
    case GNUTLS_E_GOT_APPLICATION_DATA:        // library: internal_error
    case GNUTLS_E_TOO_MANY_EMPTY_PACKETS:      // library: internal_error
    case GNUTLS_E_TOO_MANY_HANDSHAKE_PACKETS:  // library: internal_error
      return make_error_code(errc::unexpected_message);
    case GNUTLS_E_DECRYPTION_FAILED:
      return make_error_code(errc::bad_record_mac);
    case GNUTLS_E_RECORD_OVERFLOW:
      return make_error_code(errc::record_overflow);
    case GNUTLS_E_UNEXPECTED_EXTENSIONS_LENGTH:
    case GNUTLS_E_HANDSHAKE_TOO_LARGE:
      return make_error_code(errc::decode_error);
    case GNUTLS_E_RECEIVED_DISALLOWED_NAME:
      return make_error_code(errc::sni_not_a_host_name);
    case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
    case GNUTLS_E_ILLEGAL_PARAMETER:
    case GNUTLS_E_PK_INVALID_PUBKEY:
    case GNUTLS_E_PK_INVALID_PUBKEY_PARAMS:  // library: internal_error
    case GNUTLS_E_INCOMPATIBLE_SIG_WITH_KEY:
    case GNUTLS_E_UNKNOWN_CIPHER_SUITE:  // chosen but not offered (RFC 8446 4.1.3)
    case GNUTLS_E_UNWANTED_ALGORITHM:    // chosen but not enabled
    case GNUTLS_E_MPI_SCAN_FAILED:       // a number (key share, signature) that does not parse
      return make_error_code(errc::illegal_parameter);
    case GNUTLS_E_PK_SIG_VERIFY_FAILED:
    case GNUTLS_E_ERROR_IN_FINISHED_PACKET:
      return make_error_code(errc::decrypt_error);
    case GNUTLS_E_RECEIVED_ILLEGAL_EXTENSION:
      return make_error_code(errc::unsupported_extension);
    case GNUTLS_E_MISSING_EXTENSION:
      return make_error_code(errc::missing_extension);
    case GNUTLS_E_NO_CIPHER_SUITES:  // also: no signature algorithm the certificate can serve
    case GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM:
    case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
    case GNUTLS_E_INCOMPAT_DSA_KEY_WITH_TLS_PROTOCOL:
      return make_error_code(errc::no_shared_cipher);
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
    case GNUTLS_E_ECC_NO_SUPPORTED_CURVES:
    case GNUTLS_E_ECC_UNSUPPORTED_CURVE:
      return make_error_code(errc::no_shared_group);
    case GNUTLS_E_INSUFFICIENT_SECURITY:
    case GNUTLS_E_DH_PRIME_UNACCEPTABLE:
    case GNUTLS_E_SESSION_USER_ID_CHANGED:
      return make_error_code(errc::insufficient_security);
    case GNUTLS_E_INAPPROPRIATE_FALLBACK:
      return make_error_code(errc::inappropriate_fallback);
    case GNUTLS_E_CERTIFICATE_ERROR:
    case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
    case GNUTLS_E_CERTIFICATE_TIME_ERROR:  // library: internal_error (and below)
    case GNUTLS_E_X509_UNKNOWN_SAN:
    case GNUTLS_E_X509_UNSUPPORTED_OID:
    case GNUTLS_E_X509_DUPLICATE_EXTENSION:
    case GNUTLS_E_ASN1_ELEMENT_NOT_FOUND:
    case GNUTLS_E_ASN1_IDENTIFIER_NOT_FOUND:
    case GNUTLS_E_ASN1_DER_ERROR:
    case GNUTLS_E_ASN1_VALUE_NOT_FOUND:
    case GNUTLS_E_ASN1_GENERIC_ERROR:
    case GNUTLS_E_ASN1_VALUE_NOT_VALID:
    case GNUTLS_E_ASN1_TAG_ERROR:
    case GNUTLS_E_ASN1_TAG_IMPLICIT:
    case GNUTLS_E_ASN1_TYPE_ANY_ERROR:
    case GNUTLS_E_ASN1_SYNTAX_ERROR:
    case GNUTLS_E_ASN1_DER_OVERFLOW:
    case GNUTLS_E_ASN1_EMBEDDED_NULL_IN_STRING:
    case GNUTLS_E_ASN1_TIME_ERROR:
      return make_error_code(errc::malformed_certificate);
    case GNUTLS_E_UNSUPPORTED_CERTIFICATE_TYPE:
    case GNUTLS_E_UNKNOWN_PK_ALGORITHM:                 // library: handshake_failure
    case GNUTLS_E_X509_UNSUPPORTED_CRITICAL_EXTENSION:  // library: internal_error
    case GNUTLS_E_X509_UNSUPPORTED_EXTENSION:           // library: internal_error
      return make_error_code(errc::unsupported_certificate);
    case GNUTLS_E_SAFE_RENEGOTIATION_FAILED:
    case GNUTLS_E_UNSAFE_RENEGOTIATION_DENIED:  // library: no_renegotiation (RFC 5746: this)
    case GNUTLS_E_NO_COMPRESSION_ALGORITHMS:
    case GNUTLS_E_UNKNOWN_COMPRESSION_ALGORITHM:
      return make_error_code(errc::handshake_failure);
    case GNUTLS_E_INTERNAL_ERROR:
      return make_error_code(errc::internal_error);
    default:
      break;
  }
  return {rc, engine_category()};
}

}  // namespace detail
}  // namespace moat::tls
