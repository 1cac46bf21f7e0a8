// Many senders on one socket: messages never interleave, waiting senders cost no CPU, and a
// peer that stops reading is cut off by the send timeout instead of pinning every sender.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/tls/socket.hpp>
#include <thread>

#include "support/support.hpp"
#include "tls/tls_fixture.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;

std::error_code co_await_result(asio::io_context& io, awaitable<std::error_code> aw) {
  return test::run(io, std::move(aw));
}

struct send_queue : test_fixture::tls_fixture {
  std::pair<socket, socket> pair(asio::io_context& io, socket_options server_opts) {
    return test::connected_pair(io, sctx, cctx, server_opts, u32);
  }
};

TEST_F(send_queue, EightSendersBlockedOnAPeerThatDoesNotReadUseNoCpu) {
  asio::io_context io;
  auto [server, client] = pair(io, {.packet = framing::packet_mode::u32, .sndbuf = 64 * 1024});
  const std::vector<std::uint8_t> big(1 << 20, 0x5a);
  std::atomic<int> finished{0};
  for (int i = 0; i < 8; ++i) {
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          for (;;) {
            if (co_await server.send(big)) break;
          }
          ++finished;
        },
        asio::detached);
  }
  // Run the senders on their own thread until the socket's buffers are full and all eight
  // are waiting; then measure this process (the client never reads).
  io.restart();
  std::thread runner([&] { io.run(); });
  const double share = test::cpu_share(0, 2s);
  EXPECT_LT(share, 0.02) << "waiting senders spin";
  // Closing the peer ends every sender.
  asio::post(io, [&] {
    boost::system::error_code ignored;
    client.tls_stream().next_layer().close(ignored);
  });
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(30s);
  while (finished < 8 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  io.stop();
  runner.join();
  EXPECT_EQ(finished, 8);
}

TEST_F(send_queue, APeerThatStopsReadingIsCutOffByTheSendTimeoutAndEveryQueuedSenderFails) {
  asio::io_context io;
  auto [server, client] = pair(io, {.packet = framing::packet_mode::u32,
                                    .sndbuf = 64 * 1024,
                                    .send_timeout = std::chrono::milliseconds(300)});
  const std::vector<std::uint8_t> big(1 << 20, 0x5a);
  std::vector<std::error_code> ends;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          for (;;) {
            if (auto ec = co_await server.send(big)) {
              ends.push_back(ec);
              co_return;
            }
          }
        },
        asio::detached);
  }
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(20s);
  while (ends.size() < 3 && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  ASSERT_EQ(ends.size(), 3U);
  EXPECT_EQ(ends[0], errc::send_timeout) << ends[0].message();
  EXPECT_EQ(ends[0], std::errc::timed_out) << "a send timeout is a timeout";
  EXPECT_EQ(ends[1], errc::not_connected) << ends[1].message();
  EXPECT_EQ(ends[2], errc::not_connected) << ends[2].message();
  // Either intact or closed: after a send timeout it is closed, and says so.
  EXPECT_FALSE(server.is_open());
  EXPECT_EQ(co_await_result(io, server.send("more")), errc::not_connected);
}

}  // namespace
}  // namespace moat::tls
