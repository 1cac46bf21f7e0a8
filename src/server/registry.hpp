#pragma once
// A worker's live connections (Ranch's connection supervisor): what listings show, and what
// stop() closes when the grace period is over. Thread-safe: the worker adds and removes, any
// thread lists.

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <moat/server/listener.hpp>
#include <moat/tls/socket.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace moat::server {

struct worker;

namespace detail {
/// One connection, shared by its coroutine, its `connection` handle and the registry.
struct connection_state {
  listener::impl* owner = nullptr;
  worker* w = nullptr;
  std::uint64_t id = 0;
  boost::asio::ip::tcp::endpoint peer;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::optional<tls::socket> sock;
  std::error_code end_reason;  // why the connection ended abnormally (logged once)
  // Set while a recv with on_drain::interrupt waits: stop() emits it (on the worker's thread).
  boost::asio::cancellation_signal* drain_signal = nullptr;
};
}  // namespace detail

class connection_registry {
 public:
  using state_ptr = std::shared_ptr<detail::connection_state>;

  void add(const state_ptr& st);
  void remove(std::uint64_t id);
  /// Records a connection's phase ("handshake", "established", "closing") for listings; at
  /// "established" also what the handshake negotiated.
  void set_phase(const detail::connection_state& st, const char* phase);

  [[nodiscard]] std::vector<connection_summary> list() const;
  [[nodiscard]] std::vector<state_ptr> all() const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct entry {
    state_ptr st;
    connection_summary summary;
  };
  mutable std::mutex mu_;
  std::map<std::uint64_t, entry> conns_;
};

}  // namespace moat::server
