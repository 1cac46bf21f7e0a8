// The framed socket over plain TCP (what EPMD and plain-TCP distribution need), and the TLS
// stream over a next layer other than a bare socket (beast::tcp_stream, so Beast's HTTP runs
// over moat's TLS): each against a real peer.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/src.hpp>  // Beast is compiled once per executable (separate compilation)
#include <moat/tls/socket.hpp>
#include <thread>

#include "support/support.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
namespace beast = boost::beast;
namespace http = beast::http;

std::string text(const std::vector<std::uint8_t>& v) {
  return {v.begin(), v.end()};
}

TEST(PlainSocket, AnErlangGenTcpClientWithPacket4TalksToTheFramedSocketOverPlainTcp) {
  if (!test::have_program("escript")) GTEST_SKIP() << "Erlang is not installed";
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  int served = 0;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto tcp = co_await acceptor.async_accept(asio::use_awaitable);
        auto s = socket::plain(std::move(tcp), {.packet = framing::packet_mode::u32});
        EXPECT_FALSE(s.is_tls());
        EXPECT_FALSE(co_await s.handshake());  // nothing to negotiate
        EXPECT_EQ(s.connection_information().error(), errc::wrong_mode);
        for (;;) {
          auto m = co_await s.recv(0, test::scaled(20s));
          if (!m) break;
          (void)co_await s.send("echo:" + text(*m));
          ++served;
        }
      },
      asio::detached);
  test::child_process erl(
      {"escript", (test::source_dir() / "tests/tls/peers/erlang_tcp_client.escript").string(),
       std::to_string(port), "one", "two", std::string(3000, 'x')});
  std::optional<int> rc;
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(60s);
  while (!(rc = erl.wait(0ms)) && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  io.run_for(50ms);
  EXPECT_EQ(rc, 0) << erl.output();
  EXPECT_NE(erl.output().find("reply 1 echo:one"), std::string::npos) << erl.output();
  EXPECT_NE(erl.output().find("reply 2 echo:two"), std::string::npos) << erl.output();
  EXPECT_NE(erl.output().find("reply 3 echo:xxx"), std::string::npos) << erl.output();
  EXPECT_EQ(served, 3);
}

TEST(PlainSocket, ConnectPlainAndPlainServerExchangeFramesBothWays) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const socket_options u16{.packet = framing::packet_mode::u16};
  const auto r = test::run(io, [&]() -> awaitable<std::string> {
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          auto s = socket::plain(co_await acceptor.async_accept(asio::use_awaitable), u16);
          auto m = co_await s.recv(0, test::scaled(10s));
          if (m) (void)co_await s.send(text(*m) + "!");
          co_await s.close();
        },
        asio::detached);
    auto c = co_await socket::connect_plain(io.get_executor(), "127.0.0.1",
                                            acceptor.local_endpoint().port(), 10s, u16);
    if (!c) co_return "connect: " + c.error().message();
    (void)co_await c->send("hello");
    auto reply = co_await c->recv(0, test::scaled(10s));
    auto end = co_await c->recv(0, test::scaled(10s));
    co_return (reply ? text(*reply) : reply.error().message()) + " then " +
        (end ? std::string("more") : reason_name(end.error()));
  }());
  EXPECT_EQ(r, "hello! then closed");
}

TEST(GenericStream, BeastServesHttpsOverATlsStreamOnABeastTcpStreamToCurl) {
  if (!test::have_program("curl")) GTEST_SKIP() << "curl is not installed";
  test::temp_dir dir;
  test::test_ca ca(dir.path() / "ca");
  auto leaf = ca.issue("localhost");
  options o;
  o.certfile = leaf.certfile;
  o.keyfile = leaf.keyfile;
  o.alpn = {"http/1.1"};
  context ctx(role::server, o);
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  std::string seen_target;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        beast::tcp_stream tcp(co_await acceptor.async_accept(asio::use_awaitable));
        tcp.expires_after(test::scaled(20s));  // Beast's own timeout, under moat's TLS
        stream<beast::tcp_stream> tls(std::move(tcp), ctx);
        co_await tls.async_handshake(asio::use_awaitable);
        beast::flat_buffer buf;
        http::request<http::string_body> req;
        co_await http::async_read(tls, buf, req, asio::use_awaitable);
        seen_target = std::string(req.target());
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "text/plain");
        res.body() = "hello from moat";
        res.keep_alive(false);
        res.prepare_payload();
        co_await http::async_write(tls, res, asio::use_awaitable);
        co_await tls.async_shutdown(asio::as_tuple(asio::use_awaitable));
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  test::child_process curl({"curl", "-sS", "--max-time", "30", "--cacert", ca.certfile().string(),
                            "https://localhost:" + std::to_string(port) + "/path?q=1"});
  std::optional<int> rc;
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(60s);
  while (!(rc = curl.wait(0ms)) && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  EXPECT_EQ(rc, 0) << curl.output();
  EXPECT_NE(curl.output().find("hello from moat"), std::string::npos) << curl.output();
  EXPECT_EQ(seen_target, "/path?q=1");
}

}  // namespace
}  // namespace moat::tls
