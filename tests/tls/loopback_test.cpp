// moat client <-> moat server over real loopback sockets.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/tls/socket.hpp>

#include "support/support.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using moat::test::run;
using tcp = asio::ip::tcp;

std::string text(const std::vector<std::uint8_t>& v) {
  return {v.begin(), v.end()};
}

struct loopback : ::testing::Test {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  asio::io_context io;

  options server_opts(pki::key_type type = pki::key_type::ecdsa_p256) {
    auto leaf = ca.issue("localhost", type);
    options o;
    o.certfile = leaf.certfile;
    o.keyfile = leaf.keyfile;
    return o;
  }
  options client_opts() {
    options o;
    o.cacertfile = ca.certfile();
    return o;
  }

  // Accepts one connection, handshakes and echoes messages until the peer closes.
  static asio::awaitable<std::error_code> echo_one(listen_socket& ls) {
    auto s = co_await ls.transport_accept();
    if (!s) co_return s.error();
    if (auto ec = co_await s->handshake(5s)) co_return ec;
    for (;;) {
      auto m = co_await s->recv();
      if (!m) co_return m.error() == std::error_code(errc::closed) ? std::error_code{} : m.error();
      if (auto ec = co_await s->send(std::span<const std::uint8_t>(*m))) co_return ec;
    }
  }
};

TEST_F(loopback, EchoesMessagesWithAFourBytePacketHeaderOverTls13) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  auto ls = listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx,
                                  {.accepted = {.packet = framing::packet_mode::u32}});
  const auto port = ls.local_endpoint().port();
  std::error_code server_ec = make_error_code(errc::not_connected);
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { server_ec = co_await echo_one(ls); }, asio::detached);
  auto info = run(io, [&]() -> asio::awaitable<connection_info> {
    auto s = co_await socket::connect(io.get_executor(), "localhost", port, cctx, 5s,
                                      {.packet = framing::packet_mode::u32});
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
    if (!s) co_return connection_info{};
    for (const std::string& msg : {std::string("ping"), std::string(), std::string(100000, 'x')}) {
      EXPECT_FALSE(co_await s->send(msg));
      auto reply = co_await s->recv(0, 5s);
      EXPECT_TRUE(reply.has_value());
      if (reply) {
        EXPECT_TRUE(text(*reply) == msg) << "reply of " << reply->size() << " bytes";
      }
    }
    auto ci = s->connection_information();
    auto peer = s->peer_certificate();
    EXPECT_TRUE(peer.has_value());
    if (peer) {
      EXPECT_EQ(peer->common_name(), "localhost");
    }
    co_await s->close();
    co_return ci.value();
  }());
  io.run_for(200ms);
  EXPECT_FALSE(server_ec) << server_ec.message();
  EXPECT_EQ(info.protocol, version::tls1_3);
  EXPECT_EQ(info.cipher_suite, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(info.sni, "localhost");
  EXPECT_TRUE(info.peer_verified);
}

// socket_options::wait_buffer: a larger buffer for the waiting read (the distribution uses
// one) takes messages smaller, equal to and larger than it whole, on both sides, also when
// setopts changes it between reads.
TEST_F(loopback, ALargerWaitBufferCarriesMessagesOfEverySize) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  const socket_options so{.packet = framing::packet_mode::u32, .wait_buffer = 640};
  auto ls = listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx,
                                  {.accepted = so});
  const auto port = ls.local_endpoint().port();
  std::error_code server_ec = make_error_code(errc::not_connected);
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { server_ec = co_await echo_one(ls); }, asio::detached);
  run(io, [&]() -> asio::awaitable<void> {
    auto s = co_await socket::connect(io.get_executor(), "localhost", port, cctx, 5s, so);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
    if (!s) co_return;
    for (const std::size_t n : {std::size_t{1}, std::size_t{100}, std::size_t{600},
                                std::size_t{617}, std::size_t{5000}, std::size_t{70000}}) {
      if (n == 617) {
        auto changed = so;
        changed.wait_buffer = 4096;
        EXPECT_FALSE(s->setopts(changed));
      }
      const std::string msg(n, static_cast<char>('a' + n % 26));
      EXPECT_FALSE(co_await s->send(msg));
      auto reply = co_await s->recv(0, 5s);
      EXPECT_TRUE(reply.has_value()) << n;
      if (reply) {
        EXPECT_TRUE(text(*reply) == msg) << "reply of " << reply->size() << " bytes";
      }
    }
    co_await s->close();
  }());
  io.run_for(200ms);
  EXPECT_FALSE(server_ec) << server_ec.message();
}

}  // namespace
}  // namespace moat::tls

namespace moat::tls {
namespace {

// A server that accepts connections forever with `opts`, echoing in packet mode u32, and
// records the connection info of each handshake.
struct echo_server {
  listen_socket ls;
  std::vector<connection_info> infos;
  std::vector<std::error_code> errors;

  echo_server(asio::io_context& io, const context& ctx,
              socket_options accepted = {.packet = framing::packet_mode::u32})
      : ls(listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, ctx,
                                 {.accepted = accepted})) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  [[nodiscard]] std::uint16_t port() const { return ls.local_endpoint().port(); }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto s = co_await ls.transport_accept();
      if (!s) co_return;
      asio::co_spawn(ls.acceptor().get_executor(), serve(std::move(*s)), asio::detached);
    }
  }
  asio::awaitable<void> serve(socket s) {
    if (auto ec = co_await s.handshake(5s)) {
      errors.push_back(ec);
      co_return;
    }
    infos.push_back(s.connection_information().value());
    for (;;) {
      auto m = co_await s.recv();
      if (!m) co_return;
      if (co_await s.send(std::span<const std::uint8_t>(*m))) co_return;
    }
  }
};

struct features : loopback {
  socket_options u32{.packet = framing::packet_mode::u32};

  asio::awaitable<result<socket>> dial(const context& cctx, std::uint16_t port,
                                       const std::string& host = "localhost") {
    co_return co_await socket::connect(io.get_executor(), host, port, cctx, 5s, u32);
  }
};

TEST_F(features, NegotiatesAlpnWithTheServersPreferenceAmongTheClientsOffers) {
  auto so = server_opts();
  so.alpn = {"h2", "moat/1"};
  context sctx(role::server, so);
  auto co = client_opts();
  co.alpn = {"moat/1", "h2"};
  context cctx(role::client, co);
  echo_server srv(io, sctx);
  auto alpn = run(io, [&]() -> asio::awaitable<std::string> {
    auto s = co_await dial(cctx, srv.port());
    if (!s) co_return "error: " + s.error().message();
    co_return s->connection_information()->alpn;
  }());
  EXPECT_EQ(alpn, "h2");
}

TEST_F(features, FailsWithNoApplicationProtocolWhenAlpnHasNothingInCommon) {
  auto so = server_opts();
  so.alpn = {"h2"};
  context sctx(role::server, so);
  auto co = client_opts();
  co.alpn = {"moat/1"};
  context cctx(role::client, co);
  echo_server srv(io, sctx);
  auto ec = run(io, [&]() -> asio::awaitable<std::error_code> {
    auto s = co_await dial(cctx, srv.port());
    co_return s ? std::error_code{} : s.error();
  }());
  EXPECT_EQ(ec, std::error_code(120, alert_category())) << ec.message();
  io.run_for(100ms);
  ASSERT_EQ(srv.errors.size(), 1U);
  EXPECT_EQ(srv.errors[0], std::error_code(errc::no_application_protocol));
}

TEST_F(features, ServerPicksTheCertificateForTheRequestedSniHost) {
  auto so = server_opts();
  auto other = ca.issue("other.test");
  so.sni_hosts["other.test"] = {other.certfile, other.keyfile, {}, {}, {}};
  context sctx(role::server, so);
  context cctx(role::client, client_opts());
  echo_server srv(io, sctx);
  auto cn = run(io, [&]() -> asio::awaitable<std::string> {
    asio::ip::tcp::socket conn(io);
    co_await conn.async_connect({asio::ip::make_address("127.0.0.1"), srv.port()},
                                asio::use_awaitable);
    auto s = socket::upgrade(std::move(conn), cctx, "other.test", u32);
    if (auto ec = co_await s.handshake(5s)) co_return "error: " + ec.message();
    co_return s.peer_certificate()->common_name();
  }());
  EXPECT_EQ(cn, "other.test");
  io.run_for(50ms);
  ASSERT_EQ(srv.infos.size(), 1U);
  EXPECT_EQ(srv.infos[0].sni, "other.test");
}

TEST_F(features, ServerSniCallbackChoosesCredentialsPerHost) {
  auto so = server_opts();
  auto dyn = ca.issue("dynamic.test");
  std::vector<std::string> asked;
  so.sni_fun = [&](std::string_view host) -> std::optional<sni_credentials> {
    asked.emplace_back(host);
    if (host != "dynamic.test") return std::nullopt;
    return sni_credentials{dyn.certfile, dyn.keyfile, {}, {}, {}};
  };
  context sctx(role::server, so);
  auto co = client_opts();
  co.server_name_indication = "dynamic.test";
  context cctx(role::client, co);
  echo_server srv(io, sctx);
  auto cn = run(io, [&]() -> asio::awaitable<std::string> {
    auto s = co_await dial(cctx, srv.port());
    if (!s) co_return "error: " + s.error().message();
    co_return s->peer_certificate()->common_name();
  }());
  EXPECT_EQ(cn, "dynamic.test");
  EXPECT_EQ(asked, std::vector<std::string>{"dynamic.test"});
}

TEST_F(features, ClientResumesASessionFromATicketOnTheSecondConnection) {
  for (auto v : {version::tls1_3, version::tls1_2}) {
    auto so = server_opts();
    so.versions = {v};
    context sctx(role::server, so);
    context cctx(role::client, client_opts());
    echo_server srv(io, sctx);
    auto resumed = run(io, [&]() -> asio::awaitable<std::vector<bool>> {
      std::vector<bool> r;
      for (int i = 0; i < 2; ++i) {
        auto s = co_await dial(cctx, srv.port());
        if (!s) co_return r;
        // One exchange, so the TLS 1.3 ticket (sent after the handshake) is read.
        (void)co_await s->send("x");
        (void)co_await s->recv(0, 5s);
        r.push_back(s->connection_information()->resumed);
        co_await s->close();
      }
      co_return r;
    }());
    EXPECT_EQ(resumed, (std::vector<bool>{false, true})) << to_string(v);
  }
}

TEST_F(features, ServerWithoutTicketsNeverResumes) {
  auto so = server_opts();
  so.reuse_sessions = false;
  context sctx(role::server, so);
  context cctx(role::client, client_opts());
  echo_server srv(io, sctx);
  auto resumed = run(io, [&]() -> asio::awaitable<bool> {
    bool any = false;
    for (int i = 0; i < 2; ++i) {
      auto s = co_await dial(cctx, srv.port());
      if (!s) co_return true;
      (void)co_await s->send("x");
      (void)co_await s->recv(0, 5s);
      any = any || s->connection_information()->resumed;
      co_await s->close();
    }
    co_return any;
  }());
  EXPECT_FALSE(resumed);
}

TEST_F(features, ForcesTls12WhenOnlyThatVersionIsConfigured) {
  auto co = client_opts();
  co.versions = {version::tls1_2};
  context sctx(role::server, server_opts(pki::key_type::rsa));
  context cctx(role::client, co);
  echo_server srv(io, sctx);
  auto info = run(io, [&]() -> asio::awaitable<connection_info> {
    auto s = co_await dial(cctx, srv.port());
    if (!s) co_return connection_info{};
    co_return *s->connection_information();
  }());
  EXPECT_EQ(info.protocol, version::tls1_2);
  EXPECT_EQ(info.cipher_suite, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
}

TEST_F(features, RecvTimesOutWithoutClosingTheConnection) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  echo_server srv(io, sctx);
  auto r = run(io, [&]() -> asio::awaitable<std::pair<std::error_code, std::string>> {
    auto s = co_await dial(cctx, srv.port());
    if (!s) co_return std::pair{s.error(), std::string()};
    auto first = co_await s->recv(0, 100ms);
    (void)co_await s->send("after");
    auto second = co_await s->recv(0, 5s);
    co_return std::pair{first ? std::error_code{} : first.error(),
                        second ? text(*second) : second.error().message()};
  }());
  EXPECT_EQ(r.first, std::error_code(errc::recv_timeout));
  EXPECT_EQ(r.second, "after");
}

TEST_F(features, HandshakeTimesOutWhenThePeerSendsNothing) {
  context sctx(role::server, server_opts());
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
  asio::ip::tcp::socket idle(io);
  idle.connect(ls.local_endpoint());
  const auto start = std::chrono::steady_clock::now();
  auto ec = run(io, [&]() -> asio::awaitable<std::error_code> {
    auto s = co_await ls.transport_accept();
    if (!s) co_return s.error();
    co_return co_await s->handshake(200ms);
  }());
  EXPECT_EQ(ec, std::error_code(errc::handshake_timeout));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // The server closed the connection: the idle client sees EOF.
  boost::system::error_code rec;
  char b;
  idle.read_some(asio::buffer(&b, 1), rec);
  EXPECT_EQ(rec, asio::error::eof);
}

TEST_F(features, ActiveOnceDeliversOneMessageThenTurnsPassive) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  echo_server srv(io, sctx);
  auto got = run(io, [&]() -> asio::awaitable<std::vector<std::string>> {
    std::vector<std::string> r;
    auto s = co_await dial(cctx, srv.port());
    if (!s) co_return r;
    s->set_handler({.on_data = [&](std::span<const std::uint8_t> d) {
      r.emplace_back(d.begin(), d.end());
    }});
    (void)co_await s->send("one");
    (void)co_await s->send("two");
    auto o = s->getopts();
    o.active = {framing::delivery::once, 0};
    EXPECT_FALSE(s->setopts(o));
    asio::steady_timer t(io, 200ms);
    co_await t.async_wait(asio::use_awaitable);
    EXPECT_EQ(s->getopts().active.mode, framing::delivery::passive);
    auto second = co_await s->recv(0, 5s);  // passive again: recv gets the second
    r.push_back(second ? "recv:" + text(*second) : second.error().message());
    co_return r;
  }());
  EXPECT_EQ(got, (std::vector<std::string>{"one", "recv:two"}));
}

TEST_F(features, ActiveNDeliversNMessagesThenSignalsPassive) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  echo_server srv(io, sctx);
  auto got = run(io, [&]() -> asio::awaitable<std::vector<std::string>> {
    std::vector<std::string> r;
    auto s = co_await dial(cctx, srv.port());
    if (!s) co_return r;
    s->set_handler(
        {.on_data = [&](std::span<const std::uint8_t> d) { r.emplace_back(d.begin(), d.end()); },
         .on_passive =
             [&] {
               r.emplace_back("passive");
             }});
    for (const char* m : {"a", "b", "c"}) (void)co_await s->send(m);
    auto o = s->getopts();
    o.active = {framing::delivery::count, 2};
    EXPECT_FALSE(s->setopts(o));
    asio::steady_timer t(io, 200ms);
    co_await t.async_wait(asio::use_awaitable);
    co_return r;
  }());
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "passive"}));
}

TEST_F(features, ActiveTrueReportsTheClose) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  auto ls = listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx,
                                  {.accepted = u32});
  std::vector<std::string> events;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await ls.transport_accept();
        if (!s || co_await s->handshake(5s)) co_return;
        (void)co_await s->send("hello");
        co_await s->close();
      },
      asio::detached);
  run(io, [&]() -> asio::awaitable<void> {
    auto s = co_await dial(cctx, ls.local_endpoint().port());
    if (!s) co_return;
    s->set_handler(
        {.on_data =
             [&](std::span<const std::uint8_t> d) { events.emplace_back(d.begin(), d.end()); },
         .on_closed = [&] { events.emplace_back("closed"); },
         .on_error =
             [&](std::error_code ec) {
               events.push_back("error " + ec.message());
             }});
    auto o = s->getopts();
    o.active = {framing::delivery::active, 0};
    EXPECT_FALSE(s->setopts(o));
    asio::steady_timer t(io, 300ms);
    co_await t.async_wait(asio::use_awaitable);
  }());
  EXPECT_EQ(events, (std::vector<std::string>{"hello", "closed"}));
}

TEST_F(features, KeyUpdateKeepsTheConnectionWorking) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  echo_server srv(io, sctx);
  auto reply = run(io, [&]() -> asio::awaitable<std::string> {
    auto s = co_await dial(cctx, srv.port());
    if (!s) co_return s.error().message();
    if (auto ec = co_await s->update_keys(true)) co_return ec.message();
    (void)co_await s->send("after update");
    auto m = co_await s->recv(0, 5s);
    co_return m ? text(*m) : m.error().message();
  }());
  EXPECT_EQ(reply, "after update");
}

TEST_F(features, OversizedFrameIsRejectedWithAFramingError) {
  context sctx(role::server, server_opts());
  context cctx(role::client, client_opts());
  echo_server srv(io, sctx, {.packet = framing::packet_mode::u32, .packet_size = 1024});
  auto ec = run(io, [&]() -> asio::awaitable<std::error_code> {
    socket_options big = u32;
    big.packet_size = 1 << 20;
    auto s = co_await socket::connect(io.get_executor(), "localhost", srv.port(), cctx, 5s, big);
    if (!s) co_return s.error();
    (void)co_await s->send(std::string(4096, 'x'));
    auto m = co_await s->recv(0, 5s);
    co_return m ? std::error_code{} : m.error();
  }());
  // The server dropped the connection: the client sees it closed.
  EXPECT_TRUE(ec == std::error_code(errc::closed) || ec == std::error_code(errc::truncated))
      << ec.message();
}

TEST_F(features, KeylogCallbackReceivesNssKeyLogLines) {
  auto co = client_opts();
  std::vector<std::string> lines;
  co.keylog = [&](std::string_view l) {
    lines.emplace_back(l);
  };
  context sctx(role::server, server_opts());
  context cctx(role::client, co);
  echo_server srv(io, sctx);
  run(io, [&]() -> asio::awaitable<void> {
    (void)co_await dial(cctx, srv.port());
  }());
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].rfind("CLIENT_HANDSHAKE_TRAFFIC_SECRET ", 0), 0U) << lines[0];
}

}  // namespace
}  // namespace moat::tls
