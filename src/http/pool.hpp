#pragma once
// Internal: the client's idle connections, per origin (scheme, host, port), kept for reuse
// until they are too old. Used from the client's executor only (not thread-safe).

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <moat/tls/socket.hpp>
#include <optional>
#include <string>

namespace moat::http::detail {

class connection_pool {
 public:
  using clock = std::chrono::steady_clock;

  connection_pool(std::size_t max_idle_per_origin, std::chrono::milliseconds idle_timeout)
      : max_idle_(max_idle_per_origin), idle_timeout_(idle_timeout) {}

  /// The most recently parked open connection to `origin` that is not older than the idle
  /// timeout, if any (older ones are closed on the way).
  [[nodiscard]] std::optional<tls::socket> take(const std::string& origin);
  /// Parks `s` for reuse; beyond the per-origin limit the oldest goes.
  void give_back(const std::string& origin, tls::socket s);
  /// Closes every parked connection (with close_notify, see `retire`).
  void clear();
  /// Parked connections (all origins).
  [[nodiscard]] std::size_t size() const;

 private:
  /// Closes `s` politely: close_notify sent (at most 100 ms of waiting, on its executor)
  /// rather than a bare TCP close, which servers log as a truncated connection.
  static void retire(tls::socket s);

  struct parked {
    tls::socket sock;
    clock::time_point since;
  };
  std::size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  std::map<std::string, std::deque<parked>> idle_;
};

}  // namespace moat::http::detail
