// TLS 1.2 renegotiation is always refused: the peer gets a no_renegotiation alert (openssl
// s_client's "R" command asks for one; OpenSSL 3 then gives up the connection itself).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <moat/tls/socket.hpp>

#include "support/support.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;

TEST(Renegotiation, AClientRequestIsRefusedWithANoRenegotiationAlert) {
  if (!test::have_program("openssl")) GTEST_SKIP() << "openssl not installed";
  test::temp_dir dir;
  test::test_ca ca(dir.path() / "ca");
  auto leaf = ca.issue("localhost");
  options so;
  so.certfile = leaf.certfile;
  so.keyfile = leaf.keyfile;
  context sctx(role::server, so);
  asio::io_context io;
  auto ls = listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx,
                                  {.accepted = {.packet = framing::packet_mode::line}});
  std::vector<std::string> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await ls.transport_accept();
        if (!s || co_await s->handshake(5s)) co_return;
        for (;;) {
          auto m = co_await s->recv(0, 10s);
          if (!m) co_return;
          got.emplace_back(m->begin(), m->end());
          (void)co_await s->send("echo " + got.back());
        }
      },
      asio::detached);
  test::child_process client({"openssl", "s_client", "-connect",
                              "127.0.0.1:" + std::to_string(ls.local_endpoint().port()), "-tls1_2",
                              "-CAfile", ca.certfile().string(), "-servername", "localhost"});
  auto pump = [&](const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline &&
           client.output().find(needle) == std::string::npos) {
      io.run_for(20ms);
    }
    return client.output().find(needle) != std::string::npos;
  };
  client.write_stdin("before\n");
  ASSERT_TRUE(pump("echo before")) << client.output();
  client.write_stdin("R\n");  // s_client: renegotiate
  ASSERT_TRUE(pump("RENEGOTIATING")) << client.output();
  EXPECT_TRUE(pump("no renegotiation")) << client.output();
  EXPECT_EQ(got, (std::vector<std::string>{"before\n"}));
}

}  // namespace
}  // namespace moat::tls
