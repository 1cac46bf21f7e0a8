#pragma once
/// @file
/// How ACME operations fail: a code (category "moat.acme" for the CA's problem types and
/// moat's own reasons; the http, tls and system categories for transport), the problem
/// document the CA sent (RFC 8555 section 6.7, RFC 7807), what the client was doing, and
/// whether and when retrying can help.
#include <boost/system/result.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace moat::acme {

/// The CA's problem types (urn:ietf:params:acme:error:<name>) and moat's own reasons.
enum class errc {
  // RFC 8555 section 6.7, RFC 9773 (alreadyReplaced), draft-ietf-acme-profiles (invalidProfile)
  account_does_not_exist = 1,  ///< accountDoesNotExist
  already_replaced,            ///< alreadyReplaced: `replaces` names a certificate already replaced
  already_revoked,             ///< alreadyRevoked
  bad_csr,                     ///< badCSR
  bad_nonce,                   ///< badNonce (retried by the client before it reaches you)
  bad_public_key,              ///< badPublicKey
  bad_revocation_reason,       ///< badRevocationReason
  bad_signature_algorithm,     ///< badSignatureAlgorithm
  caa,                         ///< caa: a CAA record forbids issuance
  compound,                    ///< compound: see the subproblems
  connection,                  ///< connection: the CA could not reach the challenge
  dns,                         ///< dns: the CA's DNS lookup failed
  external_account_required,   ///< externalAccountRequired
  incorrect_response,          ///< incorrectResponse: the challenge answer was wrong
  invalid_contact,             ///< invalidContact
  invalid_profile,             ///< invalidProfile
  malformed,                   ///< malformed
  order_not_ready,             ///< orderNotReady
  rate_limited,                ///< rateLimited: see error::retry_after
  rejected_identifier,         ///< rejectedIdentifier
  server_internal,             ///< serverInternal
  tls,                         ///< tls: the CA's TLS connection for the challenge failed
  unauthorized,                ///< unauthorized
  unsupported_contact,         ///< unsupportedContact
  unsupported_identifier,      ///< unsupportedIdentifier
  user_action_required,        ///< userActionRequired: e.g. new terms of service to agree to
  unknown_problem,             ///< a problem type this client does not know (see problem.type)
  // moat's own reasons
  bad_response,          ///< the CA's answer is not what RFC 8555 says (JSON, type, fields)
  no_nonce,              ///< the CA gave no Replay-Nonce
  http_status,           ///< an error status without a problem document
  deadline_exceeded,     ///< the operation's total deadline passed (e.g. still processing)
  authorization_failed,  ///< an authorization became invalid (problem: the challenge's error)
  order_failed,          ///< the order became invalid
  no_usable_challenge,   ///< the CA offered no challenge type this client was given a solver for
  solver_failed,         ///< presenting a challenge failed (e.g. the DNS hook threw)
  not_supported_by_ca,   ///< the directory lacks what was asked (keyChange, renewalInfo, profile)
  terms_not_agreed,      ///< the CA has terms of service and they were not agreed to
  no_account,            ///< an account operation before the account exists
  invalid_request,       ///< the caller's request is unusable (no identifiers, bad IP...)
  certificate_mismatch,  ///< the certificate issued does not match the key or the order
};

/// The `std::error_category` of `errc` (name "moat.acme"). Thread-safety: a singleton.
[[nodiscard]] const std::error_category& category() noexcept;

/// Makes a `std::error_code` in `acme::category()` (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// The RFC 8555 name of a problem code ("rateLimited"), or moat's reason ("bad_response").
[[nodiscard]] std::string_view reason_name(errc e) noexcept;

/// The code of a problem type URN ("urn:ietf:params:acme:error:badNonce" → bad_nonce);
/// unknown_problem for any other string.
[[nodiscard]] errc problem_code(std::string_view type) noexcept;

/// An identifier as problem documents, orders and authorizations carry it.
struct identifier {
  std::string type{};   ///< "dns" or "ip"
  std::string value{};  ///< a host name (possibly "*.example.com"), or an IPv4/IPv6 address
  /// A DNS identifier.
  [[nodiscard]] static identifier dns(std::string name) { return {"dns", std::move(name)}; }
  /// An IP identifier (RFC 8738).
  [[nodiscard]] static identifier ip(std::string address) { return {"ip", std::move(address)}; }
  friend bool operator==(const identifier&, const identifier&) = default;
};

/// One part of a compound problem.
struct subproblem {
  std::string type{};
  std::string detail{};
  std::optional<identifier> id{};  ///< which identifier it is about
};

/// A problem document (RFC 7807) as the CA sent it.
struct problem {
  std::string type{};    ///< e.g. "urn:ietf:params:acme:error:rateLimited"
  std::string title{};   ///< may be empty
  std::string detail{};  ///< the CA's human explanation
  int status = 0;        ///< the HTTP status it came with (or its "status" member)
  std::string instance{};
  std::vector<subproblem> subproblems{};
  /// The type without "urn:ietf:params:acme:error:" ("rateLimited").
  [[nodiscard]] std::string_view short_type() const noexcept;
};

/// The failure of an ACME operation. Copyable value.
class error {
 public:
  error() = default;
  error(std::error_code code, std::string context, std::string detail = {},
        std::optional<acme::problem> p = {}, std::optional<std::chrono::seconds> retry_after = {});

  /// Why: an acme::errc (the problem's type, or moat's reason), or the transport's code.
  [[nodiscard]] std::error_code code() const noexcept { return code_; }
  /// What the client was doing, e.g. "newOrder https://ca.example/acme/new-order".
  [[nodiscard]] const std::string& context() const noexcept { return context_; }
  /// moat's explanation when there is no problem document (e.g. which member of the CA's
  /// JSON was missing); may be empty.
  [[nodiscard]] const std::string& detail() const noexcept { return detail_; }
  /// The CA's problem document, when it sent one.
  [[nodiscard]] const std::optional<acme::problem>& problem() const noexcept { return problem_; }
  /// The HTTP status of the CA's answer that failed; 0 when there was none (a transport
  /// failure, or moat's own reason).
  [[nodiscard]] int http_status() const noexcept { return http_status_; }
  /// Sets `http_status()`.
  void set_http_status(int status) noexcept { http_status_ = status; }
  /// How long the CA asked to wait (Retry-After), when it said.
  [[nodiscard]] std::optional<std::chrono::seconds> retry_after() const noexcept {
    return retry_after_;
  }
  /// True if the same request may succeed later without a change on the caller's side
  /// (rate limits, server errors, timeouts, validation that could not connect); false for a
  /// request the CA will keep refusing (malformed, rejected identifier, bad CSR, ...).
  [[nodiscard]] bool retryable() const noexcept;
  /// One line: "<context>: <problem type>: <problem detail>[; <identifier>: <subproblem>...]
  /// [(retry after N s)]", or without a problem "<context>: <code's message>[: <detail>]".
  [[nodiscard]] std::string message() const;

 private:
  std::error_code code_;
  std::string context_{};
  std::string detail_{};
  std::optional<acme::problem> problem_{};
  std::optional<std::chrono::seconds> retry_after_{};
  int http_status_ = 0;
};

/// Thrown by `result<T>::value()` on failure, and by the throwing conveniences.
class exception : public std::runtime_error {
 public:
  explicit exception(acme::error e) : std::runtime_error(e.message()), error_(std::move(e)) {}
  [[nodiscard]] const acme::error& error() const noexcept { return error_; }

 private:
  acme::error error_;
};

/// A value or the error that prevented it.
template <class T>
using result = boost::system::result<T, error>;

/// For boost::system::result: throws `exception`.
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

}  // namespace moat::acme

template <>
struct std::is_error_code_enum<moat::acme::errc> : std::true_type {};
