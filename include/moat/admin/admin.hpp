#pragma once
/// @file
/// The admin endpoint of a service: what its listeners, certificates and ACME managers are
/// doing, over HTTP, for people and for Prometheus.
///
///   GET /metrics       Prometheus text format (listeners, certificates, ACME, the process)
///   GET /status.json   the same state as JSON: listeners with their limits and live
///                      connections, handshake failures by reason, certificates with their
///                      expiry, the ACME manager, recent events
///   GET /              a status page (plain HTML, no external assets) that polls
///                      /status.json and redraws itself
///
/// Loopback only unless told otherwise, and optionally behind a bearer token.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace spdlog {
class logger;
namespace sinks {
class sink;
}
}  // namespace spdlog
namespace moat::server {
class listener;
}
namespace moat::acme {
class manager;
}

namespace moat::admin {

struct options {
  /// Where to listen (plain HTTP). Required.
  std::vector<boost::asio::ip::tcp::endpoint> addresses;
  /// Whether a non-loopback address is allowed. Without it one is a moat::config_error: the
  /// endpoint shows peers' addresses and names, which are not for everyone.
  bool allow_remote = false;
  /// When set, every request must carry `Authorization: Bearer <token>` (401 otherwise).
  std::string bearer_token;
  /// Events the status page lists (the latest first).
  std::size_t recent_events = 50;
  /// Where the endpoint logs (its start, refused requests); null = the "moat" logger.
  std::shared_ptr<spdlog::logger> logger;
};

/// An HTTP server for the admin endpoint. Construction validates the options and binds
/// (moat::config_error, std::system_error for a bind failure). Register what it reports with
/// `watch` before `start`. Thread-safe once started; `event` may be called from any thread.
/// The watched objects must outlive the endpoint (or its `stop`).
class endpoint {
 public:
  explicit endpoint(options o);
  ~endpoint();
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  /// Reports a listener under its name (listener_options::name).
  void watch(const server::listener& l);
  /// Reports an ACME manager (its certificate, renewals and failures).
  void watch(const acme::manager& m);
  /// Adds a line to the recent events (`level`: "info", "warn", "error").
  void event(std::string level, std::string text);
  /// A log sink whose lines (at its level, info by default, and above) become recent events:
  /// add it to a logger (`logger->sinks().push_back(...)`) so that the page shows what the
  /// log says. It may outlive the endpoint (then it drops what it gets).
  [[nodiscard]] std::shared_ptr<spdlog::sinks::sink> events_sink();

  void start();
  /// Stops serving; idempotent.
  void stop();
  [[nodiscard]] std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;

  struct impl;  // internal

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace moat::admin
