// A server's asynchronous certificate selection (options::select_certificate): the selector
// sees the client's SNI name and offered ALPN protocols, chooses the certificate (or falls
// back to sni_hosts and the main one), may wait without holding up other handshakes on its
// worker, and fails the handshake loudly when it throws. The ClientHello reader under it is
// fed hostile bytes directly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <moat/error.hpp>
#include <moat/tls/detail/client_hello_reader.hpp>
#include <moat/tls/detail/engine.hpp>
#include <moat/tls/socket.hpp>
#include <random>
#include <sstream>

#include "support/support.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using bytes = std::vector<std::uint8_t>;
using selection = std::optional<certificate_set>;

// ---- Helpers ------------------------------------------------------------------------------

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

using test::exited;

struct server_side {
  std::error_code ec;
  connection_info info;
};

// Accepts one connection, handshakes, then closes it.
awaitable<server_side> serve_one(listen_socket& ls) {
  server_side out;
  auto s = co_await ls.transport_accept();
  if (!s) {
    out.ec = s.error();
    co_return out;
  }
  out.ec = co_await s->handshake(test::scaled(10s));
  if (!out.ec) out.info = s->connection_information().value();
  co_await s->close(1s);
  co_return out;
}

awaitable<void> handshake_and_close(socket s) {
  const auto ec = co_await s.handshake(test::scaled(10s));
  if (!ec) co_await s.close(1s);
}

// Accepts connections until `ls` is closed; each handshakes on its own coroutine.
awaitable<void> serve_all(listen_socket& ls) {
  for (;;) {
    auto s = co_await ls.transport_accept();
    if (!s) co_return;
    asio::co_spawn(co_await asio::this_coro::executor, handshake_and_close(std::move(*s)),
                   asio::detached);
  }
}

struct client_side {
  std::error_code ec;
  std::string peer_cn;
};

// Connects to 127.0.0.1:port with `ctx` (its server_name_indication, if any, is the SNI).
awaitable<client_side> connect_once(const context& ctx, std::uint16_t port) {
  client_side out;
  auto s = co_await socket::connect(co_await asio::this_coro::executor, "127.0.0.1", port, ctx,
                                    test::scaled(10s));
  if (!s) {
    out.ec = s.error();
    co_return out;
  }
  if (auto peer = s->peer_certificate()) out.peer_cn = peer->common_name();
  co_await s->close(1s);
  co_return out;
}

// A moat server and a moat client connecting to it once.
std::pair<server_side, client_side> handshake_once(asio::io_context& io, const context& server,
                                                   const context& client) {
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, server);
  const auto port = ls.local_endpoint().port();
  return test::run(io, [&]() -> awaitable<std::pair<server_side, client_side>> {
    using namespace asio::experimental::awaitable_operators;
    auto [s, c] = co_await (serve_one(ls) && connect_once(client, port));
    co_return std::pair{std::move(s), std::move(c)};
  }());
}

struct certificate_selection : ::testing::Test {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  test::issued main_leaf = ca.issue("localhost");
  test::issued other_leaf = ca.issue("other.test");
  test::issued challenge_leaf = ca.issue("acme-challenge.test");
  asio::io_context io;

  [[nodiscard]] options server_opts() const {
    options o;
    o.certfile = main_leaf.certfile;
    o.keyfile = main_leaf.keyfile;
    return o;
  }
  // A client that trusts the test CA and sends `sni` (none: connects to 127.0.0.1 without SNI).
  [[nodiscard]] context client(const std::string& sni = {}) const {
    options o;
    o.cacertfile = ca.certfile();
    o.server_name_indication = sni;
    o.reuse_sessions = false;
    return {role::client, o};
  }
  [[nodiscard]] static sni_credentials in_memory(const test::issued& leaf) {
    sni_credentials c;
    c.cert = {leaf.cert};
    c.key = leaf.key;
    return c;
  }
};

// ---- Choosing ---------------------------------------------------------------------------

TEST_F(certificate_selection, ASelectorPicksTheCertificateByTheRequestedServerName) {
  std::vector<std::string> seen;
  const certificate_set other(in_memory(other_leaf));  // built once, handed out per handshake
  auto o = server_opts();
  o.select_certificate = [&](const client_hello& hello) -> awaitable<selection> {
    seen.push_back(hello.server_name);
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    if (hello.server_name == "other.test") co_return other;
    co_return in_memory(main_leaf);  // sni_credentials work too
  };
  const context sctx(role::server, o);

  auto [s1, c1] = handshake_once(io, sctx, client("Other.Test"));
  ASSERT_FALSE(s1.ec) << s1.ec.message();
  ASSERT_FALSE(c1.ec) << c1.ec.message();
  EXPECT_EQ(c1.peer_cn, "other.test");

  auto [s2, c2] = handshake_once(io, sctx, client("localhost"));
  ASSERT_FALSE(s2.ec) << s2.ec.message();
  ASSERT_FALSE(c2.ec) << c2.ec.message();
  EXPECT_EQ(c2.peer_cn, "localhost");
  // The name is lower-cased for the selector.
  EXPECT_THAT(seen, ElementsAre("other.test", "localhost"));
}

TEST_F(certificate_selection,
       ASelectorPresentsTheAcmeChallengeCertificateToAClientOfferingAcmeTls1) {
  if (!test::have_program("openssl")) GTEST_SKIP() << "openssl is not installed";
  std::vector<client_hello> seen;
  const certificate_set challenge(in_memory(challenge_leaf));
  auto o = server_opts();
  // RFC 8737: the server must be able to negotiate acme-tls/1, so it is in its list.
  o.alpn = {"http/1.1", "acme-tls/1"};
  o.select_certificate = [&](const client_hello& hello) -> awaitable<selection> {
    seen.push_back(hello);
    if (std::find(hello.alpn.begin(), hello.alpn.end(), "acme-tls/1") != hello.alpn.end()) {
      co_return challenge;
    }
    co_return std::nullopt;
  };
  const context sctx(role::server, o);
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
  test::child_process peer(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(ls.local_endpoint().port()),
       "-servername", "x.test", "-alpn", "acme-tls/1", "-CAfile", ca.certfile().string()});
  auto [server, status] =
      test::run(io, [&]() -> awaitable<std::pair<server_side, std::optional<int>>> {
        auto s = co_await serve_one(ls);
        peer.close_stdin();  // s_client then ends the connection and exits
        auto st = co_await exited(peer, test::scaled(10s));
        co_return std::pair{s, st};
      }());
  ASSERT_FALSE(server.ec) << server.ec.message() << "\n" << peer.output();
  EXPECT_EQ(server.info.alpn, "acme-tls/1");
  EXPECT_EQ(server.info.sni, "x.test");
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].server_name, "x.test");
  EXPECT_THAT(seen[0].alpn, ElementsAre("acme-tls/1"));
  EXPECT_THAT(peer.output(), HasSubstr("subject=CN = acme-challenge.test"));
  EXPECT_THAT(peer.output(), HasSubstr("ALPN protocol: acme-tls/1"));
  EXPECT_EQ(status, 0) << peer.output();
}

// RFC 6066 allows only host names as SNI, but clients send IP addresses: Erlang's
// inet6_tls_dist sends the host part of 'node@::1', OpenSSL what -servername says. The TLS
// library accepts an IPv4 address (it reads as a host name) and refuses an IPv6 one; it cannot
// be told otherwise, so the refusal at least says what happened and what to do.
TEST_F(certificate_selection, AnIpv4AddressAsSniIsServedAndAnIpv6OneRefusedWithAReasonSayingSo) {
  if (!test::have_program("openssl")) GTEST_SKIP() << "openssl is not installed";
  for (const std::string ip : {"127.0.0.1", "::1"}) {
    const context sctx(role::server, server_opts());
    auto ls =
        listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
    test::child_process peer({"openssl", "s_client", "-connect",
                              "127.0.0.1:" + std::to_string(ls.local_endpoint().port()),
                              "-servername", ip, "-CAfile", ca.certfile().string()});
    auto [server, status] =
        test::run(io, [&]() -> awaitable<std::pair<server_side, std::optional<int>>> {
          auto s = co_await serve_one(ls);
          peer.close_stdin();
          auto st = co_await exited(peer, test::scaled(10s));
          co_return std::pair{s, st};
        }());
    io.restart();
    if (ip == "::1") {
      EXPECT_EQ(server.ec, errc::sni_not_a_host_name) << server.ec.message();
      EXPECT_THAT(format_error(server.ec), HasSubstr("connect by host name"));
      EXPECT_THAT(peer.output(), HasSubstr("illegal parameter"));
      continue;
    }
    ASSERT_FALSE(server.ec) << ip << ": " << server.ec.message() << "\n" << peer.output();
    EXPECT_THAT(peer.output(), HasSubstr("subject=CN = localhost")) << ip;
    EXPECT_EQ(status, 0) << ip << ": " << peer.output();
  }
}

TEST_F(certificate_selection, ASelectorThatReturnsNothingFallsBackToSniHostsAndTheMainCertificate) {
  int calls = 0;
  auto o = server_opts();
  o.sni_hosts["other.test"] = in_memory(other_leaf);
  o.select_certificate = [&](const client_hello&) -> awaitable<selection> {
    ++calls;
    co_return std::nullopt;
  };
  const context sctx(role::server, o);

  auto [s1, c1] = handshake_once(io, sctx, client("other.test"));
  ASSERT_FALSE(c1.ec) << c1.ec.message();
  EXPECT_EQ(c1.peer_cn, "other.test");  // sni_hosts

  auto [s2, c2] = handshake_once(io, sctx, client());  // no SNI
  ASSERT_FALSE(c2.ec) << c2.ec.message();
  EXPECT_EQ(c2.peer_cn, "localhost");  // the main certificate
  EXPECT_EQ(calls, 2);
}

TEST_F(certificate_selection, ASelectorThatThrowsFailsTheHandshakeWithUnrecognizedNameAndALogLine) {
  std::ostringstream logged;
  auto o = server_opts();
  o.logger = std::make_shared<spdlog::logger>(
      "selection", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged));
  o.select_certificate = [](const client_hello& hello) -> awaitable<selection> {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    throw std::runtime_error("no certificate for " + hello.server_name + " on purpose");
  };
  const context sctx(role::server, o);
  auto [s, c] = handshake_once(io, sctx, client("other.test"));
  EXPECT_EQ(s.ec, errc::unrecognized_name) << s.ec.message();
  EXPECT_EQ(c.ec, std::error_code(112, alert_category())) << c.ec.message();
  EXPECT_THAT(logged.str(), HasSubstr("no certificate for other.test on purpose"));
  EXPECT_THAT(logged.str(), HasSubstr("alert sent: unrecognized_name"));

  // A selector that throws before it even returns its awaitable fails the same way.
  o.select_certificate = [](const client_hello&) -> awaitable<selection> {
    throw std::runtime_error("thrown before any awaitable");  // not a coroutine: no co_
  };
  const context sctx2(role::server, o);
  auto [s2, c2] = handshake_once(io, sctx2, client("other.test"));
  EXPECT_EQ(s2.ec, errc::unrecognized_name) << s2.ec.message();
  EXPECT_EQ(c2.ec, std::error_code(112, alert_category())) << c2.ec.message();
  EXPECT_THAT(logged.str(), HasSubstr("thrown before any awaitable"));
}

TEST_F(certificate_selection, ACertificateTheContextCannotUseFailsTheHandshakeLikeAThrow) {
  std::ostringstream logged;
  auto o = server_opts();
  o.logger = std::make_shared<spdlog::logger>(
      "selection", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged));
  o.signature_algs = {"ecdsa_secp256r1_sha256"};
  const auto rsa = ca.issue("rsa.test", pki::key_type::rsa);
  const certificate_set rsa_set(in_memory(rsa));
  o.select_certificate = [&](const client_hello&) -> awaitable<selection> {
    co_return rsa_set;
  };
  const context sctx(role::server, o);
  auto [s, c] = handshake_once(io, sctx, client("rsa.test"));
  EXPECT_EQ(s.ec, errc::unrecognized_name) << s.ec.message();
  EXPECT_EQ(c.ec, std::error_code(112, alert_category())) << c.ec.message();
  EXPECT_THAT(logged.str(), HasSubstr("signature_algs"));
}

TEST_F(certificate_selection, ACertificateSetIsCheckedWhenItIsBuilt) {
  sni_credentials mismatched = in_memory(main_leaf);
  mismatched.key = other_leaf.key;
  EXPECT_THROW((void)certificate_set(mismatched), config_error);
  EXPECT_THROW((void)certificate_set(sni_credentials{}), config_error);
  sni_credentials from_files;
  from_files.certfile = other_leaf.certfile;
  from_files.keyfile = other_leaf.keyfile;
  const certificate_set set(from_files);
  ASSERT_FALSE(set.chain().empty());
  EXPECT_EQ(set.chain().front().common_name(), "other.test");
}

// ---- Waiting ----------------------------------------------------------------------------

TEST_F(certificate_selection, ASelectionThatWaitsDoesNotHoldUpOtherHandshakesOnTheSameWorker) {
  // One io_context on this one thread serves every handshake, both sides.
  const certificate_set slow_set(in_memory(other_leaf));
  bool slow_selecting = false;
  std::chrono::milliseconds wait = test::scaled(100ms);
  auto o = server_opts();
  o.select_certificate = [&](const client_hello& hello) -> awaitable<selection> {
    if (hello.server_name != "other.test") co_return std::nullopt;
    slow_selecting = true;
    co_await sleep_for(wait);
    co_return slow_set;
  };
  const context sctx(role::server, o);
  const context fast_client = client();
  const context slow_client = client("other.test");
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
  const auto port = ls.local_endpoint().port();
  using clock = std::chrono::steady_clock;

  asio::co_spawn(io, serve_all(ls), asio::detached);

  // N concurrent fast handshakes; their end times.
  auto fast_batch = [&](int n) -> awaitable<std::vector<clock::time_point>> {
    std::vector<clock::time_point> ends;
    int pending = n;
    for (int k = 0; k < n; ++k) {
      asio::co_spawn(
          io,
          [&]() -> awaitable<void> {
            auto r = co_await connect_once(fast_client, port);
            EXPECT_FALSE(r.ec) << r.ec.message();
            EXPECT_EQ(r.peer_cn, "localhost");
            ends.push_back(clock::now());
            --pending;
          },
          asio::detached);
    }
    while (pending > 0) co_await sleep_for(1ms);
    co_return ends;
  };

  // Baseline, measured here: how long N handshakes take on this machine now.
  constexpr int n = 4;
  (void)test::run(io, fast_batch(1));  // warm up
  const auto base_start = clock::now();
  (void)test::run(io, fast_batch(n));
  const auto baseline =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - base_start);
  // The slow selection waits well beyond what the batch needs, however slow the machine is.
  wait = std::max(wait, 4 * baseline);

  using ms = std::chrono::milliseconds;
  // When each handshake ended, counted from when the slow selection began.
  const auto [slow_end, fast_ends] =
      test::run(io, [&]() -> awaitable<std::pair<ms, std::vector<ms>>> {
        clock::time_point slow_done{};
        asio::co_spawn(
            io,
            [&]() -> awaitable<void> {
              auto r = co_await connect_once(slow_client, port);
              EXPECT_FALSE(r.ec) << r.ec.message();
              EXPECT_EQ(r.peer_cn, "other.test");
              slow_done = clock::now();
            },
            asio::detached);
        while (!slow_selecting) co_await sleep_for(1ms);
        const auto start = clock::now();
        const auto ends = co_await fast_batch(n);
        while (slow_done == clock::time_point{}) co_await sleep_for(1ms);
        std::vector<ms> fast;
        for (const auto& e : ends) fast.push_back(std::chrono::duration_cast<ms>(e - start));
        co_return std::pair{std::chrono::duration_cast<ms>(slow_done - start), fast};
      }());
  ls.close();
  test::run(io, sleep_for(1ms));  // lets the accept loop see the close
  ASSERT_EQ(fast_ends.size(), static_cast<std::size_t>(n));
  for (const auto& end : fast_ends) {
    EXPECT_LT(end.count(), slow_end.count())
        << "baseline: " << n << " handshakes in " << baseline.count() << " ms; the selection waits "
        << wait.count() << " ms";
  }
}

TEST_F(certificate_selection, TheHandshakeTimeoutCancelsASelectionStillWaiting) {
  bool cancelled = false;
  auto o = server_opts();
  o.select_certificate = [&](const client_hello&) -> awaitable<selection> {
    asio::steady_timer forever(co_await asio::this_coro::executor, std::chrono::hours(1));
    auto [ec] = co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
    cancelled = ec == asio::error::operation_aborted;
    co_return std::nullopt;
  };
  const context sctx(role::server, o);
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
  const auto port = ls.local_endpoint().port();
  const context cctx = client("localhost");
  const auto [server_ec, client_ec] =
      test::run(io, [&]() -> awaitable<std::pair<std::error_code, std::error_code>> {
        using namespace asio::experimental::awaitable_operators;
        auto serve = [&]() -> awaitable<std::error_code> {
          auto s = co_await ls.transport_accept();
          if (!s) co_return s.error();
          co_return co_await s->handshake(200ms);
        };
        auto [sec, c] = co_await (serve() && connect_once(cctx, port));
        co_return std::pair{sec, c.ec};
      }());
  EXPECT_EQ(server_ec, errc::handshake_timeout) << server_ec.message();
  EXPECT_TRUE(client_ec);
  EXPECT_TRUE(cancelled);
}

// ---- The engine and the ClientHello reader ----------------------------------------------

// Moves what `from` produced into `to`.
void transfer(detail::engine& from, detail::engine& to) {
  auto out = from.output();
  auto in = to.prepare_input(out.size());
  std::memcpy(in.data(), out.data(), out.size());
  to.commit_input(out.size());
  from.consume_output(out.size());
}

TEST_F(certificate_selection, TheEngineAsksForACertificateOnceTheWholeClientHelloHasArrived) {
  auto so = server_opts();
  so.alpn = {"acme-tls/1"};
  so.select_certificate = [](const client_hello&) -> awaitable<selection> {
    co_return std::nullopt;
  };
  const context sctx(role::server, so);
  options co;
  co.cacertfile = ca.certfile();
  co.alpn = {"h2", "acme-tls/1"};
  const context cctx(role::client, co);
  detail::engine client(cctx, "other.test");
  detail::engine server(sctx);

  std::error_code cec;
  std::error_code sec;
  ASSERT_EQ(client.handshake(cec), detail::want::output_and_retry) << cec.message();
  const auto out = client.output();
  const bytes hello(out.begin(), out.end());
  client.consume_output(hello.size());
  // Byte by byte: the server waits for input until the last byte, then for a certificate.
  for (std::size_t k = 0; k < hello.size(); ++k) {
    auto in = server.prepare_input(1);
    in[0] = hello[k];
    server.commit_input(1);
    const auto w = server.handshake(sec);
    ASSERT_FALSE(sec) << sec.message();
    if (k + 1 < hello.size()) {
      ASSERT_EQ(w, detail::want::input_and_retry) << "at byte " << k;
    } else {
      ASSERT_EQ(w, detail::want::certificate);
    }
  }
  EXPECT_EQ(server.hello().server_name, "other.test");
  EXPECT_THAT(server.hello().alpn, ElementsAre("h2", "acme-tls/1"));
  // Asked again without an answer, it asks again.
  EXPECT_EQ(server.handshake(sec), detail::want::certificate);

  server.use_certificate(certificate_set(in_memory(other_leaf)));
  // (A finished engine is not driven again: a TLS 1.3 client would take it for a KeyUpdate.)
  for (int round = 0; round < 10 && !(client.handshake_done() && server.handshake_done());
       ++round) {
    if (!server.handshake_done()) (void)server.handshake(sec);
    ASSERT_FALSE(sec) << sec.message();
    transfer(server, client);
    if (!client.handshake_done()) (void)client.handshake(cec);
    ASSERT_FALSE(cec) << cec.message();
    transfer(client, server);
  }
  ASSERT_TRUE(client.handshake_done());
  ASSERT_TRUE(server.handshake_done());
  EXPECT_EQ(client.info().alpn, "acme-tls/1");
  ASSERT_FALSE(client.peer_certificates().empty());
  EXPECT_EQ(client.peer_certificates().front().common_name(), "other.test");
}

// A ClientHello built by hand: TLS 1.2 legacy version, 32 random bytes, no session id, one
// suite, null compression, then `extensions` (the block's contents; nullopt = no block).
bytes u16(std::size_t v) {
  return {static_cast<std::uint8_t>(v >> 8U), static_cast<std::uint8_t>(v)};
}
bytes cat(std::initializer_list<bytes> parts) {
  bytes r;
  for (const auto& p : parts) r.insert(r.end(), p.begin(), p.end());
  return r;
}
bytes str(std::string_view s) {
  return {s.begin(), s.end()};
}
bytes ext(unsigned type, const bytes& data) {
  return cat({u16(type), u16(data.size()), data});
}
bytes sni(std::string_view name) {
  const bytes entry = cat({{0}, u16(name.size()), str(name)});
  return ext(0, cat({u16(entry.size()), entry}));
}
bytes alpn(std::initializer_list<std::string_view> protocols) {
  bytes list;
  for (auto p : protocols) list = cat({list, {static_cast<std::uint8_t>(p.size())}, str(p)});
  return ext(16, cat({u16(list.size()), list}));
}
bytes hello_body(const std::optional<bytes>& extensions) {
  bytes b = cat({{3, 3}, bytes(32, 0xab), {0}, u16(2), {0x13, 0x01}, {1, 0}});
  if (extensions) b = cat({b, u16(extensions->size()), *extensions});
  return b;
}
bytes handshake_message(const bytes& body, std::uint8_t type = 1) {
  return cat(
      {{type, static_cast<std::uint8_t>(body.size() >> 16U)}, u16(body.size() & 0xffffU), body});
}
// The message in records of at most `fragment` bytes.
bytes records(const bytes& msg, std::size_t fragment = 16384) {
  bytes r;
  for (std::size_t i = 0; i < msg.size(); i += fragment) {
    const std::size_t n = std::min(fragment, msg.size() - i);
    r = cat({r,
             {22, 3, 1},
             u16(n),
             bytes(msg.begin() + static_cast<std::ptrdiff_t>(i),
                   msg.begin() + static_cast<std::ptrdiff_t>(i + n))});
  }
  return r;
}
bytes client_hello_with(const std::optional<bytes>& extensions) {
  return records(handshake_message(hello_body(extensions)));
}

using status = detail::client_hello_reader::status;

status read_all(const bytes& b, client_hello* out = nullptr) {
  detail::client_hello_reader r;
  const auto st = r.read(b);
  if (out != nullptr) *out = r.hello();
  return st;
}

TEST_F(certificate_selection, TheClientHelloReaderReadsNamesAndProtocolsHoweverTheRecordsAreCut) {
  const bytes exts = cat({ext(0xff01, {0}), sni("Mixed.Case.Example"), alpn({"h2", "acme-tls/1"})});
  const bytes msg = handshake_message(hello_body(exts));
  for (std::size_t fragment : {std::size_t{16384}, std::size_t{7}, std::size_t{1}}) {
    const bytes b = records(msg, fragment);
    client_hello h;
    ASSERT_EQ(read_all(b, &h), status::complete) << "fragment " << fragment;
    EXPECT_EQ(h.server_name, "mixed.case.example");
    EXPECT_THAT(h.alpn, ElementsAre("h2", "acme-tls/1"));
    // Arriving a byte at a time: incomplete until the last byte.
    detail::client_hello_reader r;
    for (std::size_t k = 1; k <= b.size(); ++k) {
      const auto st = r.read({b.data(), k});
      ASSERT_EQ(st, k < b.size() ? status::incomplete : status::complete) << k;
    }
  }
  client_hello none;
  EXPECT_EQ(read_all(client_hello_with(std::nullopt), &none), status::complete);
  EXPECT_EQ(none.server_name, "");
  EXPECT_TRUE(none.alpn.empty());
  EXPECT_EQ(read_all(client_hello_with(bytes{})), status::complete);
}

TEST_F(certificate_selection, AMalformedClientHelloIsLeftToTheTlsLibraryAndNeverReadPastItsEnd) {
  const std::vector<std::pair<std::string, bytes>> malformed = {
      {"ALPN list longer than its extension", ext(16, cat({u16(16), {2}, str("h2")}))},
      {"ALPN list shorter than its extension", ext(16, cat({u16(1), {2}, str("h2")}))},
      {"ALPN protocol running past the list", ext(16, cat({u16(3), {5}, str("h2")}))},
      {"empty ALPN protocol name", ext(16, cat({u16(3), {0}, str("h2")}))},
      {"empty ALPN list", ext(16, u16(0))},
      {"one-byte ALPN extension", ext(16, {0})},
      {"empty ALPN extension", ext(16, {})},
      {"two ALPN extensions", cat({alpn({"h2"}), alpn({"h2"})})},
      {"SNI name running past the list", ext(0, cat({u16(6), {0}, u16(9), str("abc")}))},
      {"two SNI host names",
       ext(0, cat({u16(12), {0}, u16(3), str("a.b"), {0}, u16(3), str("c.d")}))},
      {"SNI with a path in it", sni("../../etc/passwd")},
      {"SNI with a NUL", sni(std::string_view("a\0b", 3))},
      {"SNI with a trailing dot", sni("example.com.")},
      {"empty SNI name", sni("")},
      {"extension running past the block", cat({u16(16), u16(100), u16(0)})},
  };
  for (const auto& [what, exts] : malformed) {
    EXPECT_EQ(read_all(client_hello_with(exts)), status::unreadable) << what;
  }
  // The block's own length is wrong.
  bytes body = hello_body(alpn({"h2"}));
  body[body.size() - 10] ^= 0x40U;  // inside the block's length field
  EXPECT_EQ(read_all(records(handshake_message(body))), status::unreadable);
  // Not a ClientHello, not a handshake record, an SSL 2 hello, an absurd length.
  EXPECT_EQ(read_all(records(handshake_message(hello_body(std::nullopt), 2))), status::unreadable);
  EXPECT_EQ(read_all({21, 3, 3, 0, 2, 2, 40}), status::unreadable);
  EXPECT_EQ(read_all({0x80, 0x2e, 0x01, 0x03, 0x01}), status::unreadable);
  EXPECT_EQ(read_all({22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}), status::unreadable);
  EXPECT_EQ(read_all({22, 3, 1, 0xff, 0xff}), status::unreadable);

  // Random damage to a real hello: whatever the reader says, it reads only what it was given
  // (AddressSanitizer checks that in the sanitizer build).
  const bytes good = client_hello_with(cat({sni("a.example"), alpn({"h2", "http/1.1"})}));
  std::mt19937 rng(20260101);
  for (int round = 0; round < 20000; ++round) {
    bytes b = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    // Exactly sized heap copies (first a part, then all of it), so that any read past the
    // end is caught.
    detail::client_hello_reader r;
    const std::size_t cut = b.empty() ? 0 : rng() % b.size();
    const bytes first(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut));
    (void)r.read(first);
    b.shrink_to_fit();
    if (r.read(b) == status::complete) {
      for (const auto& p : r.hello().alpn) EXPECT_FALSE(p.empty());
    }
  }
}

TEST_F(certificate_selection, TheEngineLeavesAMalformedClientHelloToTheTlsLibraryWhichRefusesIt) {
  bool called = false;
  auto so = server_opts();
  so.alpn = {"h2"};  // so that the library reads the ALPN extension too
  so.select_certificate = [&](const client_hello&) -> awaitable<selection> {
    called = true;
    co_return std::nullopt;
  };
  const context sctx(role::server, so);
  detail::engine server(sctx);
  // A hello the library would otherwise accept, with a broken ALPN extension.
  const bytes exts = cat({sni("other.test"), ext(16, cat({u16(3), {5}, str("h2")})),
                          ext(43, {2, 3, 4}),               // supported_versions: 1.3
                          ext(10, cat({u16(2), {0, 29}})),  // supported_groups: x25519
                          ext(13, cat({u16(2), {4, 3}})),   // ecdsa_secp256r1_sha256
                          ext(51, cat({u16(36), {0, 29}, u16(32), bytes(32, 9)}))});
  const bytes b = client_hello_with(exts);
  auto in = server.prepare_input(b.size());
  std::memcpy(in.data(), b.data(), b.size());
  server.commit_input(b.size());
  std::error_code ec;
  const auto w = server.handshake(ec);
  EXPECT_NE(w, detail::want::certificate);
  EXPECT_TRUE(ec) << "the library accepted a malformed ALPN extension";
  EXPECT_NE(server.alert_sent(), 0);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace moat::tls
