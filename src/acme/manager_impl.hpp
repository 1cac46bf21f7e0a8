#pragma once
// Internals of acme::manager shared by its files: manager.cpp (the object, the selector, the
// state listeners read), manager_store.cpp (what it keeps in the storage and how it checks
// it), manager_loop.cpp (the schedule: load, obtain, renew, retry).

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>
#include <moat/acme/manager.hpp>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace moat::acme {

namespace manager_detail {

/// A certificate with its key, as stored and served.
struct bundle {
  std::vector<pki::certificate> chain{};  // leaf first
  pki::private_key key{};
  /// The profile asked for when it was obtained; nullopt when unknown (its metadata was not
  /// stored: a crash between the writes), which is not taken for a change of profile.
  std::optional<std::string> profile{};
  [[nodiscard]] const pki::certificate& leaf() const { return chain.front(); }
};

/// The names of the manager_options as ACME identifiers: IP addresses in their canonical
/// form, DNS names lower-cased. Throws moat::config_error naming the bad entry.
[[nodiscard]] std::vector<identifier> parse_domains(const std::vector<std::string>& domains);

/// The certificate's SANs ("DNS:x", "IP:y") for `ids`, sorted.
[[nodiscard]] std::vector<std::string> san_entries(const std::vector<identifier>& ids);

/// Whether `leaf` names exactly `ids` (no more, no fewer).
[[nodiscard]] bool names_match(const pki::certificate& leaf, const std::vector<identifier>& ids);

/// Whether a host name asked for in SNI is covered by one of `ids` (wildcards cover one label).
[[nodiscard]] bool covers(const std::vector<identifier>& ids, std::string_view host);

/// The storage segment for a directory URL ("local" for the in-process CA).
[[nodiscard]] std::string issuer_segment(std::string_view directory_url);
/// The storage segment for a name ("*.example.com" -> "wildcard_.example.com").
[[nodiscard]] std::string name_segment(std::string_view name);

/// Where things live in the storage for one manager.
struct layout {
  std::string account_key;  // accounts/<issuer>/<account>/account.key
  std::string cert;         // certificates/<issuer>/<name>/<name>.crt
  std::string key;          // .key
  std::string meta;         // .json
  std::string lock;         // the lock name for obtaining
};
[[nodiscard]] layout make_layout(std::string_view issuer, std::string_view account,
                                 std::string_view name);

/// The stored values of a bundle (chain PEM, key PEM, metadata JSON).
struct stored_values {
  std::string cert;
  std::string key;
  std::string meta;
};
[[nodiscard]] stored_values encode(const bundle& b, const std::vector<identifier>& ids,
                                   std::string_view directory_url, sys_time now);
/// The bundle from stored values, checked: a parsable chain, a key matching the leaf.
/// Throws std::runtime_error saying what is wrong. `meta` may be empty (older stores).
[[nodiscard]] bundle decode(const stored_values& v);

/// A self-signed certificate for `ids`, served until the CA's arrives.
[[nodiscard]] bundle temporary_bundle(const std::vector<identifier>& ids,
                                      std::chrono::seconds lifetime);

}  // namespace manager_detail

/// The certificate listeners present now.
struct manager_served {
  tls::certificate_set set;
  pki::certificate leaf;
  bool temporary = true;
  std::optional<std::string> profile;  // the profile it was obtained with, when known
};

struct manager::impl : std::enable_shared_from_this<manager::impl> {
  impl(boost::asio::any_io_executor ex, manager_options o);
  ~impl();

  // ---- Set up (manager.cpp) ----
  void start_local_ca();  // with directory "local": the CA and its loopback HTTPS server
  [[nodiscard]] sys_time now() const;
  [[nodiscard]] std::vector<solver*> solvers_for_attempt() const;

  // ---- What listeners see (manager.cpp), any thread ----
  [[nodiscard]] std::shared_ptr<const manager_served> served() const;
  /// Puts `b` in service (`temporary`: the self-signed one). Runs on the executor.
  void install(const manager_detail::bundle& b, bool temporary);
  void emit(manager_event e);
  [[nodiscard]] manager_stats stats() const;
  /// Wakes every wait_certificate() to look again. On the executor.
  void wake_waiters();

  // ---- The schedule (manager_loop.cpp), on the executor ----
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> prepare();
  /// One look at the certificate; returns when to look again.
  boost::asio::awaitable<sys_time> step();
  /// Obtains or renews under the storage lock; the error of the attempt, if any.
  boost::asio::awaitable<std::optional<error>> obtain_locked(bool renewal);
  boost::asio::awaitable<std::optional<error>> obtain(bool renewal);
  boost::asio::awaitable<std::optional<manager_detail::bundle>> load_stored();
  /// Writes `b` (key, chain, metadata) and the backup; the storage's error, if any.
  boost::asio::awaitable<std::optional<error>> persist(const manager_detail::bundle& b);
  /// Creates the ACME client with the stored account key (made and stored first when
  /// `create` and there is none). nullopt when the client exists after it.
  boost::asio::awaitable<std::optional<error>> ensure_client(bool create);
  boost::asio::awaitable<std::optional<renewal_info>> fetch_renewal_info(pki::certificate leaf);
  /// Whether `b` may replace what is in service: valid now, the names asked for, and newer.
  [[nodiscard]] bool adoptable(const manager_detail::bundle& b, sys_time t) const;
  template <class F>
  void update_stats(F&& f) {
    const std::lock_guard lock(mu_);
    f(stats_);
  }
  boost::asio::awaitable<void> sleep_until(sys_time t);
  /// The failed attempt's bookkeeping: event, log, stats; returns the retry time.
  sys_time failed(const error& e, bool renewal);

  boost::asio::any_io_executor ex_;
  manager_options opts_;
  std::vector<identifier> ids_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<acme::storage> storage_;
  std::optional<std::filesystem::path> backup_;
  std::string directory_url_;
  manager_detail::layout layout_;

  std::unique_ptr<http01_responder> http01_;
  std::unique_ptr<tls_alpn01_responder> alpn_;
  std::unique_ptr<acme::ca> local_ca_;
  std::unique_ptr<acme::ca_server> local_server_;
  std::unique_ptr<acme::client> client_;

  manager_detail::bundle temporary_;  // the self-signed certificate served until the CA's

  mutable std::mutex mu_;  // guards served_ and stats_
  std::shared_ptr<const manager_served> served_;
  manager_stats stats_;

  boost::asio::steady_timer wake_;
  std::list<boost::asio::steady_timer*> waiters_;  // wait_certificate()s
  std::atomic<bool> started_{false};
  bool stopping_ = false;         // on the executor
  bool renew_requested_ = false;  // renew_now(): renew even if not due
  /// Set when a new certificate was due on arrival: no scheduled renewal before then.
  std::optional<std::chrono::steady_clock::time_point> hold_renewals_until_;
  unsigned failures_ = 0;                          // consecutive
  std::optional<manager_detail::bundle> unsaved_;  // in service, not stored yet (storage failed)
  std::string expiring_announced_;  // serial of the certificate announced as expiring soon
  std::mt19937_64 rng_;
};

}  // namespace moat::acme
