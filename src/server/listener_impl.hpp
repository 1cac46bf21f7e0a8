#pragma once
// Internal: the parts of a listener and how they fit. Like Ranch, whose file list is its
// supervision tree, each role has its own file:
//   listener.cpp    the listener: workers, start, suspend/resume, stop (drain), reload
//   acceptor.cpp    one accept loop per listening socket per worker
//   limiter.*       the exact, global connection limit and the accept gate
//   connection.cpp  one connection: PROXY header, handshake (TLS), its handler, its end
//   registry.*      a worker's live connections (listing, closing the rest at stop)
//   stats.*         counters, failure reasons and the rate-limited failure log

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <condition_variable>
#include <deque>
#include <memory>
#include <moat/server/listener.hpp>
#include <moat/tls/socket.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/limiter.hpp"
#include "server/registry.hpp"
#include "server/stats.hpp"

namespace spdlog {
class logger;
}

namespace moat::server {

/// One core's share: an io_context and its thread, a listening socket per address
/// (SO_REUSEPORT, so the kernel spreads clients over the workers) and the connections it owns.
struct worker {
  listener::impl* owner = nullptr;
  unsigned index = 0;
  /// Destroyed explicitly by stop(), before anything that the coroutines still on it use.
  std::optional<boost::asio::io_context> io{std::in_place, 1};
  std::vector<tls::listen_socket> listening;
  std::thread thread;
  connection_registry conns;
  worker_counters counters;
};

struct listener::impl {
  listener_options opts;
  handler h;
  std::optional<tls::context> ctx;  // none: plain TCP
  std::shared_ptr<spdlog::logger> log;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<boost::asio::ip::tcp::endpoint> bound;

  connection_limiter limiter;
  // Connections now, over every worker: counted up after a connection holds its slot and is
  // registered, down before it gives the slot back, so a read never exceeds the limit (a sum of
  // the workers' registries, read one after another, could).
  std::atomic<std::size_t> live{0};
  accept_gate gate;
  listener_stats stats;

  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> next_id{1};

  // Guards failure and the restart history; `cv` signals the end of connections (stop waits
  // on it) and the listener's end (wait()).
  mutable std::mutex mu;
  std::condition_variable cv;
  std::string failure;
  std::deque<std::chrono::steady_clock::time_point> restarts;

  std::mutex stop_mu;   // serialises stop()
  std::mutex io_mu;     // the workers' io_contexts exist while it is held (suspend vs stop)
  std::thread stopper;  // runs stop() when it was called from a handler (a worker thread)

  impl(listener_options o, std::optional<tls::options> t, handler hh);

  [[nodiscard]] tls::options with_handshake_timeout(tls::options t) const;
  void validate() const;
  void bind_all();
  void start();
  void stop();
  [[nodiscard]] bool on_worker_thread() const;
  /// Returns true when the restart intensity is exceeded: the listener then stops, loudly.
  bool note_restart(const std::string& what);
  /// A connection ended: wakes stop() when it was the last.
  void connection_ended();

  // acceptor.cpp
  boost::asio::awaitable<void> accept_loop(worker& w, std::size_t index);
  // connection.cpp
  boost::asio::awaitable<void> run_connection(worker& w, boost::asio::ip::tcp::socket sock);
};

/// "127.0.0.1:7000", "[::1]:7000".
[[nodiscard]] std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace moat::server
