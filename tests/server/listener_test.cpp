// The supervised listener under load, over real loopback sockets, with moat TLS clients.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <moat/error.hpp>
#include <moat/server/server.hpp>
#include <random>
#include <set>
#include <thread>

#include "server/server_fixture.hpp"
#include "support/support.hpp"

namespace moat::server {
namespace {

using namespace test_fixture;
using listener_test = server_fixture;

TEST_F(listener_test, EchoesForAThousandConcurrentClientsWithEveryByteChecked) {
  auto o = opts();
  // A thousand handshakes at once, with the clients in this same process: on a busy machine
  // under a sanitizer the last ones take far longer than the 5 s default. The behaviour under
  // test is that every byte comes back, not the handshake deadline.
  o.handshake_timeout = test::scaled(120s);
  listener l(o, server_tls(leaf), echo());
  l.start();
  constexpr int kClients = 1000;
  std::atomic<int> ok{0};
  std::atomic<int> bad{0};
  auto client = [&](int i) -> awaitable<void> {
    auto s = co_await dial(port(l));
    if (!s) {
      ++bad;
      co_return;
    }
    std::mt19937 rng(static_cast<unsigned>(i));
    for (int k = 0; k < 3; ++k) {
      std::string msg(1 + rng() % 3000, '\0');
      for (auto& ch : msg) ch = static_cast<char>(rng());
      if (co_await s->send(msg)) {
        ++bad;
        co_return;
      }
      auto r = co_await s->recv(0, test::scaled(60s));
      if (!r || text(*r) != msg) {
        ++bad;
        co_return;
      }
    }
    co_await s->close();
    ++ok;
  };
  for (int i = 0; i < kClients; ++i) asio::co_spawn(io, client(i), asio::detached);
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(240s);
  while (ok + bad < kClients && std::chrono::steady_clock::now() < deadline) io.run_for(50ms);
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(bad, 0);
  // A server-side send is counted when it completes, which may be just after the client has
  // read the echo and left: wait for the counters to settle before comparing them.
  const auto settle = std::chrono::steady_clock::now() + test::scaled(10s);
  while (l.get_stats().bytes_out != l.get_stats().bytes_in &&
         std::chrono::steady_clock::now() < settle) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto st = l.get_stats();
  EXPECT_EQ(st.handshakes, static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(st.handshake_failures, 0U);
  EXPECT_GT(st.bytes_in, 0U);
  EXPECT_EQ(st.bytes_in, st.bytes_out);
}

TEST_F(listener_test, AHandlerThatThrowsTakesDownOnlyItsConnectionAndThePeerGetsAnAlert) {
  listener l(opts(), server_tls(leaf), echo());
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::pair<std::string, std::string>> {
    auto good = co_await dial(port(l));
    auto doomed = co_await dial(port(l));
    if (!good || !doomed) co_return std::pair{std::string("connect failed"), std::string()};
    (void)co_await doomed->send("boom");
    auto d = co_await doomed->recv(0, 5s);
    (void)co_await good->send("still here");
    auto g = co_await good->recv(0, 5s);
    co_return std::pair{d ? text(*d) : d.error().message(), g ? text(*g) : g.error().message()};
  }());
  EXPECT_EQ(r.first, tls::format_error(std::error_code(80, tls::alert_category())));
  EXPECT_EQ(r.second, "still here");
  EXPECT_EQ(l.get_stats().handler_failures, 1U);
}

TEST_F(listener_test, EventHandlersGetOpenMessageAndClosed) {
  struct recorder : event_handler {
    std::shared_ptr<std::vector<std::string>> log;
    explicit recorder(std::shared_ptr<std::vector<std::string>> l) : log(std::move(l)) {}
    awaitable<void> on_open(connection&) override {
      log->push_back("open");
      co_return;
    }
    awaitable<void> on_message(connection& c, std::span<const std::uint8_t> m) override {
      log->emplace_back(m.begin(), m.end());
      (void)co_await c.send("got " + std::string(m.begin(), m.end()));
    }
    awaitable<void> on_closed(connection&) override {
      log->push_back("closed");
      co_return;
    }
  };
  auto events = std::make_shared<std::vector<std::string>>();
  std::mutex mu;
  listener l(opts(1), server_tls(leaf), event_handler_factory([&] {
               std::lock_guard lock(mu);
               return std::make_unique<recorder>(events);
             }));
  l.start();
  auto reply = test::run(io, [&]() -> awaitable<std::string> {
    auto s = co_await dial(port(l));
    if (!s) co_return s.error().message();
    (void)co_await s->send("hi");
    auto m = co_await s->recv(0, 5s);
    co_await s->close();
    co_return m ? text(*m) : m.error().message();
  }());
  EXPECT_EQ(reply, "got hi");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (l.get_stats().active > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  l.stop();
  EXPECT_EQ(*events, (std::vector<std::string>{"open", "hi", "closed"}));
}

TEST_F(listener_test,
       SlowlorisConnectionsAreClosedAfterTheHandshakeTimeoutWhileRealClientsAreServed) {
  auto o = opts();
  o.handshake_timeout = test::scaled(700ms);
  listener l(o, server_tls(leaf), echo());
  l.start();
  // 1,000 TCP connections that never send a ClientHello.
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.emplace_back(io);
    idle.back().connect(l.local_endpoints().front());
  }
  // Real clients keep being served meanwhile.
  auto served = test::run(io, [&]() -> awaitable<int> {
    int n = 0;
    for (int i = 0; i < 20; ++i) {
      auto s = co_await dial(port(l));
      if (!s) continue;
      (void)co_await s->send("x");
      if (auto m = co_await s->recv(0, 5s); m && text(*m) == "x") ++n;
      co_await s->close();
    }
    co_return n;
  }());
  EXPECT_EQ(served, 20);
  // After the timeout every idle connection has been closed by the server.
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(60s);
  while (l.get_stats().handshake_failures < 1000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  int closed = 0;
  for (auto& s : idle) {
    char b;
    boost::system::error_code ec;
    s.non_blocking(true);
    s.read_some(asio::buffer(&b, 1), ec);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) ++closed;
  }
  EXPECT_EQ(closed, 1000);
  const auto st = l.get_stats();
  EXPECT_EQ(st.handshake_failures_by_reason.at("timeout"), 1000U);
  EXPECT_EQ(st.active, 0U);
}

TEST_F(listener_test, MaxConnectionsIsHeldExactlyAndTheExcessIsServedWhenSlotsFree) {
  auto o = opts();
  o.max_connections = 10;
  listener l(o, server_tls(leaf), echo());
  l.start();
  peak_watcher watcher(l);
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  auto client = [&]() -> awaitable<void> {
    auto s = co_await dial(port(l));
    if (!s) {
      ++failed;
      co_return;
    }
    (void)co_await s->send("hello");
    auto m = co_await s->recv(0, 30s);
    asio::steady_timer hold(io, 100ms);  // keep the slot a while
    co_await hold.async_wait(asio::use_awaitable);
    co_await s->close();
    if (m && text(*m) == "hello")
      ++done;
    else
      ++failed;
  };
  for (int i = 0; i < 50; ++i) asio::co_spawn(io, client(), asio::detached);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (done + failed < 50 && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
  const std::size_t peak = watcher.stop();
  EXPECT_EQ(done, 50);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(peak, 10U);
}

TEST_F(listener_test, SetMaxConnectionsAtRunTimeLetsWaitingClientsIn) {
  auto o = opts(1);
  o.max_connections = 1;
  listener l(o, server_tls(leaf), echo());
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto first = co_await dial(port(l));
    if (!first) co_return "first failed";
    // The second waits in the backlog: its handshake cannot complete yet.
    auto second =
        co_await tls::socket::connect(io.get_executor(), "localhost", port(l), cctx, 300ms, u32);
    if (second) co_return "second got in past the limit";
    l.set_max_connections(2);
    auto third = co_await dial(port(l));
    co_return third ? "ok" : third.error().message();
  }());
  EXPECT_EQ(r, "ok");
}

TEST_F(listener_test, GracefulStopLetsInFlightExchangesCompleteAndRefusesNewConnections) {
  auto o = opts();
  o.shutdown_grace = 5s;
  // A slow handler: the reply comes 500 ms after the request.
  listener l(o, server_tls(leaf), coroutine_handler([](connection& c) -> awaitable<void> {
               auto m = co_await c.recv();
               if (!m) co_return;
               asio::steady_timer t(co_await asio::this_coro::executor, 500ms);
               co_await t.async_wait(asio::use_awaitable);
               (void)co_await c.send(std::span<const std::uint8_t>(*m));
             }));
  l.start();
  std::thread stopper;
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto s = co_await dial(port(l));
    if (!s) co_return "connect failed";
    (void)co_await s->send("in flight");
    stopper = std::thread([&] { l.stop(); });
    while (l.get_stats().accepting) {  // stop() has begun: the listening sockets are closing
      asio::steady_timer t(io, 10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    asio::steady_timer settle(io, 50ms);
    co_await settle.async_wait(asio::use_awaitable);
    auto late = co_await dial(port(l));
    if (late) co_return "a new connection was accepted while draining";
    auto m = co_await s->recv(0, 5s);
    co_return m ? text(*m) : m.error().message();
  }());
  stopper.join();
  EXPECT_EQ(r, "in flight");
}

TEST_F(listener_test, GracefulStopClosesIdleConnectionsWithCloseNotifyAfterTheGracePeriod) {
  auto o = opts();
  o.shutdown_grace = 300ms;
  listener l(o, server_tls(leaf), echo());
  l.start();
  std::thread stopper;
  const auto start = std::chrono::steady_clock::now();
  auto ec = test::run(io, [&]() -> awaitable<std::error_code> {
    auto s = co_await dial(port(l));
    if (!s) co_return s.error();
    stopper = std::thread([&] { l.stop(); });
    auto m = co_await s->recv(0, 10s);
    co_return m ? std::error_code{} : m.error();
  }());
  stopper.join();
  EXPECT_EQ(ec, std::error_code(tls::errc::closed)) << ec.message();  // close_notify, not a reset
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(listener_test, HotReloadRotatesCertificatesWithZeroFailedHandshakesAndRejectsABrokenOne) {
  listener l(opts(), server_tls(leaf), echo());
  l.start();
  std::atomic<bool> loading{true};
  std::atomic<int> handshakes{0};
  std::atomic<int> failures{0};
  std::set<std::string> serials;
  std::mutex mu;
  auto load = [&]() -> awaitable<void> {
    while (loading) {
      auto s = co_await dial(port(l));
      if (!s) {
        ++failures;
        continue;
      }
      ++handshakes;
      {
        std::lock_guard lock(mu);
        serials.insert(s->peer_certificate()->serial_hex());
      }
      co_await s->close();
    }
  };
  for (int i = 0; i < 4; ++i) asio::co_spawn(io, load(), asio::detached);
  std::thread rotator([&] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(100ms);
      l.reload(server_tls(ca.issue("localhost")));
    }
    // A broken certificate is refused and the last good one stays.
    tls::options broken;
    broken.certfile = dir / "missing.pem";
    broken.keyfile = leaf.keyfile;
    EXPECT_THROW(l.reload(broken), moat::config_error);
    std::this_thread::sleep_for(100ms);
    loading = false;
  });
  while (loading) io.run_for(20ms);
  rotator.join();
  io.run_for(500ms);
  EXPECT_EQ(failures, 0);
  EXPECT_GT(handshakes, 20);
  EXPECT_EQ(serials.size(), 6U);  // the first certificate and five rotations
  EXPECT_EQ(l.get_stats().handshake_failures, 0U);
  // After the failed reload, handshakes still see the fifth rotated certificate.
  auto serial = test::run(io, [&]() -> awaitable<std::string> {
    auto s = co_await dial(port(l));
    co_return s ? s->peer_certificate()->serial_hex() : "";
  }());
  EXPECT_TRUE(serials.count(serial) == 1 && serial != leaf.cert.serial_hex());
}

TEST_F(listener_test, SuspendStopsAcceptingAndResumeServesTheWaitingClient) {
  listener l(opts(1), server_tls(leaf), echo());
  l.start();
  l.suspend();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto waiting =
        co_await tls::socket::connect(io.get_executor(), "localhost", port(l), cctx, 300ms, u32);
    if (waiting) co_return "accepted while suspended";
    l.resume();
    auto s = co_await dial(port(l));
    co_return s ? "ok" : s.error().message();
  }());
  EXPECT_EQ(r, "ok");
}

TEST_F(listener_test, ListsConnectionsWithPeerStateAndTlsParameters) {
  listener l(opts(), server_tls(leaf), echo());
  l.start();
  auto list = test::run(io, [&]() -> awaitable<std::vector<connection_summary>> {
    auto s = co_await dial(port(l));
    (void)co_await s->send("x");
    (void)co_await s->recv(0, 5s);
    co_return l.connections();
  }());
  ASSERT_EQ(list.size(), 1U);
  EXPECT_EQ(list[0].state, "established");
  EXPECT_EQ(list[0].tls_version, "tlsv1.3");
  EXPECT_EQ(list[0].cipher, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(list[0].sni, "localhost");
  EXPECT_EQ(list[0].peer.address().to_string(), "127.0.0.1");
}

TEST_F(listener_test, ThePeerAddressComesFromAProxyProtocolHeader) {
  auto o = opts(1);
  o.proxy = proxy_protocol::any;
  std::string seen;
  listener l(o, server_tls(leaf), coroutine_handler([&](connection& c) -> awaitable<void> {
               seen = c.peer().address().to_string() + ":" + std::to_string(c.peer().port());
               (void)co_await c.send("ok");
             }));
  l.start();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    tcp::socket conn(io);
    co_await conn.async_connect(l.local_endpoints().front(), asio::use_awaitable);
    const std::string header = "PROXY TCP4 203.0.113.9 127.0.0.1 40000 443\r\n";
    co_await asio::async_write(conn, asio::buffer(header), asio::use_awaitable);
    auto s = tls::socket::upgrade(std::move(conn), cctx, "localhost", u32);
    if (auto ec = co_await s.handshake(5s)) co_return ec.message();
    auto m = co_await s.recv(0, 5s);
    co_return m ? text(*m) : m.error().message();
  }());
  EXPECT_EQ(r, "ok");
  EXPECT_EQ(seen, "203.0.113.9:40000");
}

TEST_F(listener_test, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
  auto o = opts(1);
  o.idle_timeout = 300ms;
  listener l(o, server_tls(leaf), echo());
  l.start();
  const auto start = std::chrono::steady_clock::now();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto s = co_await dial(port(l));
    if (!s) co_return s.error().message();
    (void)co_await s->send("active");
    auto first = co_await s->recv(0, 5s);
    auto second = co_await s->recv(0, 5s);  // nothing more: the server gives up on us
    co_return (first ? text(*first) : std::string("?")) + "/" +
        (second ? std::string("data") : tls::reason_name(second.error()));
  }());
  EXPECT_EQ(r, "active/closed");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(listener_test, RejectsInvalidListenerOptionsBeforeBinding) {
  auto o = opts();
  o.addresses.clear();
  try {
    listener l(o, server_tls(leaf), echo());
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("addresses"), std::string::npos) << e.what();
  }
  tls::options bad;
  bad.certfile = dir / "nope.pem";
  try {
    listener l(opts(), bad, echo());
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.pem"), std::string::npos) << e.what();
  }
}

TEST_F(listener_test, BindingAnAddressInUseNamesTheAddress) {
  listener first(opts(), server_tls(leaf), echo());
  auto o = opts();
  o.addresses = first.local_endpoints();
  // SO_REUSEPORT sockets of the same user may share a port; a plain socket may not.
  tcp::acceptor plain(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  o.addresses = {plain.local_endpoint()};
  try {
    listener l(o, server_tls(leaf), echo());
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(plain.local_endpoint().port())),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moat::server
