// Every tls error code has a message: the moat.tls, alert and engine categories, the
// Erlang-style reason atoms, format_error's hints and the reason -> alert mapping.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <moat/tls/errors.hpp>
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
  EXPECT_GE(kLast, static_cast<int>(errc::wrong_mode));
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

TEST(Errors, EngineCategoryGivesTheTlsLibrarysOwnText) {
  // GnuTLS's gnutls_strerror / gnutls_strerror_name (values from gnutls/gnutls.h).
  const std::error_code again(-28, engine_category());  // GNUTLS_E_AGAIN
  EXPECT_EQ(again.message(), "Resource temporarily unavailable, try again.");
  EXPECT_EQ(reason_name(again), "GNUTLS_E_AGAIN");
  const std::error_code decrypt(-24, engine_category());  // GNUTLS_E_DECRYPTION_FAILED
  EXPECT_EQ(decrypt.message(), "Decryption has failed.");
  EXPECT_EQ(reason_name(decrypt), "GNUTLS_E_DECRYPTION_FAILED");
  const std::error_code nosuite(-87, engine_category());  // GNUTLS_E_NO_CIPHER_SUITES
  EXPECT_EQ(nosuite.message(), "No supported cipher suites have been found.");
  // A value GnuTLS does not know still reads as something.
  const std::error_code weird(-123456, engine_category());
  EXPECT_FALSE(weird.message().empty());
  EXPECT_FALSE(reason_name(weird).empty());
  EXPECT_EQ(format_error(again), again.message());
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
