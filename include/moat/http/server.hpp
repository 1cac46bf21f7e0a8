#pragma once
/// @file
/// A small HTTP/1.1 server on a supervised listener: keep-alive, pipelining, 100-continue,
/// explicit limits and timeouts on every phase of a request, graceful drain. Over TLS or
/// plain TCP.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <moat/http/errors.hpp>
#include <moat/http/message.hpp>
#include <moat/http/router.hpp>
#include <moat/server/listener.hpp>
#include <moat/tls/options.hpp>
#include <optional>
#include <string>
#include <vector>

namespace moat::http {

/// Server options. Every limit and timeout has a default; a request that breaks one gets the
/// status named below and the connection is closed.
struct server_options {
  /// The listener: name, addresses, workers, max_connections, shutdown_grace, proxy,
  /// logger... `listener.socket.send_timeout` bounds writing a response (30 s). The packet
  /// mode must stay raw. `listener.idle_timeout` is not used: keep_alive_timeout is.
  moat::server::listener_options listener;
  /// TLS options (certificate, key, ...); nullopt = plain TCP.
  std::optional<tls::options> tls;
  /// Request line and headers; beyond: 431.
  std::size_t max_header_bytes = 16 * 1024;
  /// Request body (also when chunked); beyond: 413 (at once when Content-Length says so).
  std::size_t max_body_bytes = 1024 * 1024;
  /// The whole request head must arrive within this, counted from the connection's start for
  /// its first request and from the first byte for the next ones (slowloris); else 408.
  std::chrono::milliseconds header_timeout{10000};
  /// The body must arrive within this of the end of the head; else 408.
  std::chrono::milliseconds body_timeout{30000};
  /// How long a connection may wait for its next request; then it is closed quietly.
  std::chrono::milliseconds keep_alive_timeout{60000};
  /// Requests served on one connection; the last one is answered with Connection: close.
  std::size_t max_requests_per_connection = 1000;
};

/// An HTTP server: owns a supervised listener whose connections read requests, run the
/// router's handlers and write the responses.
///
/// Construction validates the options and the TLS configuration and binds the addresses
/// (moat::config_error, or std::system_error for a bind failure) before any connection is
/// accepted. All member functions are thread-safe. The destructor stops the server (with the
/// listener's grace period); it must not run on one of the server's own threads.
class server {
 public:
  /// Validates `opts`, copies the routes and binds the addresses.
  server(server_options opts, router routes);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Starts accepting.
  void start();
  /// Graceful stop: no new connections; a request in progress is completed and answered
  /// with Connection: close; connections waiting for their next request are closed at once;
  /// the rest are closed when the grace period ends. Idempotent.
  void stop();
  /// Blocks until the server stops.
  void wait();

  /// The bound addresses (with the real ports when 0 was asked for).
  [[nodiscard]] std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;
  /// The listener's counters (accepted connections, bytes, ...).
  [[nodiscard]] moat::server::stats get_stats() const;
  /// The live connections.
  [[nodiscard]] std::vector<moat::server::connection_summary> connections() const;
  /// Whether the server speaks TLS.
  [[nodiscard]] bool is_tls() const noexcept;
  /// Validates `tls_opts` and uses it for every later handshake. Throws moat::config_error
  /// (keeping the old one) if it is invalid or the server is plain TCP.
  void reload(tls::options tls_opts);

  struct state;  // internal

 private:
  std::shared_ptr<state> state_;
  std::unique_ptr<moat::server::listener> listener_;
};

}  // namespace moat::http
