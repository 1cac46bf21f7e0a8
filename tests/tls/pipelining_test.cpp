// Bytes that arrive ahead of the reader. Pipelined requests: a reply sent while more requests
// are already buffered is held back and written with the following ones -- never lost, never
// reordered, and never held once the handler stops reading. And bytes buffered behind the last
// frame survive a change of packet mode.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/tls/socket.hpp>
#include <string>

#include "support/support.hpp"
#include "tls/tls_fixture.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;

struct pipelining : test_fixture::tls_fixture {};

TEST_F(pipelining, ManyRequestsSentAtOnceAreAnsweredInOrder) {
  asio::io_context io;
  auto [server, client] = test::connected_pair(io, sctx, cctx, u32, u32);
  constexpr int n = 200;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        for (;;) {
          auto m = co_await server.recv_view();
          if (!m) co_return;
          std::string reply = "re:" + std::string(m->begin(), m->end());
          if (co_await server.send(reply)) co_return;
        }
      },
      asio::detached);
  const auto got = test::run(io, [&]() -> awaitable<std::vector<std::string>> {
    for (int i = 0; i < n; ++i) {
      EXPECT_FALSE(co_await client.send(std::to_string(i)));
    }
    std::vector<std::string> replies;
    for (int i = 0; i < n; ++i) {
      auto r = co_await client.recv(0, test::scaled(10s));
      if (!r) break;
      replies.emplace_back(r->begin(), r->end());
    }
    co_return replies;
  }());
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(got[static_cast<std::size_t>(i)], "re:" + std::to_string(i));
}

TEST_F(pipelining, AReplyHeldBackForTheNextRequestIsSentWhenTheHandlerStopsReading) {
  asio::io_context io;
  auto [server, client] = test::connected_pair(io, sctx, cctx, u32, u32);
  // Both requests are in the server's buffer before it reads the first, so its reply to the
  // first is held back for the second -- which the handler then does not ask for for a minute.
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        asio::steady_timer t(io, 300ms);
        co_await t.async_wait(asio::use_awaitable);
        auto m = co_await server.recv_view();
        if (!m) co_return;
        if (co_await server.send("first reply")) co_return;
        t.expires_after(60s);
        co_await t.async_wait(asio::use_awaitable);
      },
      asio::detached);
  const auto start = std::chrono::steady_clock::now();
  const auto reply = test::run(io, [&]() -> awaitable<std::string> {
    EXPECT_FALSE(co_await client.send("one"));
    EXPECT_FALSE(co_await client.send("two"));
    auto r = co_await client.recv(0, test::scaled(10s));
    co_return r ? std::string(r->begin(), r->end()) : r.error().message();
  }());
  EXPECT_EQ(reply, "first reply");
  EXPECT_LT(std::chrono::steady_clock::now() - start, test::scaled(10s));
}

TEST_F(pipelining, SwitchingToRawModeKeepsTheBytesBufferedBehindTheLastFrame) {
  asio::io_context io;
  auto [server, client] = test::connected_pair(io, sctx, cctx, u32, socket_options{});
  const auto got = test::run(io, [&]() -> awaitable<std::string> {
    // One write, so one record: a {packet,4} frame and then bytes of the raw protocol that
    // the peer switches to (like a STARTTLS-style upgrade after a framed hello).
    const std::string wire = std::string("\0\0\0\5", 4) + "hello" + "RAWTAIL";
    EXPECT_FALSE(co_await client.send(wire));
    auto frame = co_await server.recv(0, test::scaled(10s));
    EXPECT_TRUE(frame && std::string(frame->begin(), frame->end()) == "hello");
    auto o = server.getopts();
    o.packet = framing::packet_mode::raw;
    EXPECT_FALSE(server.setopts(o));
    auto rest = co_await server.recv(0, test::scaled(2s));
    co_return rest ? std::string(rest->begin(), rest->end()) : rest.error().message();
  }());
  EXPECT_EQ(got, "RAWTAIL");
}

}  // namespace
}  // namespace moat::tls
