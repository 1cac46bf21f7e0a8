// The tls error categories and their messages.
#include <fmt/format.h>
#include <gnutls/gnutls.h>

#include <array>
#include <moat/tls/errors.hpp>

#include "tls/gnutls_util.hpp"

namespace moat::tls {
namespace {

struct errc_info {
  const char* reason;   // Erlang-style atom
  const char* message;  // human text
  std::uint8_t alert;   // alert sent to the peer (0 = none)
};

errc_info info(errc e) {
  switch (e) {
    case errc::unsupported_version:
      return {"unsupported_version", "protocol version not supported", 70};
    case errc::unknown_version:
      return {"unknown_version", "unknown TLS version", 0};
    case errc::unknown_cipher:
      return {"unknown_cipher", "unknown cipher suite", 0};
    case errc::insecure_cipher:
      return {"insecure_cipher", "cipher suite is not a forward-secret AEAD suite", 0};
    case errc::unknown_group:
      return {"unknown_group", "unknown key-exchange group", 0};
    case errc::unknown_signature_algorithm:
      return {"unknown_signature_algorithm", "unknown signature algorithm", 0};
    case errc::missing_ca:
      return {"missing_ca", "peer verification is on but no CA certificates are configured", 0};
    case errc::missing_certificate:
      return {"missing_certificate", "no certificate and key configured", 0};
    case errc::invalid_option:
      return {"invalid_option", "invalid option value", 0};
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
      return {"timeout", "handshake did not complete within the timeout", 0};
    case errc::recv_timeout:
      return {"timeout", "no data arrived within the timeout", 0};
    case errc::connect_timeout:
      return {"timeout", "connection was not established within the timeout", 0};
    case errc::send_timeout:
      return {"send_timeout", "the peer did not take the data within the send timeout", 0};
    case errc::no_application_protocol:
      return {"no_application_protocol", "no ALPN protocol in common with the peer", 120};
    case errc::unrecognized_name:
      return {"unrecognized_name", "no certificate for the requested server name", 112};
    case errc::closed:
      return {"closed", "connection closed by the peer", 0};
    case errc::truncated:
      return {"truncated", "peer closed the connection without close_notify", 0};
    case errc::not_connected:
      return {"enotconn", "socket is not connected", 0};
    case errc::frame_error:
      return {"frame_error", "malformed or oversized packet", 0};
    case errc::operation_in_progress:
      return {"ealready", "another operation of this kind is in progress", 0};
    case errc::wrong_mode:
      return {"wrong_mode", "operation not allowed in the socket's delivery mode", 0};
    case errc::handler_failed:
      return {"handler_failed", "the connection handler failed", 80};
    case errc::shutting_down:
      return {"shutting_down", "the server is shutting down", 0};
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
};

class engine_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.tls.engine"; }
  std::string message(int v) const override {
    const char* s = gnutls_strerror(v);
    return s != nullptr ? std::string(s) : fmt::format("TLS library error {}", v);
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
    const char* n = gnutls_strerror_name(ec.value());
    return n != nullptr ? n : "tls_error";
  }
  return ec.message();
}

std::string format_error(std::error_code ec) {
  std::string s = ec.message();
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

std::error_code make_gnutls_error(int rc, gnutls_session_t session) {
  switch (rc) {
    case GNUTLS_E_WARNING_ALERT_RECEIVED:
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
      if (session != nullptr) {
        return {static_cast<int>(gnutls_alert_get(session)), alert_category()};
      }
      break;
    case GNUTLS_E_PREMATURE_TERMINATION:
    case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
      return make_error_code(errc::truncated);
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
    default:
      break;
  }
  return {rc, engine_category()};
}

}  // namespace detail
}  // namespace moat::tls
