#pragma once
/// @file
/// A supervised TLS (or plain TCP) listener: acceptor pools on every core (one SO_REUSEPORT socket
/// and one io_context per worker, share-nothing), one isolated handler per connection, an exact
/// global connection limit, handshake and idle timeouts, graceful drain and certificate hot reload.
/// Ranch and the OTP recipe, in C++.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <moat/server/connection.hpp>
#include <moat/tls/options.hpp>
#include <moat/tls/socket.hpp>
#include <string>
#include <variant>
#include <vector>

namespace spdlog {
class logger;
}

namespace moat::server {

/// The coroutine style: owns the connection until it returns. Returning ends the connection
/// normally (close_notify, not logged); throwing ends it abnormally (the peer gets an
/// internal_error alert, the log one line with the exception text).
using coroutine_handler = std::function<boost::asio::awaitable<void>(connection&)>;
/// The event style: a factory making one event_handler per connection.
using event_handler_factory = std::function<std::unique_ptr<event_handler>()>;
/// Either style.
using handler = std::variant<coroutine_handler, event_handler_factory>;

/// Chooses plain TCP for a listener: `listener(opts, plain_tcp, handler)`. A plain listener
/// has no handshake (the handler runs as soon as the connection is accepted, after the PROXY
/// header if any) and nothing to reload; everything else -- limits, drain, idle timeout,
/// stats, logging -- works as over TLS.
struct plain_tcp_t {
  explicit plain_tcp_t() = default;
};
/// The plain_tcp_t value.
inline constexpr plain_tcp_t plain_tcp{};

/// Which PROXY protocol header (from a load balancer) precedes the TLS handshake.
enum class proxy_protocol { none, v1, v2, any };

/// Listener options (Ranch's transport and protocol options).
struct listener_options {
  std::string name = "moat";                              ///< for logs and stats
  std::vector<boost::asio::ip::tcp::endpoint> addresses;  ///< IPv4 and IPv6, several at once
  unsigned workers = 0;                                   ///< acceptor/io threads; 0 = one per core
  /// Exact and global: a connection exists only while it holds one of these slots. An
  /// acceptor that finds none waits for one (first come, first served) and accepts nothing
  /// meanwhile, so the excess waits in the kernel's backlog; no client waits while a slot is
  /// free.
  std::size_t max_connections = 16384;
  /// TLS: the whole handshake; plain TCP: only the PROXY header, if any.
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds idle_timeout{0};        ///< 0 = none; else recv without data closes
  std::chrono::milliseconds shutdown_grace{10000};  ///< drain time on stop()
  int backlog = 1024;
  tls::socket_options socket{};  ///< packet mode, send timeout and socket options of connections
  proxy_protocol proxy = proxy_protocol::none;
  /// Accept failures other than descriptor/memory exhaustion tolerated per period before the
  /// listener stops loudly (OTP's supervisor intensity/period).
  unsigned restart_intensity = 10;
  std::chrono::milliseconds restart_period{10000};
  /// Where the listener logs (start, stop, failed handshakes, abnormal ends); null = the logger
  /// named "moat" (moat::default_logger()).
  std::shared_ptr<spdlog::logger> logger;
};

/// Counters of a listener. A snapshot; thread-safe to take.
struct stats {
  std::size_t active = 0;        ///< connections now (handshaking or established)
  std::uint64_t accepted = 0;    ///< TCP connections accepted
  std::uint64_t handshakes = 0;  ///< successful handshakes (none on a plain TCP listener)
  std::uint64_t handshake_failures = 0;
  std::map<std::string, std::uint64_t> handshake_failures_by_reason;  ///< reason_name → count
  std::uint64_t handler_failures = 0;                                 ///< handlers that threw
  std::uint64_t bytes_in = 0;   ///< application bytes received
  std::uint64_t bytes_out = 0;  ///< application bytes sent
  std::size_t max_connections = 0;
  bool accepting = false;
};

/// One live connection, for listings.
struct connection_summary {
  std::uint64_t id = 0;
  boost::asio::ip::tcp::endpoint peer;
  std::chrono::milliseconds age{0};
  std::string state;        ///< "handshake", "established", "closing"
  std::string tls_version;  ///< empty on a plain TCP listener (and before the handshake)
  std::string cipher;       ///< likewise
  std::string sni;          ///< likewise
};

/// A running listener. Construction validates everything (TLS options, files, addresses) and
/// binds the sockets, throwing moat::config_error (or std::system_error for a bind failure)
/// before any connection is accepted; start() begins accepting. All member functions are
/// thread-safe. The destructor stops it (with the grace period); it must not run on one of
/// the listener's own threads (a handler).
class listener {
 public:
  /// A TLS listener.
  listener(listener_options opts, tls::options tls_opts, handler h);
  /// A plain TCP listener (see plain_tcp_t).
  listener(listener_options opts, plain_tcp_t, handler h);
  ~listener();
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// Starts the workers and accepting.
  void start();
  /// Stops accepting (connections go on); new clients wait in the backlog.
  void suspend();
  /// Accepts again.
  void resume();
  /// Graceful stop: stop accepting, let connections finish within the grace period, then
  /// close the rest with close_notify; joins the workers. Idempotent. Called from a handler
  /// (one of the listener's own threads), it starts the stop on another thread and returns at
  /// once; wait() or the destructor sees it through. Handlers that ignore the drain are
  /// destroyed (their coroutine frames unwound) 3 s after the grace period.
  void stop();
  /// Blocks until the listener stops (by stop() or because it failed).
  void wait();
  /// Why the listener stopped on its own (empty if it did not).
  [[nodiscard]] std::string failure() const;

  /// Changes the connection limit at run time (takes effect for the next accepts).
  void set_max_connections(std::size_t n);
  /// Validates `tls_opts` and uses it for every later handshake; live connections keep theirs.
  /// Throws moat::config_error and keeps the old configuration if the new one is invalid, or
  /// if this is a plain TCP listener.
  void reload(tls::options tls_opts);

  /// listener_options::name.
  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] stats get_stats() const;
  [[nodiscard]] std::vector<connection_summary> connections() const;
  /// The bound addresses (with the real ports when 0 was asked for).
  [[nodiscard]] std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;
  /// Whether connections use TLS (false for a plain TCP listener).
  [[nodiscard]] bool is_tls() const noexcept;
  /// The current TLS context (for its summary). Throws std::logic_error on a plain TCP
  /// listener.
  [[nodiscard]] tls::context context() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace moat::server
