#pragma once
// What the admin endpoint reports at one moment, taken from the watched listeners and
// managers, and its two renderings: Prometheus text and JSON. Pure but for `take`.

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <moat/acme/manager.hpp>
#include <moat/server/listener.hpp>
#include <optional>
#include <string>
#include <vector>

#include "admin/process_stats.hpp"

namespace moat::admin::detail {

using sys_time = std::chrono::system_clock::time_point;

/// A certificate a listener presents or a manager holds.
struct certificate_view {
  std::string source;              ///< the listener or manager's name
  std::vector<std::string> names;  ///< its SANs (DNS and IP names, "DNS:" / "IP:" dropped)
  sys_time not_after{};
  std::string fingerprint;  ///< SHA-256
};

struct listener_view {
  std::string name;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  bool tls = false;
  moat::server::stats stats;
  std::vector<moat::server::connection_summary> connections;
};

struct manager_view {
  std::string name;  ///< its identifiers, joined by ","
  acme::manager_stats stats;
};

struct event_view {
  sys_time at{};
  std::string level;
  std::string text;
};

struct snapshot {
  sys_time taken{};
  std::vector<listener_view> listeners;
  std::vector<certificate_view> certificates;
  std::vector<manager_view> managers;
  std::optional<process_stats> process;
  std::string process_error;       ///< why `process` is empty
  std::vector<event_view> events;  ///< the latest first
};

/// "127.0.0.1:9100", "[::1]:9100".
[[nodiscard]] std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e);

/// Reads everything now.
[[nodiscard]] snapshot take(const std::vector<const moat::server::listener*>& listeners,
                            const std::vector<const acme::manager*>& managers,
                            std::vector<event_view> events);

[[nodiscard]] std::string render_metrics(const snapshot& s);
[[nodiscard]] std::string render_status_json(const snapshot& s);

}  // namespace moat::admin::detail
