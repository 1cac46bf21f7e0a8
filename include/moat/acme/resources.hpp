#pragma once
/// @file
/// The ACME resources (RFC 8555 section 7.1) as the client sees them: directory, account,
/// order, authorization, challenge, and ACME Renewal Information (RFC 9773). Plain values,
/// parsed from the CA's JSON by the client; unknown members are ignored, missing required
/// ones are an errc::bad_response.
#include <chrono>
#include <map>
#include <moat/acme/errors.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::acme {

using sys_time = std::chrono::system_clock::time_point;

/// The status of an account, order, authorization or challenge (RFC 8555 section 7.1.6).
enum class object_status {
  pending,
  ready,
  processing,
  valid,
  invalid,
  deactivated,
  expired,
  revoked
};

/// "pending", "ready", ... Thread-safety: pure function.
[[nodiscard]] std::string_view to_string(object_status s) noexcept;

/// The directory: where everything is, and what the CA says about itself.
struct directory {
  std::string new_nonce{};
  std::string new_account{};
  std::string new_order{};
  std::string new_authz{};  ///< empty: pre-authorization not offered
  std::string revoke_cert{};
  std::string key_change{};
  std::string renewal_info{};  ///< empty: the CA does not offer ARI (RFC 9773)
  std::string terms_of_service{};
  std::string website{};
  std::vector<std::string> caa_identities{};
  bool external_account_required = false;
  /// The certificate profiles the CA offers (draft-ietf-acme-profiles): name → description.
  std::map<std::string, std::string> profiles{};
};

/// An account (RFC 8555 section 7.1.2).
struct account {
  std::string url{};  ///< the account URL, the JWS "kid"
  object_status status = object_status::valid;
  std::vector<std::string> contact{};
  std::string orders{};
};

/// One challenge of an authorization.
struct challenge {
  std::string type{};  ///< "http-01", "tls-alpn-01", "dns-01", or another the CA offers
  std::string url{};
  object_status status = object_status::pending;
  std::string token{};
  std::optional<sys_time> validated{};
  std::optional<problem> error{};
};

/// An authorization: the CA's record of proving control of one identifier.
struct authorization {
  std::string url{};
  identifier id{};
  object_status status = object_status::pending;
  std::optional<sys_time> expires{};
  bool wildcard = false;
  std::vector<challenge> challenges{};
};

/// An order (RFC 8555 section 7.1.3).
struct order {
  std::string url{};
  object_status status = object_status::pending;
  std::optional<sys_time> expires{};
  std::vector<identifier> identifiers{};
  std::vector<std::string> authorizations{};
  std::string finalize{};
  std::string certificate{};  ///< set once the order is valid
  std::string profile{};      ///< the profile the CA applies, when it says
  std::string replaces{};     ///< the ARI certificate ID this order replaces, when it says
  std::optional<problem> error{};
};

/// ACME Renewal Information for one certificate (RFC 9773 section 4.2).
struct renewal_info {
  sys_time window_start{};
  sys_time window_end{};
  std::string explanation_url{};
  /// When to ask again (the CA's Retry-After; 6 hours when it gave none).
  std::chrono::seconds retry_after{std::chrono::hours(6)};
  /// A time chosen uniformly at random inside the window (RFC 9773 section 4.2's advice),
  /// from `random_fraction` in [0, 1).
  [[nodiscard]] sys_time pick(double random_fraction) const;
};

/// Revocation reasons a subscriber may give (RFC 5280 section 5.3.1).
enum class revocation_reason : int {
  unspecified = 0,
  key_compromise = 1,
  affiliation_changed = 3,
  superseded = 4,
  cessation_of_operation = 5,
};

}  // namespace moat::acme
