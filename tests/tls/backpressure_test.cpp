// Backpressure: a handler that does not take data stops the reading, so a fast sender meets
// TCP flow control and the receiver's memory stays bounded (Erlang once lost this: ERL-934).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <moat/tls/socket.hpp>

#include "support/support.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;

std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0;
  std::size_t resident = 0;
  f >> pages >> resident;
  return resident * 4096;
}

struct backpressure : ::testing::TestWithParam<framing::active_mode> {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  asio::io_context io;
};

TEST_P(backpressure, AReceiverThatDoesNotTakeDataKeepsMemoryBoundedAndStallsTheSender) {
  auto leaf = ca.issue("localhost");
  options so;
  so.certfile = leaf.certfile;
  so.keyfile = leaf.keyfile;
  context sctx(role::server, so);
  options co;
  co.cacertfile = ca.certfile();
  context cctx(role::client, co);

  const socket_options u32{.packet = framing::packet_mode::u32, .recbuf = 64 * 1024};
  auto ls = listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx,
                                  {.accepted = u32});
  std::optional<socket> server_side;
  std::size_t delivered = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await ls.transport_accept();
        if (!s || co_await s->handshake(5s)) co_return;
        server_side.emplace(std::move(*s));
        // The handler takes one message and then never asks again (active once), or
        // nobody ever calls recv (passive).
        server_side->set_handler({.on_data = [&](std::span<const std::uint8_t>) {
          ++delivered;
        }});
        auto o = server_side->getopts();
        o.active = GetParam();
        EXPECT_FALSE(server_side->setopts(o));
      },
      asio::detached);

  const std::size_t before = rss_bytes();
  std::size_t sent = 0;
  bool stalled = false;
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await socket::connect(
            io.get_executor(), "localhost", ls.local_endpoint().port(), cctx, 5s,
            {.packet = framing::packet_mode::u32, .sndbuf = 64 * 1024});
        EXPECT_TRUE(s.has_value());
        if (!s) co_return;
        const std::string chunk(64 * 1024, 'x');
        // Send for up to 3 s; a bounded receiver makes the sender block long before 200 MB.
        asio::steady_timer deadline(io, 3s);
        bool expired = false;
        deadline.async_wait([&](boost::system::error_code ec) {
          if (!ec) {
            expired = true;
            stalled = true;
            boost::system::error_code ignored;
            s->tls_stream().next_layer().cancel(ignored);
          }
        });
        while (!expired && sent < 200U * 1024 * 1024) {
          if (co_await s->send(chunk)) break;
          sent += chunk.size();
        }
        deadline.cancel();
      }(),
      20s);
  const std::size_t after = rss_bytes();

  EXPECT_TRUE(stalled) << "the sender was never stopped by flow control";
  EXPECT_LT(sent, 32U * 1024 * 1024)
      << "sent " << sent << " bytes into a receiver that reads nothing";
  EXPECT_LT(after > before ? after - before : 0, 48U * 1024 * 1024);
  EXPECT_LE(delivered, GetParam().mode == framing::delivery::once ? 1U : 0U);
}

std::string mode_name(const ::testing::TestParamInfo<framing::active_mode>& p) {
  return std::string(framing::to_string(p.param.mode));
}

INSTANTIATE_TEST_SUITE_P(modes, backpressure,
                         ::testing::Values(framing::active_mode{framing::delivery::passive, 0},
                                           framing::active_mode{framing::delivery::once, 0}),
                         mode_name);

}  // namespace
}  // namespace moat::tls
