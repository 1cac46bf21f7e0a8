// The supervised listener over plain TCP: the same limits, drain, idle timeout, stats and
// PROXY support as over TLS, without a handshake.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <moat/error.hpp>
#include <moat/server/server.hpp>
#include <thread>

#include "server/server_fixture.hpp"
#include "support/support.hpp"

namespace moat::server {
namespace {

using namespace test_fixture;

struct plain_listener : server_fixture {
  awaitable<tls::result<tls::socket>> dial_plain(std::uint16_t p) {
    co_return co_await tls::socket::connect_plain(io.get_executor(), "127.0.0.1", p,
                                                  test::scaled(30s), u32);
  }
  // Waits (without a fixed sleep) until `cond` holds or the scaled deadline passes.
  template <class Cond>
  static bool eventually(Cond cond, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + test::scaled(limit);
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
};

TEST_F(plain_listener, EchoesFramesWithoutAHandshakeAndListsNoTlsDetails) {
  listener l(opts(), plain_tcp, echo());
  EXPECT_FALSE(l.is_tls());
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> got;
    auto s = co_await dial_plain(port(l));
    if (!s) co_return std::vector<std::string>{s.error().message()};
    for (const char* m : {"one", "two", "three"}) {
      (void)co_await s->send(m);
      auto a = co_await s->recv(0, test::scaled(10s));
      got.push_back(a ? text(*a) : a.error().message());
    }
    const auto listed = l.connections();
    got.push_back(listed.size() == 1
                      ? listed[0].state + "/" + listed[0].tls_version + "/" + listed[0].cipher
                      : "listed " + std::to_string(listed.size()));
    co_await s->close();
    co_return got;
  }());
  EXPECT_EQ(r, (std::vector<std::string>{"one", "two", "three", "established//"}));
  EXPECT_TRUE(eventually([&] { return l.get_stats().active == 0; }));
  const auto st = l.get_stats();
  EXPECT_EQ(st.accepted, 1U);
  EXPECT_EQ(st.handshakes, 0U);
  EXPECT_EQ(st.handshake_failures, 0U);
  EXPECT_EQ(st.bytes_in, std::string("onetwothree").size());
  EXPECT_EQ(st.bytes_in, st.bytes_out);
}

TEST_F(plain_listener, AReloadIsRefusedAndThereIsNoTlsContext) {
  listener l(opts(), plain_tcp, echo());
  EXPECT_THROW(l.reload(server_tls(leaf)), config_error);
  EXPECT_THROW((void)l.context(), std::logic_error);
  listener secure(opts(), server_tls(leaf), echo());
  EXPECT_TRUE(secure.is_tls());
}

TEST_F(plain_listener, TheConnectionLimitHoldsAndTheWaitingClientIsServedWhenASlotFrees) {
  // One acceptor: with one per core (SO_REUSEPORT) the kernel may hand the second connection
  // to the other core's acceptor first, and it takes the slot -- the limit holds either way,
  // but the test needs to know which connection waits.
  auto o = opts(1);
  o.max_connections = 1;
  listener l(o, plain_tcp, echo());
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto first = co_await dial_plain(port(l));
    auto second = co_await dial_plain(port(l));  // the kernel completes it; it waits for a slot
    if (!first || !second) co_return std::string("connect failed");
    (void)co_await first->send("a");
    auto a = co_await first->recv(0, test::scaled(10s));
    (void)co_await second->send("b");
    // The second is accepted, but cannot run before the first leaves.
    const bool waited =
        eventually([&] { return l.get_stats().accepted == 2; }) && l.get_stats().active == 1;
    co_await first->close();
    auto b = co_await second->recv(0, test::scaled(10s));
    co_return (a ? text(*a) : a.error().message()) + (waited ? " waited " : " did not wait ") +
        (b ? text(*b) : b.error().message());
  }());
  EXPECT_EQ(r, "a waited b");
}

TEST_F(plain_listener, TheIdleTimeoutEndsASilentConnection) {
  auto o = opts();
  o.idle_timeout = test::scaled(300ms);
  listener l(o, plain_tcp, echo());
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::error_code> {
    auto s = co_await dial_plain(port(l));
    if (!s) co_return s.error();
    auto m = co_await s->recv(0, test::scaled(20s));  // the server closes it first
    co_return m ? std::error_code{} : m.error();
  }());
  EXPECT_EQ(r, tls::errc::closed);
}

TEST_F(plain_listener, AThrowingHandlerEndsItsConnectionOnlyAndIsCounted) {
  listener l(opts(), plain_tcp, echo());
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto good = co_await dial_plain(port(l));
    auto doomed = co_await dial_plain(port(l));
    if (!good || !doomed) co_return std::string("connect failed");
    (void)co_await doomed->send("boom");
    auto d = co_await doomed->recv(0, test::scaled(10s));
    (void)co_await good->send("fine");
    auto g = co_await good->recv(0, test::scaled(10s));
    co_return (d ? text(*d) : tls::reason_name(d.error())) + " " +
        (g ? text(*g) : g.error().message());
  }());
  EXPECT_EQ(r, "closed fine");
  EXPECT_EQ(l.get_stats().handler_failures, 1U);
}

TEST_F(plain_listener, BytesBehindAProxyHeaderReachTheHandlerAndThePeerIsTheRealClient) {
  auto o = opts(1);
  o.proxy = proxy_protocol::v1;
  std::promise<std::string> peer_seen;
  listener l(
      o, plain_tcp, coroutine_handler([&](connection& c) -> awaitable<void> {
        peer_seen.set_value(c.peer().address().to_string() + ":" + std::to_string(c.peer().port()));
        auto m = co_await c.recv(test::scaled(10s));
        if (m) (void)co_await c.send("got " + text(*m));
      }));
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    tcp::socket s(io);
    co_await s.async_connect(l.local_endpoints().front(), asio::use_awaitable);
    // The header and a {packet,4} frame in one segment.
    std::string wire = "PROXY TCP4 192.0.2.7 192.0.2.1 4711 80\r\n";
    wire += std::string("\0\0\0\5", 4) + "hello";
    co_await asio::async_write(s, asio::buffer(wire), asio::use_awaitable);
    std::array<char, 64> buf{};
    std::string got;
    while (got.size() < 4 + 9) {
      const auto n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
      got.append(buf.data(), n);
    }
    co_return got.substr(4);
  }());
  EXPECT_EQ(r, "got hello");
  EXPECT_EQ(peer_seen.get_future().get(), "192.0.2.7:4711");
}

// A handler that waits between messages with on_drain::interrupt ends as soon as stop()
// begins; one in the middle of an exchange finishes it within the grace period.
TEST_F(plain_listener, StopEndsInterruptibleWaitsAtOnceAndLetsAnExchangeInProgressFinish) {
  auto o = opts(1);
  o.shutdown_grace = test::scaled(60s);
  std::atomic<int> interrupted{0};
  listener l(o, plain_tcp, coroutine_handler([&](connection& c) -> awaitable<void> {
               for (;;) {
                 auto m = co_await c.recv(tls::infinity, on_drain::interrupt);
                 if (!m) {
                   if (m.error() == tls::errc::shutting_down) ++interrupted;
                   co_return;
                 }
                 if (text(*m) == "slow") {
                   // The rest of the exchange: a second message, read while draining.
                   auto more = co_await c.recv(test::scaled(20s));
                   if (!more) co_return;
                   (void)co_await c.send("done " + text(*more));
                   continue;
                 }
                 (void)co_await c.send(std::span<const std::uint8_t>(*m));
               }
             }));
  l.start();
  const auto started = std::chrono::steady_clock::now();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto idle = co_await dial_plain(port(l));
    auto busy = co_await dial_plain(port(l));
    if (!idle || !busy) co_return std::string("connect failed");
    (void)co_await idle->send("ping");
    auto p = co_await idle->recv(0, test::scaled(10s));
    (void)co_await busy->send("slow");
    // Stop on another thread once both are established and the slow one is inside its
    // exchange.
    eventually([&] { return l.get_stats().bytes_in >= 8; });
    std::thread stopper([&] { l.stop(); });
    auto gone = co_await idle->recv(0, test::scaled(20s));  // closed by the drain
    (void)co_await busy->send("part two");
    auto d = co_await busy->recv(0, test::scaled(20s));
    auto after = co_await busy->recv(0, test::scaled(20s));  // then the handler's loop ends
    stopper.join();
    co_return (p ? text(*p) : p.error().message()) + "|" +
        (gone ? "data" : tls::reason_name(gone.error())) + "|" +
        (d ? text(*d) : d.error().message()) + "|" +
        (after ? "data" : tls::reason_name(after.error()));
  }());
  EXPECT_EQ(r, "ping|closed|done part two|closed");
  EXPECT_EQ(interrupted, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - started, o.shutdown_grace);
}

}  // namespace
}  // namespace moat::server
