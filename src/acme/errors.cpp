#include <array>
#include <moat/acme/errors.hpp>
#include <moat/acme/storage.hpp>
#include <moat/http/errors.hpp>
#include <moat/tls/errors.hpp>
#include <utility>

namespace moat::acme {

namespace {

constexpr std::string_view urn_prefix = "urn:ietf:params:acme:error:";

struct entry {
  errc code;
  std::string_view name;     // the problem type's name, or moat's reason
  std::string_view message;  // distinct for every code
};

constexpr std::array<entry, 40> table = {{
    {errc::account_does_not_exist, "accountDoesNotExist", "the CA has no account for this key"},
    {errc::already_replaced, "alreadyReplaced",
     "the certificate named in replaces was already replaced"},
    {errc::already_revoked, "alreadyRevoked", "the certificate is already revoked"},
    {errc::bad_csr, "badCSR", "the CA refused the certificate signing request"},
    {errc::bad_nonce, "badNonce", "the CA refused the request's anti-replay nonce"},
    {errc::bad_public_key, "badPublicKey", "the CA refused the public key"},
    {errc::bad_revocation_reason, "badRevocationReason", "the CA refused the revocation reason"},
    {errc::bad_signature_algorithm, "badSignatureAlgorithm",
     "the CA does not accept the signature algorithm"},
    {errc::caa, "caa", "a CAA record forbids this CA to issue for the identifier"},
    {errc::compound, "compound", "several problems (see the subproblems)"},
    {errc::connection, "connection", "the CA could not connect to validate the challenge"},
    {errc::dns, "dns", "the CA's DNS lookup for the challenge failed"},
    {errc::external_account_required, "externalAccountRequired",
     "the CA requires an external account binding (EAB key id and HMAC key)"},
    {errc::incorrect_response, "incorrectResponse",
     "the CA received a wrong answer to the challenge"},
    {errc::invalid_contact, "invalidContact", "the CA refused a contact address"},
    {errc::invalid_profile, "invalidProfile", "the CA does not offer the profile asked for"},
    {errc::malformed, "malformed", "the CA found the request malformed"},
    {errc::order_not_ready, "orderNotReady", "the order is not ready to be finalized"},
    {errc::rate_limited, "rateLimited", "the CA's rate limit was reached"},
    {errc::rejected_identifier, "rejectedIdentifier", "the CA will not issue for the identifier"},
    {errc::server_internal, "serverInternal", "the CA had an internal error"},
    {errc::tls, "tls", "the CA's TLS connection for the challenge failed"},
    {errc::unauthorized, "unauthorized", "the CA did not authorize the request"},
    {errc::unsupported_contact, "unsupportedContact",
     "the CA does not support the contact's scheme"},
    {errc::unsupported_identifier, "unsupportedIdentifier",
     "the CA does not support the identifier's type"},
    {errc::user_action_required, "userActionRequired",
     "the CA requires an action by a person (see the problem's instance)"},
    {errc::unknown_problem, "unknownProblem", "the CA reported a problem of an unknown type"},
    {errc::bad_response, "bad_response", "the CA's answer does not follow RFC 8555"},
    {errc::no_nonce, "no_nonce", "the CA gave no Replay-Nonce"},
    {errc::http_status, "http_status", "the CA answered with an error status and no problem"},
    {errc::deadline_exceeded, "deadline_exceeded", "the ACME operation's deadline passed"},
    {errc::authorization_failed, "authorization_failed",
     "the CA could not validate control of an identifier"},
    {errc::order_failed, "order_failed", "the order became invalid"},
    {errc::no_usable_challenge, "no_usable_challenge",
     "the CA offered no challenge type that a solver was given for"},
    {errc::solver_failed, "solver_failed", "presenting the challenge failed"},
    {errc::not_supported_by_ca, "not_supported_by_ca", "the CA's directory does not offer this"},
    {errc::terms_not_agreed, "terms_not_agreed",
     "the CA has terms of service and they were not agreed to"},
    {errc::no_account, "no_account", "no ACME account yet (register it first)"},
    {errc::invalid_request, "invalid_request", "the request cannot be sent as it is"},
    {errc::certificate_mismatch, "certificate_mismatch",
     "the certificate issued does not match the key or the order"},
}};

const entry* find(int v) noexcept {
  for (const auto& e : table) {
    if (static_cast<int>(e.code) == v) return &e;
  }
  return nullptr;
}

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.acme"; }
  std::string message(int v) const override {
    const entry* e = find(v);
    return e != nullptr ? std::string(e->message) : "unknown moat.acme error";
  }
  std::error_condition default_error_condition(int v) const noexcept override {
    switch (static_cast<errc>(v)) {
      case errc::deadline_exceeded:
        return std::errc::timed_out;
      case errc::bad_response:
        return std::errc::bad_message;
      case errc::connection:
        return std::errc::connection_refused;
      case errc::invalid_request:
        return std::errc::invalid_argument;
      case errc::not_supported_by_ca:
        return std::errc::not_supported;
      case errc::unauthorized:
        return std::errc::permission_denied;
      default:
        return {v, *this};
    }
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

std::string_view reason_name(errc e) noexcept {
  const entry* x = find(static_cast<int>(e));
  return x != nullptr ? x->name : std::string_view("unknown");
}

errc problem_code(std::string_view type) noexcept {
  if (!type.starts_with(urn_prefix)) return errc::unknown_problem;
  type.remove_prefix(urn_prefix.size());
  for (const auto& e : table) {
    if (e.code <= errc::user_action_required && e.name == type) return e.code;
  }
  return errc::unknown_problem;
}

std::string_view problem::short_type() const noexcept {
  std::string_view t = type;
  if (t.starts_with(urn_prefix)) t.remove_prefix(urn_prefix.size());
  return t;
}

error::error(std::error_code code, std::string context, std::string detail,
             std::optional<acme::problem> p, std::optional<std::chrono::seconds> retry_after)
    : code_(code),
      context_(std::move(context)),
      detail_(std::move(detail)),
      problem_(std::move(p)),
      retry_after_(retry_after) {}

bool error::retryable() const noexcept {
  if (code_.category() == category()) {
    switch (static_cast<errc>(code_.value())) {
      case errc::bad_nonce:
      case errc::rate_limited:
      case errc::server_internal:
      case errc::connection:
      case errc::dns:
      case errc::tls:
      case errc::incorrect_response:
      case errc::bad_response:
      case errc::no_nonce:
      case errc::deadline_exceeded:
      case errc::solver_failed:
        return true;
      case errc::http_status:
        // A server error, a timeout or a rate limit may pass; 401, 403, 404 will not.
        return http_status_ == 0 || http_status_ >= 500 || http_status_ == 408 ||
               http_status_ == 429;
      case errc::authorization_failed:
      case errc::order_failed:
        // As the problem inside says (a CAA record or a rejected identifier stays so); a
        // validation that failed without one may pass on another try.
        if (problem_ && !problem_->subproblems.empty()) {
          return error(errc::compound, {}, {}, problem_).retryable();
        }
        if (problem_ && problem_code(problem_->type) != errc::unknown_problem) {
          return error(problem_code(problem_->type), {}).retryable();
        }
        return true;
      case errc::compound:
        // Retryable if every part is (a compound of validation failures, say).
        if (problem_ && !problem_->subproblems.empty()) {
          for (const auto& s : problem_->subproblems) {
            if (!error(make_error_code(problem_code(s.type)), {}).retryable()) return false;
          }
          return true;
        }
        return false;
      default:
        return false;
    }
  }
  // Storage: a full disk or an I/O error may pass, a lock may be free later; a bad key, a
  // missing value or a corrupt archive stay so.
  if (code_.category() == storage_category()) {
    const auto e = static_cast<storage_errc>(code_.value());
    return e == storage_errc::io_failed || e == storage_errc::no_space ||
           e == storage_errc::lock_timeout || e == storage_errc::lock_lost;
  }
  // Transport: timeouts, refused and reset connections, a TLS failure of the CA's endpoint.
  // A certificate that does not verify will not verify on the next try either.
  if (code_.category() == tls::category()) {
    const auto e = static_cast<tls::errc>(code_.value());
    return e == tls::errc::connect_timeout || e == tls::errc::handshake_timeout ||
           e == tls::errc::recv_timeout || e == tls::errc::send_timeout || e == tls::errc::closed ||
           e == tls::errc::truncated || e == tls::errc::not_connected;
  }
  if (code_.category() == http::category()) {
    const auto e = static_cast<http::errc>(code_.value());
    return e == http::errc::timeout || e == http::errc::closed_early;
  }
  return true;  // the system's: refused, reset, unreachable, not found...
}

std::string error::message() const {
  std::string out = context_;
  if (!out.empty()) out += ": ";
  if (problem_) {
    out += problem_->short_type().empty() ? std::string_view("problem") : problem_->short_type();
    if (!problem_->detail.empty()) {
      out += ": ";
      out += problem_->detail;
    } else {
      out += ": ";
      out += code_.message();
    }
    for (const auto& s : problem_->subproblems) {
      out += "; ";
      if (s.id) out += s.id->value + ": ";
      const std::string_view t = std::string_view(s.type).substr(
          std::string_view(s.type).starts_with(urn_prefix) ? urn_prefix.size() : 0);
      out += t;
      if (!s.detail.empty()) out += ": " + s.detail;
    }
  } else {
    out += code_.message();
    if (!detail_.empty()) out += ": " + detail_;
  }
  if (retry_after_) out += " (retry after " + std::to_string(retry_after_->count()) + " s)";
  return out;
}

void throw_exception_from_error(const error& e, const boost::source_location&) {
  throw exception(e);
}

}  // namespace moat::acme
