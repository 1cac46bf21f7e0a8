#pragma once
// Internal: the CA's state -- accounts, orders, authorizations, challenges, issued
// certificates, nonces -- and the status machine (RFC 8555 section 7.1.6). One mutex guards
// it all; it is never held across I/O. Accounts and certificates persist in the data
// directory (ca_store.cpp); orders, authorizations and challenges live in memory with expiry.
#include <boost/asio/any_io_executor.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <moat/acme/ca.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "acme/ca_keys.hpp"

namespace moat::acme::detail {

struct account_rec {
  std::string id{};
  std::vector<std::uint8_t> spki{};
  std::string jwk{};  // canonical JSON (RFC 7638)
  std::string thumbprint{};
  object_status status = object_status::valid;
  std::vector<std::string> contact{};
  std::string eab_key_id{};
  sys_time created{};
};

struct challenge_rec {
  std::string id{};
  std::string authz{};
  std::string type{};
  std::string token{};
  object_status status = object_status::pending;
  std::optional<sys_time> validated{};
  std::optional<problem> error{};
};

struct authz_rec {
  std::string id{};
  std::string account{};
  identifier ident{};  // without "*." for a wildcard
  bool wildcard = false;
  object_status status = object_status::pending;
  sys_time expires{};
  std::vector<std::string> challenges{};
};

struct order_rec {
  std::string id{};
  std::string account{};
  std::vector<identifier> identifiers{};
  std::vector<std::string> authzs{};
  object_status status = object_status::pending;
  sys_time expires{};
  std::string profile{};
  std::string replaces{};     // ARI certificate ID
  std::string certificate{};  // serial (hex) once valid
  std::optional<problem> error{};
};

struct cert_rec {
  std::string serial{};  // upper-case hex
  std::vector<std::uint8_t> serial_bytes{};
  std::string account{};  // empty: issued directly (ca::issue)
  std::vector<identifier> identifiers{};
  sys_time not_before{};
  sys_time not_after{};
  std::string ari_id{};
  std::vector<std::uint8_t> spki{};
  bool revoked = false;
  int reason = 0;
  sys_time revoked_at{};
  std::string replaced_by{};            // the order that replaced it (RFC 9773)
  std::optional<sys_time> renew_now{};  // ca::mark_for_renewal
  std::string chain_pem{};
};

/// Single-use nonces, at most `max` outstanding (the oldest forgotten first).
class nonce_store {
 public:
  explicit nonce_store(std::size_t max) : max_(max == 0 ? 1 : max) {}
  [[nodiscard]] std::string issue();
  /// True once for a nonce this store issued and has not forgotten.
  [[nodiscard]] bool consume(const std::string& nonce);

 private:
  std::size_t max_;
  std::unordered_set<std::string> live_{};
  std::deque<std::string> order_{};
};

/// A random identifier for URLs (base64url of 12 random bytes).
[[nodiscard]] std::string random_id();

/// Whether `name` is a DNS name the CA issues for: LDH labels of 1..63 characters (a single
/// label such as "localhost" too: a private CA), 253 characters at most, not all-numeric at the
/// end, lower case expected (compared case-insensitively); "*." in front for a wildcard (the rest
/// must follow the rule).
[[nodiscard]] bool valid_dns_name(std::string_view name);

}  // namespace moat::acme::detail

namespace moat::acme {

struct ca::state : std::enable_shared_from_this<ca::state> {
  state(boost::asio::any_io_executor e, ca_options o);

  ca_options opts;
  boost::asio::any_io_executor ex;
  std::shared_ptr<spdlog::logger> log;
  detail::ca_keys keys;
  std::filesystem::path accounts_dir;
  std::filesystem::path certs_dir;

  mutable std::mutex mu;
  detail::nonce_store nonces;
  std::string base_url;  // guarded by mu
  std::string prefix;    // set by mount
  std::map<std::string, detail::account_rec> accounts;
  std::map<std::string, std::string> account_by_thumbprint;
  std::map<std::string, detail::order_rec> orders;
  std::map<std::string, detail::authz_rec> authzs;
  std::map<std::string, detail::challenge_rec> challenges;
  std::map<std::string, detail::cert_rec> certs;  // by serial
  std::map<std::string, std::string> cert_by_ari;
  std::uint64_t crl_number = 0;
  sys_time last_collection{};
  /// Polls waiting for a validation in flight, by authorization id, then by waiter id: each
  /// wakes its poll. A poll removes its entry when it ends.
  std::map<std::string, std::map<std::uint64_t, std::function<void()>>> validation_waiters;
  std::uint64_t last_waiter_id = 0;
  ca_stats counters{};

  [[nodiscard]] sys_time now() const;
  [[nodiscard]] const ca_profile* find_profile(std::string_view name) const;

  // ---- status machine (call with mu held) ----
  /// Expires a pending/valid authorization past its time.
  void refresh(detail::authz_rec& a, sys_time t);
  /// Derives a pending/ready order's status from its authorizations and its expiry.
  void refresh(detail::order_rec& o, sys_time t);
  /// Drops orders, authorizations and challenges expired for a day (bounded memory); at
  /// most once a minute.
  void collect_garbage(sys_time t);

  // ---- persistence (ca_store.cpp; call with mu held) ----
  void load_records();
  void save(const detail::account_rec& a) const;
  void save(const detail::cert_rec& c) const;
};

}  // namespace moat::acme
