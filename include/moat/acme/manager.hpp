#pragma once
/// @file
/// The certificate manager: keeps one certificate for a set of names obtained, stored and
/// renewed through ACME, and serves it to TLS listeners with hot swaps -- site_encrypt's
/// porcelain and Caddy's automatic HTTPS, inside your process.
///
/// - **At start** it loads the stored certificate, or restores the storage from its backup
///   archive when the storage is empty, and obtains a certificate when there is none, when
///   it has expired or when its names are not the names asked for. Until one is issued the
///   listeners present a temporary self-signed certificate for the names, so they never
///   fail for want of one.
/// - **Renewal** follows the CA's ACME Renewal Information (RFC 9773) when it offers it (a
///   random time inside the suggested window, asked again after its Retry-After), else
///   starts when a third of the lifetime is left (half, for certificates of ten days or
///   less). The certificate is looked at at least twice a day, with jitter. A failure is
///   retried after 1 minute, 10 minutes, 100 minutes, then every 6 hours; each attempt is
///   logged with the reason and the next time.
/// - **Every new certificate** is stored (atomically), backed up, swapped into every
///   listener using `selector()` (no handshake fails during the swap) and announced by an
///   event. Expiry and failures show in `stats()`.
/// - **Several processes** sharing one storage obtain once: the work runs under the
///   storage's lock for the certificate, and a process adopts what another stored.
/// - **Challenges:** the manager answers HTTP-01 through `http01_handler()` (mount it on your
///   port-80 server) and TLS-ALPN-01 through `selector()` (list "acme-tls/1" in the
///   listener's ALPN), plus any solvers you add (DNS-01 for wildcards). When a challenge type
///   fails, the next attempt prefers another.
///
/// ## Storage layout (keys of `acme::storage`)
///     accounts/<issuer>/<account>/account.key   the ACME account key (PEM, 0600 on disk)
///     certificates/<issuer>/<name>/<name>.crt   the chain, leaf first (PEM)
///     certificates/<issuer>/<name>/<name>.key   its private key (PEM)
///     certificates/<issuer>/<name>/<name>.json  what the manager knows about it
/// `<issuer>` is "local" or the directory URL's host and path ("acme-v02.api.letsencrypt.org-
/// directory"); `<account>` the first e-mail address or "default"; `<name>` the first name
/// ("*.example.com" becomes "wildcard_.example.com").
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <moat/acme/ca.hpp>
#include <moat/acme/client.hpp>
#include <moat/acme/errors.hpp>
#include <moat/acme/resources.hpp>
#include <moat/acme/solver.hpp>
#include <moat/acme/storage.hpp>
#include <moat/http/router.hpp>
#include <moat/pki/certificate.hpp>
#include <moat/pki/key.hpp>
#include <moat/tls/options.hpp>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace moat::acme {

/// Let's Encrypt's production directory (`manager_options::directory = "production"`).
inline constexpr std::string_view letsencrypt_production =
    "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`"staging"`): untrusted certificates, generous limits.
inline constexpr std::string_view letsencrypt_staging =
    "https://acme-staging-v02.api.letsencrypt.org/directory";

/// What happened to the managed certificate.
enum class manager_event_kind {
  obtaining,      ///< an order starts (first certificate or renewal; see `renewal`)
  obtained,       ///< the first certificate from the CA is in service
  renewed,        ///< a renewed certificate is in service (also one another process stored)
  failed,         ///< an attempt failed: see `error` and `next_attempt`
  expiring_soon,  ///< the certificate in service has less than a sixth of its life left
};

/// "obtaining", "obtained", ... Thread-safety: pure function.
[[nodiscard]] std::string_view to_string(manager_event_kind k) noexcept;

/// One event, as `manager_options::on_event` receives it.
struct manager_event {
  manager_event_kind kind = manager_event_kind::obtaining;
  std::vector<identifier> identifiers{};
  bool renewal = false;     ///< obtaining / failed: renewing a certificate from the CA
  unsigned attempt = 0;     ///< obtaining / failed: 1 for the first attempt since the last success
  pki::certificate leaf{};  ///< obtained / renewed / expiring_soon: the certificate
  std::optional<acme::error> error{};  ///< failed: why
  sys_time next_attempt{};             ///< failed: when the manager tries again
  sys_time renew_at{};                 ///< obtained / renewed: when renewal is planned
};

/// The manager's state, as `stats()` reports it.
struct manager_stats {
  std::vector<identifier> identifiers{};
  /// What listeners present now: a certificate from the CA (`temporary` false), the
  /// temporary self-signed one, or nothing before `start`.
  bool temporary = true;
  std::optional<pki::certificate> leaf{};
  std::optional<sys_time> not_after{};
  bool expiring_soon = false;
  std::optional<sys_time> renew_at{};  ///< the planned renewal, once there is a certificate
  bool renew_from_ari = false;         ///< renew_at came from the CA's renewal information
  std::optional<sys_time> next_check{};
  std::uint64_t obtained = 0;  ///< certificates obtained by this manager (first or renewal)
  std::uint64_t renewed = 0;   ///< of which renewals (and adoptions of another process's)
  std::uint64_t failures = 0;  ///< attempts failed since start
  unsigned consecutive_failures = 0;
  std::optional<acme::error> last_error{};
  std::optional<sys_time> next_attempt{};  ///< after a failure: the retry
};

/// Manager options. Only `domains` is required (and `local_ca.data_dir` with "local").
struct manager_options {
  /// The names to certify, in one certificate: DNS names ("example.com", "*.example.com"
  /// with a DNS-01 solver) and IP addresses ("192.0.2.1", "2001:db8::1"). The first is the
  /// storage name and the CN.
  std::vector<std::string> domains{};
  /// Contact addresses for the account ("ops@example.com"; "mailto:" is added).
  std::vector<std::string> emails{};
  /// "production" (Let's Encrypt), "staging" (Let's Encrypt staging), "local" (an in-process
  /// acme::ca served on loopback: site_encrypt's development mode), or a directory URL.
  std::string directory{"production"};
  /// A profile the CA offers ("shortlived", ...); empty = the CA's default.
  std::string profile{};
  /// The certificate's key type (a fresh key for every certificate).
  pki::key_type key_type = pki::key_type::ecdsa_p256;
  /// Where to keep accounts and certificates: a storage you own (it must outlive the
  /// manager), or else a file_storage on `storage_dir`.
  std::shared_ptr<acme::storage> storage{};
  std::filesystem::path storage_dir{};
  /// The backup archive written after each new certificate (0600) and restored at start when
  /// the storage holds nothing. Default with `storage_dir`: "<storage_dir>.backup.tar";
  /// with your own storage: none unless set.
  std::optional<std::filesystem::path> backup_file{};
  /// The ACME client: trust for a private CA (`client.http.tls.cacerts`), EAB, timeouts.
  /// `directory_url`, `contact` and `account_key` are the manager's.
  client_options client{};
  /// Challenge types the manager answers itself, in order of preference: "http-01" (through
  /// `http01_handler()`) and "tls-alpn-01" (through `selector()`).
  std::vector<std::string> challenges{"http-01", "tls-alpn-01"};
  /// Further solvers, preferred to the manager's own (e.g. a dns01_solver for wildcards).
  /// Not owned: they must outlive the manager.
  std::vector<solver*> solvers{};
  /// With directory "local": the in-process CA (data_dir required; the ports and hosts its
  /// validations connect to). The manager trusts its root itself.
  ca_options local_ca{};
  /// One order, from the new order to the downloaded certificate.
  std::chrono::milliseconds order_timeout{std::chrono::minutes(5)};
  /// How long to wait for another process's lock on the certificate.
  std::chrono::milliseconds lock_timeout{std::chrono::minutes(10)};
  /// Lifetime of the temporary self-signed certificate.
  std::chrono::seconds temporary_lifetime{std::chrono::days(7)};
  /// The clock of the schedule; empty = the system clock. Waits are steady-clock timers
  /// for the time between this clock's now and the target.
  std::function<sys_time()> clock{};
  /// Receives every event, on the manager's executor; it must not block.
  std::function<void(const manager_event&)> on_event{};
  /// Where the manager logs each attempt, success and failure (with the next time);
  /// null = moat::default_logger().
  std::shared_ptr<spdlog::logger> logger{};
};

/// Keeps one certificate for `domains` obtained and renewed.
///
/// Ownership: the manager owns its ACME client, its responders, the temporary certificate
/// and (with "local") the in-process CA and its loopback HTTPS server. Its background work
/// keeps its state alive until it ends; destroying the manager stops it.
/// Thread-safety: `selector()`'s selector, `http01_handler()`'s handler, `current()` and
/// `stats()` may be used from any thread (listeners call them on every core); the other
/// members run on, or are called from, the executor given at construction, which must be
/// running (e.g. a dedicated io_context thread).
class manager {
 public:
  /// Checks the options (throws moat::config_error naming the option and the reason) and
  /// makes the temporary certificate; no I/O yet.
  manager(boost::asio::any_io_executor ex, manager_options opts);
  ~manager();
  manager(const manager&) = delete;
  manager& operator=(const manager&) = delete;

  /// Starts the background work (restore, load, obtain, renew). Call once; from any thread.
  /// Until the first certificate is loaded or obtained `current()` is the temporary one.
  void start();
  /// Stops the background work: no new attempt starts; one in flight ends with its
  /// deadline or when the executor stops. From any thread; idempotent.
  void stop();
  /// Starts a renewal now (for operators, and to test rotation), even if not due; tried
  /// once, then the schedule decides. From any thread.
  void renew_now();
  /// Measures the schedule against the clock now rather than at the next wake-up (at most a
  /// minute away): after the system clock jumped, or in tests that move `clock`. Nothing is
  /// done before its time. From any thread.
  void check_schedule();

  /// Waits until a certificate from the CA is in service (at once when one is) or
  /// `timeout` passes: its leaf, or the last attempt's error (errc::deadline_exceeded when
  /// none failed yet). Run it on the manager's executor.
  [[nodiscard]] boost::asio::awaitable<result<pki::certificate>> wait_certificate(
      std::chrono::milliseconds timeout);

  /// A certificate selector for a TLS listener (`tls::options::select_certificate`):
  /// answers TLS-ALPN-01 validations and otherwise presents the current certificate --
  /// or, for an SNI name not among `domains` when `next` is given, `next`'s choice. The
  /// manager must outlive the listener.
  [[nodiscard]] tls::certificate_selector selector(tls::certificate_selector next = {});
  /// `base` made ready for a listener the manager certifies: `select_certificate` is this
  /// manager's selector (base's own, if any, as `next`), "acme-tls/1" is added to `alpn`
  /// when TLS-ALPN-01 is answered, and without a certificate of its own `cert`/`key` are the
  /// temporary certificate (what a ClientHello moat cannot read gets). The usual way:
  /// `server::listener l(lo, mgr.tls_options(), handler);`.
  [[nodiscard]] tls::options tls_options(tls::options base = {});
  /// The HTTP-01 route: mount it with `router.add_prefix(http01_responder::path_prefix, h)`.
  [[nodiscard]] http::route_handler http01_handler();

  /// What listeners present now (the temporary certificate until one is loaded or obtained).
  [[nodiscard]] tls::certificate_set current() const;
  [[nodiscard]] manager_stats stats() const;
  /// With directory "local": the in-process CA's root certificate (what clients trust);
  /// empty otherwise.
  [[nodiscard]] pki::certificate local_root() const;
  /// The directory URL in use (for "local", known after `start`).
  [[nodiscard]] std::string directory_url() const;

  struct impl;  // internal

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace moat::acme
