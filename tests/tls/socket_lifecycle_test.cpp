// A socket's life at its edges: a moved-from socket is empty rather than a null pointer, and an
// active-mode handler that throws ends its connection loudly instead of silently stopping
// delivery.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <moat/log.hpp>
#include <moat/tls/socket.hpp>
#include <sstream>

#include "support/support.hpp"
#include "tls/tls_fixture.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;

struct socket_lifecycle : test_fixture::tls_fixture {
  asio::io_context io;
};

TEST_F(socket_lifecycle, AMovedFromSocketIsEmptyNotANullPointer) {
  auto [server, client] = test::connected_pair(io, sctx, cctx, u32, u32);
  socket moved = std::move(server);
  EXPECT_TRUE(moved.is_open());
  // NOLINTBEGIN(bugprone-use-after-move): the point of the test
  EXPECT_FALSE(server.is_open());
  EXPECT_EQ(server.getopts().packet, framing::packet_mode::raw);
  EXPECT_FALSE(server.connection_information());
  EXPECT_FALSE(server.peer_certificate());
  EXPECT_FALSE(server.peername());
  EXPECT_EQ(server.setopts(u32), errc::not_connected);
  server.set_handler({});
  EXPECT_EQ(test::run(io, server.send("x")), errc::not_connected);
  EXPECT_EQ(test::run(io, server.recv(0, 1s)).error(), errc::not_connected);
  EXPECT_THROW((void)server.tls_stream(), std::logic_error);
  EXPECT_THROW((void)server.get_executor(), std::logic_error);
  test::run(io, server.close());
  // NOLINTEND(bugprone-use-after-move)
}

TEST_F(socket_lifecycle, AnActiveHandlerThatThrowsEndsItsConnectionWithAnAlertAndALogLine) {
  // The line goes to the context's own logger, not to the global one.
  std::ostringstream logged;
  auto o = sctx.opts();
  o.logger = std::make_shared<spdlog::logger>(
      "this context's", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged));
  const context logging_ctx(role::server, o);
  std::ostringstream global;
  spdlog::drop("moat");
  spdlog::register_logger(std::make_shared<spdlog::logger>(
      "moat", std::make_shared<spdlog::sinks::ostream_sink_mt>(global)));
  struct unregister {
    ~unregister() { spdlog::drop("moat"); }
  } unregister_at_exit;
  auto [server, client] = test::connected_pair(io, logging_ctx, cctx, u32, u32);
  server.set_handler({.on_data = [](std::span<const std::uint8_t>) {
    throw std::runtime_error("the handler blew up on purpose");
  }});
  auto so = server.getopts();
  so.active = {framing::delivery::active};
  ASSERT_FALSE(server.setopts(so));
  const auto r = test::run(io, [&]() -> awaitable<std::error_code> {
    (void)co_await client.send("boom");
    auto m = co_await client.recv(0, test::scaled(10s));
    co_return m ? std::error_code() : m.error();
  }());
  EXPECT_EQ(r, std::error_code(80, alert_category())) << r.message();  // internal_error
  EXPECT_FALSE(server.is_open());
  EXPECT_NE(logged.str().find("the handler blew up on purpose"), std::string::npos) << logged.str();
  EXPECT_EQ(global.str(), "");
}

}  // namespace
}  // namespace moat::tls
