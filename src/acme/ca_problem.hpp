#pragma once
// Internal: how the CA refuses a request -- a problem (RFC 8555 section 6.7) thrown from the
// request-checking code and rendered as application/problem+json by the routes. No I/O.
#include <moat/acme/errors.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace moat::acme::detail {

/// A refusal: the problem type, the HTTP status RFC 8555 implies, a detail for people, and
/// subproblems per identifier.
class ca_failure : public std::runtime_error {
 public:
  ca_failure(errc code, std::string detail, int status = 0,
             std::vector<subproblem> subproblems = {});
  [[nodiscard]] errc code() const noexcept { return code_; }
  [[nodiscard]] int status() const noexcept { return status_; }
  [[nodiscard]] const std::vector<subproblem>& subproblems() const noexcept { return subs_; }
  /// badSignatureAlgorithm: the algorithms the CA accepts.
  std::vector<std::string> algorithms{};
  /// userActionRequired: the page the person must see ("instance").
  std::string instance{};
  /// Header fields the refusal carries (Link rel="terms-of-service", Location of a 409).
  std::vector<std::pair<std::string, std::string>> headers{};

 private:
  errc code_;
  int status_;
  std::vector<subproblem> subs_;
};

/// The HTTP status of a problem type when nothing else is said (400 for most, 403 for
/// unauthorized and orderNotReady, 409 alreadyReplaced, 500 serverInternal...).
[[nodiscard]] int default_status(errc code) noexcept;

/// "urn:ietf:params:acme:error:<name>".
[[nodiscard]] std::string problem_type(errc code);

/// The problem document of a failure (JSON text).
[[nodiscard]] std::string problem_json(const ca_failure& f);

/// A problem as it goes into a challenge's or an order's "error" member.
[[nodiscard]] problem make_problem(errc code, std::string detail,
                                   std::vector<subproblem> subs = {});

}  // namespace moat::acme::detail
