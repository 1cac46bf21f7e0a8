// Session resumption between a moat client and a moat server over loopback: a TLS 1.3 ticket
// is used at most once (RFC 8446 appendix C.4), TLS 1.2 sessions stay reusable, and a
// server's reload (a renewed certificate) does not end resumption for the clients it has.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <ctime>
#include <moat/tls/socket.hpp>
#include <string>
#include <vector>

#include "support/support.hpp"

// Only to move the TLS library's clock (see the ticket key rotation test).
#include <gnutls/gnutls.h>

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using moat::test::run;

std::string name_of(version v) {
  return v == version::tls1_3 ? "Tls13" : "Tls12";
}

/// A moat server that accepts connections until destroyed: each one handshakes, is sent
/// "ok" and is kept until the client closes. Records whether each handshake resumed.
struct server {
  listen_socket ls;
  std::vector<bool> resumed;
  std::vector<std::string> errors;

  server(asio::io_context& io, const context& ctx)
      : ls(listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0},
                                 ctx)) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  ~server() { ls.close(); }
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
      errors.push_back(ec.message());
      co_return;
    }
    resumed.push_back(s.connection_information()->resumed);
    if (co_await s.send("ok")) co_return;
    (void)co_await s.recv(0, 10s);  // until the client closes
    co_await s.close();
  }
};

struct Sessions : ::testing::Test {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  asio::io_context io;

  options server_opts(version v, const std::string& cn = "localhost") {
    auto leaf = ca.issue(cn);
    options o;
    o.certfile = leaf.certfile;
    o.keyfile = leaf.keyfile;
    o.versions = {v};
    return o;
  }
  options client_opts() {
    options o;
    o.cacertfile = ca.certfile();
    return o;
  }

  struct dialled {
    bool ok = false;
    bool resumed = false;
    std::string peer_cn;
  };

  /// One connection. With `read_reply` the client reads the server's "ok", and with it any
  /// TLS 1.3 ticket the server sent after the handshake; without, it closes right away and
  /// never sees a new ticket.
  dialled dial(const context& cctx, std::uint16_t port, bool read_reply) {
    return run(io, [&]() -> asio::awaitable<dialled> {
      dialled d;
      auto s = co_await socket::connect(io.get_executor(), "localhost", port, cctx, 5s);
      EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
      if (!s) co_return d;
      d.ok = true;
      d.resumed = s->connection_information()->resumed;
      if (auto peer = s->peer_certificate()) d.peer_cn = peer->common_name();
      if (read_reply) {
        auto r = co_await s->recv(0, 5s);
        EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
      }
      co_await s->close();
      co_return d;
    }());
  }

  /// Lets the server side finish what it is doing (it records each handshake).
  void settle(const server& srv, std::size_t handshakes) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (srv.resumed.size() + srv.errors.size() < handshakes &&
           std::chrono::steady_clock::now() < deadline) {
      io.run_for(10ms);
    }
  }
};

TEST_F(Sessions, ATls13TicketIsUsedAtMostOnce) {
  context sctx(role::server, server_opts(version::tls1_3));
  context cctx(role::client, client_opts());
  server srv(io, sctx);
  // The first connection reads, so it receives a ticket.
  EXPECT_FALSE(dial(cctx, srv.port(), true).resumed);
  // The second resumes with it, and closes before the server's next ticket is read.
  EXPECT_TRUE(dial(cctx, srv.port(), false).resumed);
  // The third has no unused ticket: a full handshake, not the same ticket again.
  EXPECT_FALSE(dial(cctx, srv.port(), false).resumed);
  settle(srv, 3);
  EXPECT_EQ(srv.resumed, (std::vector<bool>{false, true, false}));
  EXPECT_TRUE(srv.errors.empty()) << srv.errors.front();
}

TEST_F(Sessions, EveryReconnectResumesWhileEachReadsItsFreshTicket) {
  context sctx(role::server, server_opts(version::tls1_3));
  context cctx(role::client, client_opts());
  server srv(io, sctx);
  std::vector<bool> resumed;
  for (int i = 0; i < 4; ++i) resumed.push_back(dial(cctx, srv.port(), true).resumed);
  EXPECT_EQ(resumed, (std::vector<bool>{false, true, true, true}));
}

TEST_F(Sessions, ATls12SessionStaysReusable) {
  context sctx(role::server, server_opts(version::tls1_2));
  context cctx(role::client, client_opts());
  server srv(io, sctx);
  std::vector<bool> resumed;
  resumed.push_back(dial(cctx, srv.port(), true).resumed);
  for (int i = 0; i < 2; ++i) resumed.push_back(dial(cctx, srv.port(), false).resumed);
  EXPECT_EQ(resumed, (std::vector<bool>{false, true, true}));
}

TEST_F(Sessions, AClientRemembersSessionsForAtMostSessionCacheSizeServers) {
  for (const std::size_t size : {std::size_t{1}, std::size_t{2}}) {
    context sctx(role::server, server_opts(version::tls1_2));
    server a(io, sctx);
    server b(io, sctx);
    auto co = client_opts();
    co.session_cache_size = size;
    context cctx(role::client, co);
    dial(cctx, a.port(), true);
    dial(cctx, b.port(), true);
    // With room for one server, b's session pushed a's out; with two, a's is still there.
    EXPECT_EQ(dial(cctx, a.port(), true).resumed, size == 2) << "session_cache_size " << size;
    EXPECT_EQ(dial(cctx, b.port(), true).resumed, size == 2) << "session_cache_size " << size;
  }
}

TEST_F(Sessions, AReloadKeepsTheClientsCacheAndAppliesItsNewBound) {
  context sctx(role::server, server_opts(version::tls1_2));
  server a(io, sctx);
  server b(io, sctx);
  context cctx(role::client, client_opts());
  dial(cctx, a.port(), true);
  dial(cctx, b.port(), true);
  auto co = client_opts();
  co.session_cache_size = 1;
  cctx.reload(co);  // keeps b's session, the most recently used
  EXPECT_TRUE(dial(cctx, b.port(), true).resumed);
  EXPECT_FALSE(dial(cctx, a.port(), true).resumed);
}

// The ticket key rotates on the TLS library's own schedule, not with reloads. GnuTLS 3.7
// (lib/stek.c) encrypts tickets with SHA3-512(T || master key), T = unix time / (3 x the
// session expiration of 21600 s), and decrypts with the key of the current and of the previous
// period. Its clock is a process-wide time function, which this test moves to just before a
// period ends. (A ticket two periods old cannot be told apart from an expired one: GnuTLS ends
// every resumption 21600 s after the full handshake it stems from.)
std::time_t library_now = 0;
std::time_t library_time(std::time_t* t) {
  if (t != nullptr) *t = library_now;
  return library_now;
}

TEST_F(Sessions, ATicketFromJustBeforeTheTicketKeyRotatesStillResumesJustAfter) {
  constexpr std::time_t period = 3 * 21600;
  const std::time_t boundary = (std::time(nullptr) / period + 1) * period;
  struct restore {
    ~restore() { gnutls_global_set_time_function(&std::time); }
  } restore_clock;
  gnutls_global_set_time_function(&library_time);

  context sctx(role::server, server_opts(version::tls1_3));
  server srv(io, sctx);
  context cctx(role::client, client_opts());
  library_now = boundary - 30;  // the end of period T: a ticket under T's key
  EXPECT_FALSE(dial(cctx, srv.port(), true).resumed);
  library_now = boundary + 30;  // period T+1: tickets get T+1's key, T's still opens
  EXPECT_TRUE(dial(cctx, srv.port(), true).resumed) << "a ticket of the previous period";
  EXPECT_TRUE(dial(cctx, srv.port(), true).resumed) << "a ticket of this period";
}

class SessionsAcrossReload : public Sessions, public ::testing::WithParamInterface<version> {};

TEST_P(SessionsAcrossReload, AClientResumesAfterTheServerReloadsARenewedCertificate) {
  context sctx(role::server, server_opts(GetParam(), "localhost"));
  context cctx(role::client, client_opts());
  server srv(io, sctx);
  const auto first = dial(cctx, srv.port(), true);
  EXPECT_FALSE(first.resumed);
  EXPECT_EQ(first.peer_cn, "localhost");
  // A renewal: a new certificate and key, same name.
  sctx.reload(server_opts(GetParam(), "localhost"));
  EXPECT_TRUE(dial(cctx, srv.port(), true).resumed) << "the ticket from before the reload";
  // A new client gets the new certificate.
  const auto fresh = dial(context(role::client, client_opts()), srv.port(), true);
  EXPECT_FALSE(fresh.resumed);
  EXPECT_TRUE(fresh.ok);
  settle(srv, 3);
  EXPECT_EQ(srv.resumed, (std::vector<bool>{false, true, false}));
}

TEST_P(SessionsAcrossReload, AReloadThatTurnsTicketsOffEndsResumption) {
  context sctx(role::server, server_opts(GetParam()));
  context cctx(role::client, client_opts());
  server srv(io, sctx);
  EXPECT_FALSE(dial(cctx, srv.port(), true).resumed);
  auto off = server_opts(GetParam());
  off.reuse_sessions = false;
  sctx.reload(off);
  EXPECT_FALSE(dial(cctx, srv.port(), true).resumed);
}

INSTANTIATE_TEST_SUITE_P(Versions, SessionsAcrossReload,
                         ::testing::Values(version::tls1_3, version::tls1_2),
                         [](const auto& i) { return name_of(i.param); });

}  // namespace
}  // namespace moat::tls
