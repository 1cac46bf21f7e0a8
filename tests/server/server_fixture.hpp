#pragma once
// The fixture shared by the server tests: a test CA, a leaf, a listener's options, moat TLS
// clients on the test's own io_context, and an echo handler.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/server/server.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/support.hpp"

namespace moat::server::test_fixture {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using asio::awaitable;

inline std::string text(const std::vector<std::uint8_t>& v) {
  return {v.begin(), v.end()};
}

inline void raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

inline coroutine_handler echo() {
  return [](connection& c) -> awaitable<void> {
    for (;;) {
      auto m = co_await c.recv();
      if (!m) co_return;
      if (text(*m) == "boom") throw std::runtime_error("the handler blew up on purpose");
      if (co_await c.send(std::span<const std::uint8_t>(*m))) co_return;
    }
  };
}

struct server_fixture : ::testing::Test {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  test::issued leaf = ca.issue("localhost");
  asio::io_context io;  // the clients'
  tls::context cctx = [&] {
    tls::options o;
    o.cacertfile = ca.certfile();
    return tls::context(tls::role::client, o);
  }();
  const tls::socket_options u32{.packet = framing::packet_mode::u32};

  void SetUp() override { raise_fd_limit(); }

  tls::options server_tls(const test::issued& l) const {
    tls::options o;
    o.certfile = l.certfile;
    o.keyfile = l.keyfile;
    return o;
  }
  listener_options opts(unsigned workers = 2) const {
    listener_options o;
    o.name = "test";
    o.addresses = {tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    o.workers = workers;
    o.socket = u32;
    o.shutdown_grace = 2s;
    return o;
  }
  static std::uint16_t port(const listener& l) { return l.local_endpoints().front().port(); }

  awaitable<tls::result<tls::socket>> dial(std::uint16_t p) {
    // Generous: under a sanitizer on a busy machine a handshake can take seconds.
    co_return co_await tls::socket::connect(io.get_executor(), "localhost", p, cctx,
                                            test::scaled(30s), u32);
  }
};

/// Samples a listener's active connections every millisecond on its own thread, keeping the
/// highest count seen (to check that a limit holds).
class peak_watcher {
 public:
  explicit peak_watcher(const listener& l)
      : thread_([this, &l] {
          while (watching_) {
            peak_ = std::max(peak_.load(), l.get_stats().active);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }) {}
  ~peak_watcher() { stop(); }
  peak_watcher(const peak_watcher&) = delete;
  peak_watcher& operator=(const peak_watcher&) = delete;
  /// Stops sampling; the highest count seen.
  std::size_t stop() {
    watching_ = false;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<std::size_t> peak_{0};
  std::atomic<bool> watching_{true};
  std::thread thread_;
};

}  // namespace moat::server::test_fixture
