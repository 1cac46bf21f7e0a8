// TLS 1.2 renegotiation is always refused: the peer gets a no_renegotiation alert (openssl
// s_client's "R" command asks for one; OpenSSL 3 then gives up the connection itself).
// Safe renegotiation (RFC 5746) is a TLS 1.2 policy: a TLS 1.2 client must signal it, a TLS 1.3
// client, which cannot renegotiate at all (RFC 8446), need not. Checked with ClientHello
// messages built byte by byte, so that exactly the extension in question is left out.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <moat/tls/socket.hpp>
#include <string>
#include <vector>

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

// ---- Hand-built ClientHellos ------------------------------------------------------------

using bytes = std::vector<std::uint8_t>;

void put16(bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

void put24(bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 16));
  put16(b, v & 0xffff);
}

void append(bytes& b, const bytes& more) {
  b.insert(b.end(), more.begin(), more.end());
}

bytes extension(std::uint16_t type, const bytes& body) {
  bytes e;
  put16(e, type);
  put16(e, body.size());
  append(e, body);
  return e;
}

struct hello_spec {
  bool tls13 = true;                ///< else TLS 1.2 only
  bool renegotiation_info = false;  ///< the renegotiation_info extension (0xff01), empty
  bool scsv = false;                ///< TLS_EMPTY_RENEGOTIATION_INFO_SCSV (0x00ff)
};

/// A complete ClientHello record for "localhost" with an ECDHE suite, signature algorithms for
/// ECDSA P-256 and RSA-PSS, and for TLS 1.3 supported_versions 1.3 only and an X25519 key
/// share (any 32 bytes but low-order points are a valid X25519 public key).
bytes client_hello(const hello_spec& h) {
  bytes body;
  put16(body, 0x0303);  // legacy_version
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<std::uint8_t>(0x40 + i));  // random
  body.push_back(32);  // legacy_session_id
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<std::uint8_t>(0x80 + i));
  bytes suites;
  if (h.tls13) {
    put16(suites, 0x1301);  // TLS_AES_128_GCM_SHA256
  } else {
    put16(suites, 0xc02b);  // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    put16(suites, 0xc02f);  // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  }
  if (h.scsv) put16(suites, 0x00ff);
  put16(body, suites.size());
  append(body, suites);
  body.push_back(1);  // compression methods: null
  body.push_back(0);

  bytes exts;
  const std::string host = "localhost";
  bytes sni;
  put16(sni, host.size() + 3);
  sni.push_back(0);  // host_name
  put16(sni, host.size());
  sni.insert(sni.end(), host.begin(), host.end());
  append(exts, extension(0x0000, sni));
  append(exts, extension(0x000a, {0x00, 0x04, 0x00, 0x1d, 0x00, 0x17}));  // x25519, P-256
  append(exts, extension(0x000d, {0x00, 0x04, 0x04, 0x03, 0x08, 0x04}));  // signature_algorithms
  if (h.tls13) {
    append(exts, extension(0x002b, {0x02, 0x03, 0x04}));  // supported_versions: TLS 1.3
    bytes share;
    put16(share, 2 + 2 + 32);
    put16(share, 0x001d);
    put16(share, 32);
    for (int i = 0; i < 32; ++i) share.push_back(static_cast<std::uint8_t>(9 + i));
    append(exts, extension(0x0033, share));  // key_share
  } else {
    append(exts, extension(0x000b, {0x01, 0x00}));  // ec_point_formats: uncompressed
    append(exts, extension(0x0017, {}));            // extended_master_secret
  }
  if (h.renegotiation_info) append(exts, extension(0xff01, {0x00}));
  put16(body, exts.size());
  append(body, exts);

  bytes handshake{0x01};  // client_hello
  put24(handshake, body.size());
  append(handshake, body);
  bytes record{0x16, 0x03, 0x01};
  put16(record, handshake.size());
  append(record, handshake);
  return record;
}

/// What a moat server answers first to `hello`.
struct answer {
  std::uint8_t record_type = 0;  ///< 22 handshake, 21 alert
  std::uint8_t first_byte = 0;   ///< handshake: message type (2 = ServerHello); alert: level
  std::uint8_t alert = 0;        ///< alert: description
  bool hello_retry_request = false;
  std::string error;
};

std::string describe(const answer& a) {
  if (!a.error.empty()) return a.error;
  if (a.record_type == 21) return "alert " + alert_name(a.alert);
  return "record type " + std::to_string(a.record_type) + ", first byte " +
         std::to_string(a.first_byte) + (a.hello_retry_request ? " (HelloRetryRequest)" : "");
}

answer ask(const bytes& hello) {
  test::temp_dir dir;
  test::test_ca ca(dir.path() / "ca");
  auto leaf = ca.issue("localhost");
  options so;
  so.certfile = leaf.certfile;
  so.keyfile = leaf.keyfile;
  context sctx(role::server, so);
  asio::io_context io;
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await ls.transport_accept();
        if (s) (void)co_await s->handshake(10s);
      },
      asio::detached);
  return test::run(io, [&]() -> asio::awaitable<answer> {
    answer a;
    asio::ip::tcp::socket tcp(io);
    co_await tcp.async_connect(ls.local_endpoint(), asio::use_awaitable);
    co_await asio::async_write(tcp, asio::buffer(hello), asio::use_awaitable);
    // An alert record is 7 bytes; a ServerHello record is longer.
    bytes got(5 + 4 + 2 + 32);
    auto [ec, n] = co_await asio::async_read(tcp, asio::buffer(got), asio::transfer_at_least(7),
                                             asio::as_tuple(asio::use_awaitable));
    if (n < 7) {
      a.error = "the server closed after " + std::to_string(n) + " bytes: " + ec.message();
      co_return a;
    }
    a.record_type = got[0];
    a.first_byte = got[5];
    a.alert = got[6];
    // A HelloRetryRequest is a ServerHello with this fixed random (RFC 8446 4.1.3).
    static const std::uint8_t hrr[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11,
                                         0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
                                         0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
                                         0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    a.hello_retry_request =
        n >= got.size() && std::equal(std::begin(hrr), std::end(hrr), got.begin() + 11);
    co_return a;
  }());
}

TEST(Renegotiation, ATls13ClientHelloWithoutRenegotiationInfoGetsAServerHello) {
  // testssl.sh's TLS 1.3 probe sends no renegotiation_info: TLS 1.3 has no renegotiation.
  const answer a = ask(client_hello({.tls13 = true}));
  EXPECT_EQ(a.record_type, 22) << describe(a);
  EXPECT_EQ(a.first_byte, 2) << describe(a);
  EXPECT_FALSE(a.hello_retry_request) << describe(a);
}

TEST(Renegotiation, ATls13ClientHelloWithRenegotiationInfoGetsAServerHello) {
  const answer a = ask(client_hello({.tls13 = true, .renegotiation_info = true}));
  EXPECT_EQ(a.record_type, 22) << describe(a);
  EXPECT_EQ(a.first_byte, 2) << describe(a);
}

TEST(Renegotiation, ATls12ClientHelloWithoutRenegotiationInfoOrScsvIsRefusedWithHandshakeFailure) {
  const answer a = ask(client_hello({.tls13 = false}));
  EXPECT_EQ(a.record_type, 21) << describe(a);
  EXPECT_EQ(a.first_byte, 2) << "a fatal alert; " << describe(a);
  EXPECT_EQ(a.alert, 40) << describe(a);
}

TEST(Renegotiation, ATls12ClientHelloWithRenegotiationInfoGetsAServerHello) {
  const answer a = ask(client_hello({.tls13 = false, .renegotiation_info = true}));
  EXPECT_EQ(a.record_type, 22) << describe(a);
  EXPECT_EQ(a.first_byte, 2) << describe(a);
}

TEST(Renegotiation, ATls12ClientHelloSignallingWithTheScsvAloneGetsAServerHello) {
  const answer a = ask(client_hello({.tls13 = false, .scsv = true}));
  EXPECT_EQ(a.record_type, 22) << describe(a);
  EXPECT_EQ(a.first_byte, 2) << describe(a);
}

}  // namespace
}  // namespace moat::tls
