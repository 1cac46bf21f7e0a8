// moat <-> Erlang/OTP's `ssl` application, with {packet, 4} framing on both sides: an Erlang
// client against a moat echo server, a moat client against an Erlang echo server shaped like
// the recipe in seeds/1, and mutual TLS both ways. The Erlang peers are escripts in
// tests/tls/peers/ that print one line per event; the tests assert those lines and what moat
// itself saw.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <moat/tls/socket.hpp>

#include "support/support.hpp"

namespace moat::pki {
// How GoogleTest shows a key type parameter (found by ADL).
[[maybe_unused]] static void PrintTo(key_type k, std::ostream* os) {
  *os << to_string(k);
}
}  // namespace moat::pki

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using moat::test::run;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- Certificates, made once for the suite ----------------------------------------------------

struct suite_pki {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  test::leaf_set leaves{ca};
  test::issued client = ca.issue("client", pki::key_type::ecdsa_p256, {"DNS:client"});

  [[nodiscard]] const test::issued& leaf(pki::key_type t) const { return leaves[t]; }
};

const suite_pki& certs() {
  static const suite_pki p;
  return p;
}

std::filesystem::path peers_dir() {
  if (const char* s = std::getenv("MOAT_SOURCE_DIR")) {
    return std::filesystem::path(s) / "tests" / "tls" / "peers";
  }
  return std::filesystem::path(__FILE__).parent_path() / "peers";
}

std::string script(const std::string& name) {
  return (peers_dir() / name).string();
}

std::string key_name(pki::key_type k) {
  switch (k) {
    case pki::key_type::rsa:
      return "Rsa2048";
    case pki::key_type::ed25519:
      return "Ed25519";
    default:
      return "EcdsaP256";
  }
}

// The versions to run with a certificate of this type: OTP 25's ssl accepts EdDSA
// certificates in TLS 1.3 only (its TLS 1.2 signature_algorithms carry no ed25519), so an
// Ed25519 server certificate cannot work with it over TLS 1.2.
std::vector<version> versions_for(pki::key_type k) {
  if (k == pki::key_type::ed25519) return {version::tls1_3};
  return {version::tls1_3, version::tls1_2};
}

std::string erlang_version(version v) {
  return v == version::tls1_3 ? "tlsv1.3" : "tlsv1.2";
}

// The messages every exchange sends: short, empty, larger than a TLS record, and text.
std::string big_message(std::size_t n) {
  // What the client escript generates for "big:N": byte i (1-based) = i rem 251.
  std::string s;
  s.reserve(n);
  for (std::size_t i = 1; i <= n; ++i) s.push_back(static_cast<char>(i % 251));
  return s;
}
const std::vector<std::string>& messages() {
  static const std::vector<std::string> m = {"ping", "", big_message(100000), "hello world"};
  return m;
}
const std::vector<std::string>& message_args() {
  static const std::vector<std::string> m = {"ping", "", "big:100000", "hello world"};
  return m;
}

// ---- Coroutine helpers ------------------------------------------------------------------------

using test::exited;

std::string text(const std::vector<std::uint8_t>& v) {
  return {v.begin(), v.end()};
}

// ---- moat as the server: {packet, 4} echo ----------------------------------------------------

struct echo_connection {
  std::error_code ec;  ///< accept or handshake failure
  connection_info info;
  std::optional<pki::certificate> peer;
  std::vector<std::string> messages;  ///< what arrived (and was sent back)
  std::error_code end;                ///< how the connection ended
};

// Accepts `count` connections one after the other and echoes each message on them until the
// peer closes.
asio::awaitable<std::vector<echo_connection>> echo_server(listen_socket& ls, std::size_t count) {
  std::vector<echo_connection> out;
  for (std::size_t i = 0; i < count; ++i) {
    auto& c = out.emplace_back();
    asio::steady_timer deadline(co_await asio::this_coro::executor, 10s);
    auto accepted = co_await (ls.transport_accept() || deadline.async_wait(asio::use_awaitable));
    if (accepted.index() == 1) {
      c.ec = make_error_code(errc::handshake_timeout);
      break;
    }
    auto& s = std::get<0>(accepted);
    if (!s) {
      c.ec = s.error();
      break;
    }
    if (auto ec = co_await s->handshake(5s)) {
      c.ec = ec;
      continue;
    }
    c.info = s->connection_information().value();
    c.peer = s->peer_certificate();
    for (;;) {
      auto m = co_await s->recv(0, 5s);
      if (!m) {
        c.end = m.error();
        break;
      }
      c.messages.push_back(text(*m));
      if (auto ec = co_await s->send(std::span<const std::uint8_t>(*m))) {
        c.end = ec;
        break;
      }
    }
    co_await s->close();
  }
  co_return out;
}

struct erlang_client_run {
  std::vector<echo_connection> server;
  std::string output;
  std::optional<int> status;
};

// Runs the Erlang client escript against a moat echo server, one connection per version.
erlang_client_run run_erlang_client(asio::io_context& io, const options& server_options,
                                    const std::vector<version>& versions,
                                    const test::issued* client_cert) {
  context ctx(role::server, server_options);
  auto ls = listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, ctx,
                                  {.accepted = {.packet = framing::packet_mode::u32}});
  std::string vers;
  for (auto v : versions) vers += (vers.empty() ? "" : ",") + erlang_version(v);
  std::vector<std::string> argv = {"escript",
                                   script("erlang_ssl_client.escript"),
                                   std::to_string(ls.local_endpoint().port()),
                                   certs().ca.certfile().string(),
                                   vers,
                                   client_cert ? client_cert->certfile.string() : "-",
                                   client_cert ? client_cert->keyfile.string() : "-"};
  argv.insert(argv.end(), message_args().begin(), message_args().end());
  test::child_process client(std::move(argv));
  auto [server, status] = run(
      io, [&]() -> asio::awaitable<std::tuple<std::vector<echo_connection>, std::optional<int>>> {
        co_return co_await (echo_server(ls, versions.size()) && exited(client, 15s));
      }());
  return {std::move(server), client.output(), status};
}

// ---- moat as the client ---------------------------------------------------------------------

struct client_result {
  std::error_code handshake;  ///< connect/handshake failure
  std::error_code exchange;   ///< first failure after the handshake
  connection_info info;
  std::vector<std::string> replies;
};

// Connects with {packet, 4}, sends each message and reads its echo, then closes.
asio::awaitable<client_result> moat_client(const context& ctx, std::uint16_t port) {
  client_result out;
  auto ex = co_await asio::this_coro::executor;
  auto s = co_await socket::connect(ex, "localhost", port, ctx, 10s,
                                    {.packet = framing::packet_mode::u32});
  if (!s) {
    out.handshake = s.error();
    co_return out;
  }
  out.info = s->connection_information().value();
  for (const auto& m : messages()) {
    if (auto ec = co_await s->send(m)) {
      out.exchange = ec;
      break;
    }
    auto reply = co_await s->recv(0, 5s);
    if (!reply) {
      out.exchange = reply.error();
      break;
    }
    out.replies.push_back(text(*reply));
  }
  co_await s->close();
  co_return out;
}

// The Erlang echo server escript, listening on 127.0.0.1; stops when destroyed.
class erlang_server {
 public:
  erlang_server(const test::issued& leaf, bool require_client_cert)
      : port_(test::free_port()),
        proc_({"escript", script("erlang_ssl_server.escript"), std::to_string(port_),
               leaf.certfile.string(), leaf.keyfile.string(), certs().ca.certfile().string(),
               require_client_cert ? "verify_peer" : "verify_none"}) {
    started_ = proc_.wait_for_output("listening " + std::to_string(port_), 10s);
  }
  ~erlang_server() {
    proc_.close_stdin();
    if (!proc_.wait(3s)) proc_.kill();
  }
  erlang_server(const erlang_server&) = delete;
  erlang_server& operator=(const erlang_server&) = delete;

  [[nodiscard]] bool started() const noexcept { return started_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string output() const { return proc_.output(); }
  bool wait_for_output(const std::string& needle) { return proc_.wait_for_output(needle, 5s); }

 private:
  std::uint16_t port_;
  test::child_process proc_;
  bool started_ = false;
};

options client_opts(version v, const test::issued* own = nullptr) {
  options o;
  o.cacertfile = certs().ca.certfile();
  o.versions = {v};
  if (own != nullptr) {
    o.certfile = own->certfile;
    o.keyfile = own->keyfile;
  }
  return o;
}

options server_opts(const test::issued& leaf, bool require_client_cert = false) {
  options o;
  o.certfile = leaf.certfile;
  o.keyfile = leaf.keyfile;
  if (require_client_cert) {
    o.verify = verify_mode::peer;
    o.fail_if_no_peer_cert = true;
    o.cacertfile = certs().ca.certfile();
  }
  return o;
}

bool have_erlang() {
  static const bool found = test::have_program("escript") &&
                            std::filesystem::exists(peers_dir() / "erlang_ssl_client.escript");
  return found;
}

void expect_echoed(const echo_connection& c) {
  ASSERT_EQ(c.messages.size(), messages().size());
  for (std::size_t i = 0; i < messages().size(); ++i) {
    EXPECT_TRUE(c.messages[i] == messages()[i])
        << "message " << i << ": " << c.messages[i].size() << " bytes";
  }
  EXPECT_EQ(c.end, make_error_code(errc::closed)) << c.end.message();
}

// The lines the client escript prints for a full, matching exchange over `v`.
void expect_erlang_client_exchanged(const std::string& out, version v,
                                    const connection_info& info) {
  const auto vs = erlang_version(v);
  EXPECT_THAT(out, HasSubstr(vs + " connected protocol=" + vs + " cipher=" + info.cipher_suite));
  EXPECT_THAT(out, HasSubstr(vs + " reply 1 4 match ping\n"));
  EXPECT_THAT(out, HasSubstr(vs + " reply 2 0 match \n"));
  EXPECT_THAT(out, HasSubstr(vs + " reply 3 100000 match \n"));
  EXPECT_THAT(out, HasSubstr(vs + " reply 4 11 match hello world\n"));
  EXPECT_THAT(out, HasSubstr(vs + " closed\n"));
}

// ======================================================================================

class ErlangInterop : public ::testing::TestWithParam<pki::key_type> {
 protected:
  void SetUp() override {
    if (!have_erlang()) GTEST_SKIP() << "Erlang (escript) is not installed";
  }
  asio::io_context io;
};

std::string key_param_name(const ::testing::TestParamInfo<pki::key_type>& info) {
  return key_name(info.param);
}

TEST_P(ErlangInterop, ErlangClientWithPacket4GetsItsMessagesEchoedByAMoatServer) {
  const auto key = GetParam();
  const auto versions = versions_for(key);
  auto r = run_erlang_client(io, server_opts(certs().leaf(key)), versions, nullptr);
  EXPECT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(r.server.size(), versions.size()) << r.output;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    SCOPED_TRACE(erlang_version(versions[i]));
    const auto& c = r.server[i];
    ASSERT_FALSE(c.ec) << c.ec.message() << "\n" << r.output;
    EXPECT_EQ(c.info.protocol, versions[i]);
    EXPECT_EQ(c.info.sni, "localhost");
    EXPECT_FALSE(c.peer.has_value());
    expect_echoed(c);
    expect_erlang_client_exchanged(r.output, versions[i], c.info);
  }
  EXPECT_THAT(r.output, HasSubstr("done\n"));
}

TEST_P(ErlangInterop, MoatClientWithPacketU32GetsItsMessagesEchoedByAnErlangServer) {
  const auto key = GetParam();
  erlang_server srv(certs().leaf(key), false);
  ASSERT_TRUE(srv.started()) << srv.output();
  for (auto v : versions_for(key)) {
    SCOPED_TRACE(erlang_version(v));
    context ctx(role::client, client_opts(v));
    auto r = run(io, moat_client(ctx, srv.port()));
    ASSERT_FALSE(r.handshake) << r.handshake.message() << "\n" << srv.output();
    EXPECT_FALSE(r.exchange) << r.exchange.message() << "\n" << srv.output();
    EXPECT_EQ(r.info.protocol, v);
    EXPECT_TRUE(r.info.peer_verified);
    ASSERT_EQ(r.replies.size(), messages().size());
    for (std::size_t i = 0; i < messages().size(); ++i) {
      EXPECT_TRUE(r.replies[i] == messages()[i])
          << "reply " << i << ": " << r.replies[i].size() << " bytes";
    }
    const auto vs = erlang_version(v);
    EXPECT_TRUE(srv.wait_for_output("handshake ok protocol=" + vs +
                                    " cipher=" + r.info.cipher_suite + " peer=none\n"))
        << srv.output();
  }
  EXPECT_TRUE(srv.wait_for_output("echo 11 hello world\nclosed\n")) << srv.output();
}

INSTANTIATE_TEST_SUITE_P(Keys, ErlangInterop,
                         ::testing::Values(pki::key_type::ecdsa_p256, pki::key_type::rsa,
                                           pki::key_type::ed25519),
                         key_param_name);

// `versions` is a set: listed lowest first, a client still offers TLS 1.3 first. GnuTLS sends
// the priority order as supported_versions, OTP 25's server takes the first it supports, and
// marks its ServerHello as a downgrade (RFC 8446 4.1.3) -- which the client then refused.
TEST(ErlangVersions, AMoatClientListingTls12BeforeTls13GetsTls13FromAnErlangServer) {
  if (!have_erlang()) GTEST_SKIP() << "Erlang (escript) is not installed";
  asio::io_context io;
  erlang_server srv(certs().leaves.ecdsa, false);
  ASSERT_TRUE(srv.started()) << srv.output();
  auto o = client_opts(version::tls1_2);
  o.versions = {version::tls1_2, version::tls1_3};
  const context ctx(role::client, o);
  auto r = run(io, moat_client(ctx, srv.port()));
  ASSERT_FALSE(r.handshake) << r.handshake.message() << "\n" << srv.output();
  EXPECT_EQ(r.info.protocol, version::tls1_3);
  EXPECT_EQ(r.replies.size(), messages().size());
}

// ---- Mutual TLS -------------------------------------------------------------------------------

class ErlangMutualTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_erlang()) GTEST_SKIP() << "Erlang (escript) is not installed";
  }
  asio::io_context io;
};

TEST_F(ErlangMutualTls, ErlangServerRequiringACertificateAcceptsAMoatClientPresentingOne) {
  erlang_server srv(certs().leaves.ecdsa, true);
  ASSERT_TRUE(srv.started()) << srv.output();
  for (auto v : {version::tls1_3, version::tls1_2}) {
    SCOPED_TRACE(erlang_version(v));
    context ctx(role::client, client_opts(v, &certs().client));
    auto r = run(io, moat_client(ctx, srv.port()));
    ASSERT_FALSE(r.handshake) << r.handshake.message() << "\n" << srv.output();
    EXPECT_FALSE(r.exchange) << r.exchange.message() << "\n" << srv.output();
    EXPECT_EQ(r.replies.size(), messages().size());
    const auto vs = erlang_version(v);
    EXPECT_TRUE(srv.wait_for_output("handshake ok protocol=" + vs +
                                    " cipher=" + r.info.cipher_suite + " peer=client\n"))
        << srv.output();
  }
}

TEST_F(ErlangMutualTls, ErlangServerRequiringACertificateRefusesAMoatClientWithout) {
  erlang_server srv(certs().leaves.ecdsa, true);
  ASSERT_TRUE(srv.started()) << srv.output();
  for (auto v : {version::tls1_3, version::tls1_2}) {
    SCOPED_TRACE(erlang_version(v));
    context ctx(role::client, client_opts(v));
    auto r = run(io, moat_client(ctx, srv.port()));
    // TLS 1.2: the server's alert ends the handshake. TLS 1.3: the client's side of the
    // handshake is over before the server looks at the (empty) certificate, so the alert
    // arrives on the first read.
    const std::error_code seen = r.handshake ? r.handshake : r.exchange;
    EXPECT_EQ(seen.category(), alert_category()) << seen.message();
    if (v == version::tls1_3) {
      EXPECT_FALSE(r.handshake) << r.handshake.message();
      EXPECT_EQ(seen.value(), 116) << seen.message();  // certificate_required
      EXPECT_EQ(reason_name(seen), "alert:certificate_required");
    } else {
      EXPECT_EQ(seen.value(), 40) << seen.message();  // handshake_failure
    }
    EXPECT_TRUE(r.replies.empty());
  }
  EXPECT_TRUE(srv.wait_for_output("handshake error {tls_alert,{certificate_required"))
      << srv.output();
  EXPECT_TRUE(srv.wait_for_output("handshake error {tls_alert,{handshake_failure")) << srv.output();
  EXPECT_THAT(srv.output(), Not(HasSubstr("handshake ok")));
}

TEST_F(ErlangMutualTls, MoatServerRequiringACertificateAcceptsAnErlangClientPresentingOne) {
  const std::vector<version> versions = {version::tls1_3, version::tls1_2};
  auto r =
      run_erlang_client(io, server_opts(certs().leaves.ecdsa, true), versions, &certs().client);
  EXPECT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(r.server.size(), versions.size()) << r.output;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    SCOPED_TRACE(erlang_version(versions[i]));
    const auto& c = r.server[i];
    ASSERT_FALSE(c.ec) << c.ec.message() << "\n" << r.output;
    EXPECT_TRUE(c.info.peer_verified);
    ASSERT_TRUE(c.peer.has_value());
    EXPECT_EQ(c.peer->common_name(), "client");
    EXPECT_EQ(c.peer->sha256_fingerprint(), certs().client.cert.sha256_fingerprint());
    expect_echoed(c);
    expect_erlang_client_exchanged(r.output, versions[i], c.info);
  }
}

TEST_F(ErlangMutualTls, MoatServerRequiringACertificateRefusesAnErlangClientWithout) {
  const std::vector<version> versions = {version::tls1_3, version::tls1_2};
  auto r = run_erlang_client(io, server_opts(certs().leaves.ecdsa, true), versions, nullptr);
  EXPECT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(r.server.size(), versions.size()) << r.output;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    SCOPED_TRACE(erlang_version(versions[i]));
    EXPECT_EQ(r.server[i].ec, make_error_code(errc::no_peer_certificate))
        << r.server[i].ec.message() << "\n"
        << r.output;
    EXPECT_TRUE(r.server[i].messages.empty());
  }
  // TLS 1.3: the client learns it from the certificate_required alert after connect/4
  // returned. TLS 1.2 has no such alert: handshake_failure (RFC 5246 section 7.4.6).
  EXPECT_THAT(r.output, HasSubstr("SERVER ALERT: Fatal - Certificate required"));
  EXPECT_THAT(r.output, HasSubstr("tlsv1.2 connect_error {tls_alert,{handshake_failure"))
      << "the alert moat sent for no_peer_certificate over TLS 1.2";
  EXPECT_THAT(r.output, Not(HasSubstr("match")));
}

}  // namespace
}  // namespace moat::tls
