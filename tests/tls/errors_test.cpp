// Every tls error code has a message: the moat.tls, alert and engine categories, the
// Erlang-style reason atoms, format_error's hints and the reason -> alert mapping.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <moat/tls/errors.hpp>
#include <optional>
#include <set>
#include <string>
#include <system_error>

namespace moat::tls {
namespace {

constexpr int kFirst = static_cast<int>(errc::unsupported_version);

bool has_own_message(int v) {
  return std::error_code(v, category()).message().find("unknown moat.tls error") ==
         std::string::npos;
}

/// The last errc value. The enum grows as parts are added; info()'s switch has no default,
/// so -Wswitch (an error here) guarantees a case for every enumerator -- the values are
/// therefore contiguous from 1 to the last one with a message of its own.
int last_value() {
  int last = 0;
  for (int v = kFirst; v < 1000; ++v) {
    if (has_own_message(v)) last = v;
  }
  return last;
}

const int kLast = last_value();

TEST(Errors, TheTlsErrcValuesRunFromOneToTheLastWithoutGaps) {
  EXPECT_EQ(kFirst, 1);
  EXPECT_GE(kLast, static_cast<int>(errc::internal_error));
  for (int v = kFirst; v <= kLast; ++v) EXPECT_TRUE(has_own_message(v)) << "errc " << v;
  EXPECT_FALSE(has_own_message(0));
  // A zero error_code means success; no errc may be zero.
  EXPECT_FALSE(std::error_code());
  EXPECT_TRUE(std::error_code(errc::unsupported_version));
}

TEST(Errors, EveryTlsErrorCodeHasADistinctNonEmptyMessage) {
  std::map<std::string, int> seen;
  for (int v = kFirst; v <= kLast; ++v) {
    const std::error_code ec(v, category());
    const std::string msg = ec.message();
    EXPECT_FALSE(msg.empty()) << "errc " << v;
    EXPECT_EQ(msg.find("unknown moat.tls error"), std::string::npos)
        << "errc " << v << " has no message of its own";
    auto [it, inserted] = seen.emplace(msg, v);
    EXPECT_TRUE(inserted) << "errc " << v << " and errc " << it->second << " share the message '"
                          << msg << "'";
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kLast - kFirst + 1));
}

TEST(Errors, EveryTlsErrorCodeHasAnErlangStyleReasonName) {
  for (int v = kFirst; v <= kLast; ++v) {
    const std::error_code ec(v, category());
    const std::string name = reason_name(ec);
    EXPECT_FALSE(name.empty()) << "errc " << v;
    EXPECT_NE(name, "unknown") << "errc " << v << " (" << ec.message() << ")";
    // An atom: lower case, digits and underscores only.
    for (char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
          << "errc " << v << " reason '" << name << "'";
    }
  }
}

TEST(Errors, EveryTlsErrorCodeHasAFormattedTextThatStartsWithItsMessage) {
  for (int v = kFirst; v <= kLast; ++v) {
    const std::error_code ec(v, category());
    const std::string text = format_error(ec);
    EXPECT_EQ(text.rfind(ec.message(), 0), 0U) << "errc " << v << ": " << text;
  }
}

TEST(Errors, ReasonNamesAreTheErlangAtomsForTheVerificationFailures) {
  EXPECT_EQ(reason_name(errc::cert_expired), "cert_expired");
  EXPECT_EQ(reason_name(errc::unknown_ca), "unknown_ca");
  EXPECT_EQ(reason_name(errc::hostname_mismatch), "hostname_check_failed");
  EXPECT_EQ(reason_name(errc::self_signed_peer), "selfsigned_peer");
  EXPECT_EQ(reason_name(errc::path_too_long), "max_path_length_reached");
  EXPECT_EQ(reason_name(errc::revoked), "certificate_revoked");
  EXPECT_EQ(reason_name(errc::handshake_timeout), "timeout");
  EXPECT_EQ(reason_name(errc::closed), "closed");
  EXPECT_EQ(reason_name(std::error_code()), "ok");
}

TEST(Errors, AnUnknownTlsErrorValueHasASensibleMessage) {
  const std::error_code ec(kLast + 1000, category());
  EXPECT_NE(ec.message().find("unknown moat.tls error"), std::string::npos) << ec.message();
  EXPECT_NE(ec.message().find(std::to_string(kLast + 1000)), std::string::npos) << ec.message();
  EXPECT_EQ(reason_name(ec), "unknown");
  EXPECT_FALSE(format_error(ec).empty());
  const std::error_code zero(0, category());
  EXPECT_FALSE(zero.message().empty());
}

TEST(Errors, TheThreeCategoriesHaveDistinctMoatNames) {
  EXPECT_STREQ(category().name(), "moat.tls");
  EXPECT_STREQ(alert_category().name(), "moat.tls.alert");
  EXPECT_STREQ(engine_category().name(), "moat.tls.engine");
  EXPECT_NE(&category(), &alert_category());
  EXPECT_NE(&category(), &engine_category());
  EXPECT_TRUE(std::error_code(errc::closed).category() == category());
}

TEST(Errors, AlertCategoryMessagesNameTheAlert) {
  const std::error_code unknown_ca(48, alert_category());
  EXPECT_NE(unknown_ca.message().find("unknown_ca"), std::string::npos) << unknown_ca.message();
  EXPECT_EQ(reason_name(unknown_ca), "alert:unknown_ca");
  const std::error_code expired(45, alert_category());
  EXPECT_NE(expired.message().find("certificate_expired"), std::string::npos) << expired.message();
  EXPECT_EQ(reason_name(std::error_code(116, alert_category())), "alert:certificate_required");
  EXPECT_EQ(reason_name(std::error_code(42, alert_category())), "alert:bad_certificate");
  EXPECT_EQ(reason_name(std::error_code(43, alert_category())), "alert:unsupported_certificate");
  EXPECT_EQ(format_error(unknown_ca), unknown_ca.message());
}

TEST(Errors, EveryRfc8446AlertNumberHasItsName) {
  const std::map<int, std::string> rfc{
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
      {109, "missing_extension"},
      {110, "unsupported_extension"},
      {112, "unrecognized_name"},
      {113, "bad_certificate_status_response"},
      {115, "unknown_psk_identity"},
      {116, "certificate_required"},
      {120, "no_application_protocol"},
  };
  for (const auto& [n, name] : rfc) {
    EXPECT_EQ(alert_name(static_cast<std::uint8_t>(n)), name) << "alert " << n;
    const std::error_code ec(n, alert_category());
    EXPECT_NE(ec.message().find(name), std::string::npos) << ec.message();
  }
}

TEST(Errors, AnUnknownAlertNumberIsNamedByItsNumber) {
  EXPECT_EQ(alert_name(200), "alert 200");
  const std::error_code ec(200, alert_category());
  EXPECT_NE(ec.message().find("200"), std::string::npos) << ec.message();
  EXPECT_EQ(reason_name(ec), "alert:alert 200");
}

TEST(Errors, EngineCategoryGivesTheTlsLibrarysOwnTextAndItsNameOnlyAsDetail) {
  // GnuTLS's gnutls_strerror / gnutls_strerror_name (values from gnutls/gnutls.h).
  const std::error_code memory(-25, engine_category());  // GNUTLS_E_MEMORY_ERROR
  EXPECT_EQ(memory.message(), "Internal error in memory allocation.");
  EXPECT_EQ(reason_name(memory), "tls_error");
  EXPECT_EQ(format_error(memory), memory.message() + " (TLS library error GNUTLS_E_MEMORY_ERROR)");
  const std::error_code nosuite(-87, engine_category());  // GNUTLS_E_NO_CIPHER_SUITES
  EXPECT_EQ(nosuite.message(), "No supported cipher suites have been found.");
  // A value GnuTLS does not know still reads as something.
  const std::error_code weird(-123456, engine_category());
  EXPECT_FALSE(weird.message().empty());
  EXPECT_EQ(reason_name(weird), "tls_error");
  EXPECT_EQ(format_error(weird), weird.message());
}

// The names a user sees (reason_name: log lines, stats keys) are moat's, never the TLS
// library's; the library's name may appear only as detail in format_error.
bool names_the_library(const std::string& s) {
  return s.find("GNUTLS") != std::string::npos || s.find("gnutls") != std::string::npos;
}

TEST(Errors, NoTlsErrorCodeHasAReasonNameFromTheTlsLibrary) {
  for (int v = kFirst; v <= kLast; ++v) {
    const std::error_code ec(v, category());
    EXPECT_FALSE(names_the_library(reason_name(ec))) << "errc " << v << ": " << reason_name(ec);
    EXPECT_FALSE(names_the_library(format_error(ec))) << "errc " << v << ": " << format_error(ec);
  }
}

TEST(Errors, NoEngineErrorCodeHasAReasonNameFromTheTlsLibrary) {
  // Every GnuTLS error value (they are all between -1 and -1300, plus the application range).
  for (int v = -1; v >= -1300; --v) {
    const std::error_code ec(v, engine_category());
    EXPECT_FALSE(names_the_library(reason_name(ec))) << v << ": " << reason_name(ec);
    EXPECT_FALSE(ec.message().empty()) << v;
  }
}

TEST(Errors, TimeoutsCompareEqualToThePortableTimedOutCondition) {
  EXPECT_EQ(make_error_code(errc::recv_timeout), std::errc::timed_out);
  EXPECT_EQ(make_error_code(errc::handshake_timeout), std::errc::timed_out);
  EXPECT_EQ(make_error_code(errc::connect_timeout), std::errc::timed_out);
  EXPECT_EQ(make_error_code(errc::send_timeout), std::errc::timed_out);
  EXPECT_NE(make_error_code(errc::closed), std::errc::timed_out);
}

TEST(Errors, SocketStateAndConfigurationCodesCompareEqualToTheirPortableConditions) {
  EXPECT_EQ(make_error_code(errc::not_connected), std::errc::not_connected);
  EXPECT_EQ(make_error_code(errc::operation_in_progress),
            std::errc::connection_already_in_progress);
  EXPECT_EQ(make_error_code(errc::invalid_option), std::errc::invalid_argument);
  EXPECT_EQ(make_error_code(errc::unknown_cipher), std::errc::invalid_argument);
  EXPECT_EQ(make_error_code(errc::wrong_mode), std::errc::invalid_argument);
  EXPECT_EQ(make_error_code(errc::shutting_down), std::errc::operation_canceled);
  EXPECT_EQ(make_error_code(errc::frame_error), std::errc::message_size);
  // A normal close and a close without close_notify are no errno.
  EXPECT_EQ(make_error_code(errc::closed).default_error_condition().category(), category());
  EXPECT_EQ(make_error_code(errc::truncated).default_error_condition().category(), category());
}

// The whole table (docs/tls.md, "Errors"): every errc value must be listed here, so a new
// reason has to choose its condition (std::nullopt: none fits).
TEST(Errors, EveryTlsErrorCodeHasTheExpectedPortableCondition) {
  using std::errc;
  const std::optional<errc> none;
  const std::map<tls::errc, std::optional<errc>> expected{
      {tls::errc::unsupported_version, errc::not_supported},
      {tls::errc::unknown_version, errc::invalid_argument},
      {tls::errc::unknown_cipher, errc::invalid_argument},
      {tls::errc::insecure_cipher, errc::invalid_argument},
      {tls::errc::unknown_group, errc::invalid_argument},
      {tls::errc::unknown_signature_algorithm, errc::invalid_argument},
      {tls::errc::missing_ca, errc::invalid_argument},
      {tls::errc::missing_certificate, errc::invalid_argument},
      {tls::errc::invalid_option, errc::invalid_argument},
      {tls::errc::cert_expired, none},
      {tls::errc::cert_not_yet_valid, none},
      {tls::errc::unknown_ca, none},
      {tls::errc::invalid_signature, none},
      {tls::errc::hostname_mismatch, none},
      {tls::errc::invalid_key_usage, none},
      {tls::errc::invalid_ext_key_usage, none},
      {tls::errc::missing_basic_constraint, none},
      {tls::errc::path_too_long, none},
      {tls::errc::self_signed_peer, none},
      {tls::errc::revoked, none},
      {tls::errc::insecure_algorithm, none},
      {tls::errc::bad_certificate, none},
      {tls::errc::no_peer_certificate, none},
      {tls::errc::rejected_by_verify_fun, none},
      {tls::errc::handshake_timeout, errc::timed_out},
      {tls::errc::recv_timeout, errc::timed_out},
      {tls::errc::connect_timeout, errc::timed_out},
      {tls::errc::send_timeout, errc::timed_out},
      {tls::errc::no_application_protocol, errc::not_supported},
      {tls::errc::unrecognized_name, none},
      {tls::errc::closed, none},
      {tls::errc::truncated, none},
      {tls::errc::not_connected, errc::not_connected},
      {tls::errc::frame_error, errc::message_size},
      {tls::errc::operation_in_progress, errc::connection_already_in_progress},
      {tls::errc::wrong_mode, errc::invalid_argument},
      {tls::errc::handler_failed, none},
      {tls::errc::shutting_down, errc::operation_canceled},
      {tls::errc::unexpected_message, errc::protocol_error},
      {tls::errc::bad_record_mac, errc::protocol_error},
      {tls::errc::record_overflow, errc::protocol_error},
      {tls::errc::decode_error, errc::protocol_error},
      {tls::errc::illegal_parameter, errc::protocol_error},
      {tls::errc::decrypt_error, errc::protocol_error},
      {tls::errc::unsupported_extension, errc::protocol_error},
      {tls::errc::missing_extension, errc::protocol_error},
      {tls::errc::no_shared_cipher, errc::not_supported},
      {tls::errc::no_shared_group, errc::not_supported},
      {tls::errc::insufficient_security, none},
      {tls::errc::inappropriate_fallback, errc::protocol_error},
      {tls::errc::malformed_certificate, none},
      {tls::errc::unsupported_certificate, none},
      {tls::errc::handshake_failure, errc::protocol_error},
      {tls::errc::internal_error, none},
      {tls::errc::sni_not_a_host_name, errc::protocol_error},
  };
  EXPECT_EQ(expected.size(), static_cast<std::size_t>(kLast - kFirst + 1))
      << "a tls::errc value is missing from this table";
  for (int v = kFirst; v <= kLast; ++v) {
    const auto e = static_cast<tls::errc>(v);
    const auto it = expected.find(e);
    if (it == expected.end()) {
      ADD_FAILURE() << "no expected condition for " << reason_name(e);
      continue;
    }
    const std::error_code ec = make_error_code(e);
    if (it->second) {
      EXPECT_EQ(ec, *it->second) << reason_name(e) << " should compare equal to "
                                 << std::make_error_condition(*it->second).message();
      EXPECT_EQ(ec.default_error_condition().category(), std::generic_category()) << v;
    } else {
      EXPECT_EQ(ec.default_error_condition(), std::error_condition(v, category()))
          << reason_name(e) << " should have no portable condition, has "
          << ec.default_error_condition().message();
    }
  }
}

TEST(Errors, PeerProtocolFailuresAreNamedAfterTheAlertTheySend) {
  for (errc e :
       {errc::unexpected_message, errc::bad_record_mac, errc::record_overflow, errc::decode_error,
        errc::illegal_parameter, errc::decrypt_error, errc::unsupported_extension,
        errc::missing_extension, errc::insufficient_security, errc::inappropriate_fallback,
        errc::unsupported_certificate, errc::handshake_failure, errc::internal_error}) {
    EXPECT_EQ(alert_name(alert_for(e)), reason_name(e));
  }
  // Nothing in common: handshake_failure, as the TLS library sends it (RFC 8446 allows
  // handshake_failure or insufficient_security).
  EXPECT_EQ(alert_for(errc::no_shared_cipher), 40);
  EXPECT_EQ(alert_for(errc::no_shared_group), 40);
  EXPECT_EQ(alert_for(errc::malformed_certificate), 42);  // bad_certificate
}

TEST(Errors, ReceivedAlertsCompareEqualToAPortableConditionWhereOneFits) {
  EXPECT_EQ(std::error_code(90, alert_category()), std::errc::operation_canceled);
  EXPECT_EQ(std::error_code(49, alert_category()), std::errc::permission_denied);
  EXPECT_EQ(std::error_code(10, alert_category()), std::errc::protocol_error);
  EXPECT_EQ(std::error_code(50, alert_category()), std::errc::protocol_error);
  EXPECT_EQ(std::error_code(70, alert_category()), std::errc::not_supported);
  // A certificate alert is no errno.
  EXPECT_EQ(std::error_code(48, alert_category()).default_error_condition().category(),
            alert_category());
}

TEST(Errors, EngineCodesCompareEqualToAPortableConditionWhereOneFits) {
  EXPECT_EQ(std::error_code(-25, engine_category()), std::errc::not_enough_memory);
  EXPECT_EQ(std::error_code(-28, engine_category()), std::errc::resource_unavailable_try_again);
  EXPECT_EQ(std::error_code(-50, engine_category()), std::errc::invalid_argument);
  // A code that has a moat reason has that reason's condition (-15: an unexpected packet).
  EXPECT_EQ(std::error_code(-15, engine_category()), std::errc::protocol_error);
  EXPECT_EQ(std::error_code(-123456, engine_category()).default_error_condition().category(),
            engine_category());
}

TEST(Errors, AlertForMapsEachVerificationReasonToItsRfcAlert) {
  struct row {
    errc reason;
    std::uint8_t alert;
  };
  for (const row& r : {
           row{errc::cert_expired, 45},           // certificate_expired
           row{errc::cert_not_yet_valid, 45},     // "expired or not currently valid"
           row{errc::unknown_ca, 48},             // unknown_ca
           row{errc::invalid_signature, 42},      // bad_certificate
           row{errc::hostname_mismatch, 42},      // bad_certificate
           row{errc::invalid_key_usage, 43},      // unsupported_certificate
           row{errc::invalid_ext_key_usage, 43},  // unsupported_certificate
           row{errc::missing_basic_constraint, 42},
           row{errc::path_too_long, 48},     // unknown_ca (no anchor within the depth)
           row{errc::self_signed_peer, 42},  // bad_certificate
           row{errc::revoked, 44},           // certificate_revoked
           row{errc::insecure_algorithm, 42}, row{errc::bad_certificate, 42},
           row{errc::no_peer_certificate, 116},  // certificate_required
           row{errc::rejected_by_verify_fun, 42}, row{errc::no_application_protocol, 120},
           row{errc::unrecognized_name, 112},
           row{errc::unsupported_version, 70},  // protocol_version
       }) {
    EXPECT_EQ(alert_for(r.reason), r.alert) << reason_name(r.reason);
    EXPECT_NE(alert_name(alert_for(r.reason)).find('_'), std::string::npos)
        << "alert " << int{alert_for(r.reason)} << " has a name";
  }
}

TEST(Errors, EveryAlertMoatSendsHasAnRfcName) {
  for (int v = kFirst; v <= kLast; ++v) {
    const auto e = static_cast<errc>(v);
    if (alert_for(e) == 0) continue;
    EXPECT_NE(alert_name(alert_for(e)).rfind("alert ", 0), 0U)
        << reason_name(e) << " sends alert " << int{alert_for(e)} << " which has no name";
  }
}

TEST(Errors, ConfigurationTimeoutAndCloseReasonsSendNoAlert) {
  for (errc e :
       {errc::unknown_version, errc::unknown_cipher, errc::insecure_cipher, errc::unknown_group,
        errc::unknown_signature_algorithm, errc::missing_ca, errc::missing_certificate,
        errc::invalid_option, errc::handshake_timeout, errc::recv_timeout, errc::connect_timeout,
        errc::closed, errc::truncated, errc::not_connected}) {
    EXPECT_EQ(alert_for(e), 0) << reason_name(e);
  }
}

TEST(Errors, FormatErrorAddsAHintForVerificationFailures) {
  const std::string unknown_ca = format_error(errc::unknown_ca);
  EXPECT_NE(unknown_ca.find("cacertfile"), std::string::npos) << unknown_ca;
  const std::string host = format_error(errc::hostname_mismatch);
  EXPECT_NE(host.find("subjectAltName"), std::string::npos) << host;
  EXPECT_NE(host.find("server_name_indication"), std::string::npos) << host;
  const std::string expired = format_error(errc::cert_expired);
  EXPECT_NE(expired.find("renew"), std::string::npos) << expired;
  const std::string nocert = format_error(errc::no_peer_certificate);
  EXPECT_NE(nocert.find("certfile"), std::string::npos) << nocert;
  for (errc e : {errc::unknown_ca, errc::hostname_mismatch, errc::cert_expired,
                 errc::cert_not_yet_valid, errc::self_signed_peer, errc::no_peer_certificate}) {
    EXPECT_GT(format_error(e).size(), std::error_code(e).message().size()) << reason_name(e);
  }
}

TEST(Errors, ReasonNameOfAnotherCategoryIsItsMessage) {
  const std::error_code ec = std::make_error_code(std::errc::connection_refused);
  EXPECT_EQ(reason_name(ec), ec.message());
  EXPECT_EQ(format_error(ec), ec.message());
}

}  // namespace
}  // namespace moat::tls
