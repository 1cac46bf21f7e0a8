// stop() at its edges: handlers that ignore the drain, stop() called from inside a handler, and
// connections still handshaking. Meant to run under AddressSanitizer too: a coroutine frame
// destroyed after what its cleanup touches is a use-after-free there.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <future>

#include "server/server_fixture.hpp"
#include "support/support.hpp"

namespace moat::server {
namespace {

using namespace test_fixture;

struct stopping : server_fixture {};

TEST_F(stopping, HandlersThatIgnoreTheDrainAreDestroyedSafelyAfterTheDeadline) {
  auto o = opts(2);
  o.shutdown_grace = 100ms;
  std::atomic<int> started{0};
  listener l(o, server_tls(leaf), coroutine_handler([&](connection& c) -> awaitable<void> {
               ++started;
               if (c.id() % 2 == 0) {
                 // Blocked on something of its own that no close wakes.
                 asio::steady_timer forever(co_await asio::this_coro::executor, 1h);
                 co_await forever.async_wait(asio::use_awaitable);
               } else {
                 // Ignores every error and keeps waiting.
                 for (;;) {
                   (void)co_await c.recv();
                   asio::steady_timer t(co_await asio::this_coro::executor, 1h);
                   co_await t.async_wait(asio::use_awaitable);
                 }
               }
             }));
  l.start();
  std::vector<tls::socket> clients;
  test::run(io, [&]() -> awaitable<void> {
    for (int i = 0; i < 6; ++i) {
      auto s = co_await dial(port(l));
      if (!s) throw std::runtime_error("connect: " + s.error().message());
      clients.push_back(std::move(*s));
    }
    while (started < 6) {
      asio::steady_timer t(io, 5ms);
      co_await t.async_wait(asio::use_awaitable);
    }
  }());
  const auto t0 = std::chrono::steady_clock::now();
  l.stop();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, test::scaled(10s));
  EXPECT_EQ(l.get_stats().active, 0U);
  EXPECT_TRUE(l.connections().empty());
}

TEST_F(stopping, StopCalledFromAHandlerReturnsAndTheListenerStops) {
  listener* self = nullptr;
  std::promise<void> returned;
  listener l(opts(2), server_tls(leaf), coroutine_handler([&](connection& c) -> awaitable<void> {
               auto m = co_await c.recv();
               if (!m) co_return;
               self->stop();  // must not join its own thread
               returned.set_value();
               (void)co_await c.send(std::span<const std::uint8_t>(*m));
             }));
  self = &l;
  l.start();
  auto reply = test::run(io, [&]() -> awaitable<std::string> {
    auto s = co_await dial(port(l));
    if (!s) co_return "connect: " + s.error().message();
    (void)co_await s->send("stop please");
    auto r = co_await s->recv(0, test::scaled(10s));
    co_return r ? text(*r) : r.error().message();
  }());
  EXPECT_EQ(returned.get_future().wait_for(test::scaled(10s)), std::future_status::ready);
  EXPECT_EQ(reply, "stop please");
  auto waited = std::async(std::launch::async, [&] { l.wait(); });
  EXPECT_EQ(waited.wait_for(test::scaled(20s)), std::future_status::ready);
  EXPECT_FALSE(l.get_stats().accepting);
}

TEST_F(stopping, AHandshakeCutShortByStopIsNotAHandshakeFailure) {
  auto o = opts(1);
  o.shutdown_grace = 50ms;
  o.handshake_timeout = 60s;
  listener l(o, server_tls(leaf), echo());
  l.start();
  // A client that connects and never says hello.
  asio::ip::tcp::socket silent(io);
  silent.connect(l.local_endpoints().front());
  while (l.get_stats().active == 0) std::this_thread::sleep_for(1ms);
  l.stop();
  const auto st = l.get_stats();
  EXPECT_EQ(st.handshake_failures, 0U);
  EXPECT_TRUE(st.handshake_failures_by_reason.empty());
}

TEST_F(stopping, SuspendResumeAndLimitsAfterStopAreHarmless) {
  listener l(opts(2), server_tls(leaf), echo());
  l.start();
  l.stop();
  l.suspend();
  l.resume();
  l.set_max_connections(5);
  l.stop();
  EXPECT_FALSE(l.get_stats().accepting);
  EXPECT_TRUE(l.connections().empty());
}

}  // namespace
}  // namespace moat::server
