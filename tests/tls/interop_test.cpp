// moat <-> real TLS peers: OpenSSL (`openssl s_server` / `s_client`) and GnuTLS
// (`gnutls-serv` / `gnutls-cli`), as separate processes over 127.0.0.1. Every test checks the
// bytes that crossed the connection, what moat says was negotiated and what the peer printed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <moat/tls/socket.hpp>
#include <set>
#include <sstream>

#include "support/support.hpp"

namespace moat::tls {

// How GoogleTest shows a version parameter (found by ADL).
[[maybe_unused]] static void PrintTo(version v, std::ostream* os) {
  *os << to_string(v);
}

namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using moat::test::run;
using ::testing::HasSubstr;
using ::testing::Not;

// A peer client that exits early (a failed handshake) must not take the test down with
// SIGPIPE when a line is written to its stdin.
[[maybe_unused]] const bool sigpipe_ignored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

// ---- The suite's certificates (made once: RSA key generation is slow) -------------------

struct suite_pki {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  test::test_ca other_ca{dir.path() / "other-ca", pki::key_type::ecdsa_p256, "some other CA"};
  test::leaf_set leaves{ca};
  test::issued client = ca.issue("client", pki::key_type::ecdsa_p256, {"DNS:client"});
  test::issued other_host = ca.issue("other.test", pki::key_type::ecdsa_p256, {"DNS:other.test"});
  test::issued wrong_name =
      ca.issue("elsewhere.test", pki::key_type::ecdsa_p256, {"DNS:elsewhere.test"});
  test::issued untrusted = other_ca.issue("localhost", pki::key_type::ecdsa_p256);

  [[nodiscard]] const test::issued& leaf(pki::key_type t) const { return leaves[t]; }
};

const suite_pki& certs() {
  static const suite_pki p;
  return p;
}

options client_opts() {
  options o;
  o.cacertfile = certs().ca.certfile();
  return o;
}

options server_opts(const test::issued& leaf) {
  options o;
  o.certfile = leaf.certfile;
  o.keyfile = leaf.keyfile;
  return o;
}

// ---- Names as the peers print them ----------------------------------------------------------

std::string openssl_version(version v) {
  return v == version::tls1_3 ? "TLSv1.3" : "TLSv1.2";
}
std::string gnutls_version(version v) {
  return v == version::tls1_3 ? "TLS1.3" : "TLS1.2";
}
std::string gnutls_priority(version v) {
  return v == version::tls1_3 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3" : "NORMAL:-VERS-ALL:+VERS-TLS1.2";
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// IANA suite name -> OpenSSL's name ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" ->
// "ECDHE-RSA-AES128-GCM-SHA256"); TLS 1.3 suites have the same name in both.
std::string openssl_cipher(const std::string& iana) {
  const auto with = iana.find("_WITH_");
  if (with == std::string::npos) return iana;
  std::string kx = iana.substr(4, with - 4);
  std::string cipher = iana.substr(with + 6);
  replace_all(kx, "_", "-");
  replace_all(cipher, "AES_128_", "AES128_");
  replace_all(cipher, "AES_256_", "AES256_");
  replace_all(cipher, "_POLY1305_SHA256", "_POLY1305");
  replace_all(cipher, "_", "-");
  return kx + "-" + cipher;
}

// IANA suite name -> GnuTLS's cipher keyword ("AES-128-GCM").
std::string gnutls_cipher(const std::string& iana) {
  if (iana.find("AES_128_GCM") != std::string::npos) return "AES-128-GCM";
  if (iana.find("AES_256_GCM") != std::string::npos) return "AES-256-GCM";
  if (iana.find("CHACHA20_POLY1305") != std::string::npos) return "CHACHA20-POLY1305";
  return "unknown cipher " + iana;
}

// The suite is one moat offers for this version and certificate type.
void expect_suite_fits(const connection_info& info, version v, pki::key_type key) {
  const std::string& cs = info.cipher_suite;
  if (v == version::tls1_3) {
    EXPECT_THAT(cs, ::testing::AnyOf("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                     "TLS_CHACHA20_POLY1305_SHA256"));
  } else {
    const std::string kx =
        key == pki::key_type::rsa ? "TLS_ECDHE_RSA_WITH_" : "TLS_ECDHE_ECDSA_WITH_";
    EXPECT_THAT(cs, ::testing::AnyOf(kx + "AES_128_GCM_SHA256", kx + "AES_256_GCM_SHA384",
                                     kx + "CHACHA20_POLY1305_SHA256"));
  }
}

// What `openssl s_client` prints as "Peer signature type" for a server key.
std::string openssl_sig_type(pki::key_type key) {
  switch (key) {
    case pki::key_type::rsa:
      return "Peer signature type: RSA";  // RSA-PSS in practice
    case pki::key_type::ed25519:
      return "Peer signature type: ed25519";
    default:
      return "Peer signature type: ECDSA";
  }
}

// What GnuTLS prints in its "- Description:" line for a certificate key.
std::string gnutls_sig_type(pki::key_type key) {
  switch (key) {
    case pki::key_type::rsa:
      return "-(RSA-";
    case pki::key_type::ed25519:
      return "-(EdDSA-Ed25519)-";
    default:
      return "-(ECDSA-";
  }
}

// ---- Coroutine helpers ------------------------------------------------------------------------

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Waits, without blocking the io_context, until the child printed `needle` or exited.
asio::awaitable<bool> printed(test::child_process& p, std::string needle,
                              std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (p.output().find(needle) != std::string::npos) co_return true;
    if (p.wait(0ms) || std::chrono::steady_clock::now() > deadline) {
      co_return p.output().find(needle) != std::string::npos;
    }
    co_await sleep_for(10ms);
  }
}

using test::exited;

// Raw-mode line reader over a moat socket. `buffer` keeps bytes after the line.
asio::awaitable<result<std::string>> read_line(socket& s, std::string& buffer) {
  for (;;) {
    if (const auto pos = buffer.find('\n'); pos != std::string::npos) {
      std::string line = buffer.substr(0, pos);
      buffer.erase(0, pos + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      co_return line;
    }
    auto r = co_await s.recv(0, 5s);
    if (!r) co_return r.error();
    buffer.append(r->begin(), r->end());
  }
}

// ---- moat as the client ---------------------------------------------------------------------

struct client_result {
  std::error_code ec;  ///< connect/handshake/exchange failure
  connection_info info;
  std::vector<std::string> replies;
  std::optional<pki::certificate> peer;
};

// Connects, sends each line and reads one reply line for it, then closes with close_notify.
// A line "<update_keys>" does a KeyUpdate (asking the peer to update too) instead.
asio::awaitable<client_result> moat_client(const context& ctx, std::uint16_t port,
                                           std::vector<std::string> lines,
                                           std::string host = "localhost") {
  client_result out;
  auto ex = co_await asio::this_coro::executor;
  auto s = co_await socket::connect(ex, host, port, ctx, 10s);
  if (!s) {
    out.ec = s.error();
    co_return out;
  }
  out.info = s->connection_information().value();
  out.peer = s->peer_certificate();
  std::string buffer;
  for (const auto& line : lines) {
    if (line == "<update_keys>") {
      if (auto ec = co_await s->update_keys(true)) {
        out.ec = ec;
        break;
      }
      continue;
    }
    if (auto ec = co_await s->send(line + "\n")) {
      out.ec = ec;
      break;
    }
    auto reply = co_await read_line(*s, buffer);
    if (!reply) {
      out.ec = reply.error();
      break;
    }
    out.replies.push_back(*reply);
  }
  co_await s->close();
  co_return out;
}

// ---- moat as the server ---------------------------------------------------------------------

struct server_result {
  std::error_code ec;  ///< accept or handshake failure
  connection_info info;
  std::vector<std::string> received;
  std::optional<pki::certificate> peer;
  std::error_code end;  ///< how the connection ended (errc::closed = the peer's close_notify)
};

// Accepts one connection and answers every line with "moat got: <line>" until the peer closes.
asio::awaitable<server_result> serve_lines(listen_socket& ls) {
  server_result out;
  asio::steady_timer accept_deadline(co_await asio::this_coro::executor, 10s);
  auto accepted =
      co_await (ls.transport_accept() || accept_deadline.async_wait(asio::use_awaitable));
  if (accepted.index() == 1) {
    out.ec = make_error_code(errc::handshake_timeout);
    co_return out;
  }
  auto& s = std::get<0>(accepted);
  if (!s) {
    out.ec = s.error();
    co_return out;
  }
  if (auto ec = co_await s->handshake(5s)) {
    out.ec = ec;
    co_return out;
  }
  out.info = s->connection_information().value();
  out.peer = s->peer_certificate();
  std::string buffer;
  for (;;) {
    auto line = co_await read_line(*s, buffer);
    if (!line) {
      out.end = line.error();
      break;
    }
    out.received.push_back(*line);
    if (auto ec = co_await s->send("moat got: " + *line + "\n")) {
      out.end = ec;
      break;
    }
  }
  co_await s->close();
  co_return out;
}

struct client_run {
  server_result server;
  std::string output;  ///< the peer client's stdout+stderr
  std::optional<int> status;
};

// Runs a peer client (argv) against a moat server on `ls`: feeds it `lines` on stdin one at a
// time, waiting for moat's answer to each ("K" = OpenSSL's KeyUpdate command: waits until the
// client says KEYUPDATE), then closes its stdin so that it closes the connection.
client_run run_peer_client(asio::io_context& io, listen_socket& ls, std::vector<std::string> argv,
                           std::vector<std::string> lines) {
  test::child_process client(std::move(argv));
  auto drive = [&]() -> asio::awaitable<std::optional<int>> {
    for (const auto& line : lines) {
      if (client.wait(0ms)) break;  // exited already
      client.write_stdin(line + "\n");
      // (A named needle: GCC 12 destroys a temporary of a ?: inside co_await twice.)
      const std::string needle = line == "K" ? std::string("KEYUPDATE") : "moat got: " + line;
      if (!co_await printed(client, needle)) break;
    }
    client.close_stdin();
    co_return co_await exited(client);
  };
  auto [server, status] =
      run(io, [&]() -> asio::awaitable<std::tuple<server_result, std::optional<int>>> {
        co_return co_await (serve_lines(ls) && drive());
      }());
  return {std::move(server), client.output(), status};
}

listen_socket listen_local(asio::io_context& io, const context& ctx) {
  return listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, ctx);
}

std::vector<std::string> s_client_argv(std::uint16_t port, version v,
                                       std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"openssl",
                                   "s_client",
                                   "-connect",
                                   "127.0.0.1:" + std::to_string(port),
                                   "-servername",
                                   "localhost",
                                   "-verify_hostname",
                                   "localhost",
                                   "-verify_return_error",
                                   "-CAfile",
                                   certs().ca.certfile().string(),
                                   v == version::tls1_3 ? "-tls1_3" : "-tls1_2"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::unique_ptr<test::child_process> start_s_server(const test::issued& leaf, version v,
                                                    std::uint16_t port,
                                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"openssl",
                                   "s_server",
                                   "-accept",
                                   "127.0.0.1:" + std::to_string(port),
                                   "-cert",
                                   leaf.certfile.string(),
                                   "-key",
                                   leaf.keyfile.string(),
                                   v == version::tls1_3 ? "-tls1_3" : "-tls1_2",
                                   "-rev"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = std::make_unique<test::child_process>(std::move(argv));
  if (!p->wait_for_output("ACCEPT", 10s)) {
    ADD_FAILURE() << "openssl s_server did not start:\n" << p->output();
  }
  return p;
}

// "abc" -> "cba", as `openssl s_server -rev` answers.
std::string reversed(std::string s) {
  std::reverse(s.begin(), s.end());
  return s;
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

bool have_peers() {
  static const bool found = test::have_program("openssl") && test::have_program("gnutls-serv") &&
                            test::have_program("gnutls-cli");
  return found;
}

#define REQUIRE_PEERS()                                                          \
  do {                                                                           \
    if (!have_peers()) GTEST_SKIP() << "openssl / gnutls-bin are not installed"; \
  } while (0)

// ======================================================================================
// The matrix: {moat client -> openssl s_server, moat client -> gnutls-serv,
// openssl s_client -> moat server, gnutls-cli -> moat server} x {TLS 1.2, TLS 1.3} x
// {ECDSA P-256, RSA-2048, Ed25519}.
// ======================================================================================

enum class peer { openssl_server, gnutls_server, openssl_client, gnutls_client };

struct matrix_case {
  peer who;
  version ver;
  pki::key_type key;
};

std::string matrix_case_name(const matrix_case& c) {
  std::string name;
  switch (c.who) {
    case peer::openssl_server:
      name = "MoatClientToOpensslServer";
      break;
    case peer::gnutls_server:
      name = "MoatClientToGnutlsServer";
      break;
    case peer::openssl_client:
      name = "OpensslClientToMoatServer";
      break;
    case peer::gnutls_client:
      name = "GnutlsClientToMoatServer";
      break;
  }
  name += c.ver == version::tls1_3 ? "_Tls13" : "_Tls12";
  switch (c.key) {
    case pki::key_type::rsa:
      name += "_Rsa2048";
      break;
    case pki::key_type::ed25519:
      name += "_Ed25519";
      break;
    default:
      name += "_EcdsaP256";
      break;
  }
  return name;
}

std::string case_name(const ::testing::TestParamInfo<matrix_case>& info) {
  return matrix_case_name(info.param);
}

void PrintTo(const matrix_case& c, std::ostream* os) {
  *os << matrix_case_name(c);
}

std::vector<matrix_case> all_cases() {
  std::vector<matrix_case> v;
  for (auto who :
       {peer::openssl_server, peer::gnutls_server, peer::openssl_client, peer::gnutls_client}) {
    for (auto ver : {version::tls1_3, version::tls1_2}) {
      for (auto key : {pki::key_type::ecdsa_p256, pki::key_type::rsa, pki::key_type::ed25519}) {
        v.push_back({who, ver, key});
      }
    }
  }
  return v;
}

class InteropMatrix : public ::testing::TestWithParam<matrix_case> {
 protected:
  asio::io_context io;

  void moat_client_to_openssl(version v, pki::key_type key) {
    const auto& leaf = certs().leaf(key);
    const auto port = test::free_port();
    auto srv = start_s_server(leaf, v, port, {"-naccept", "1"});
    context ctx(role::client, client_opts());
    auto r = run(io, moat_client(ctx, port, {"hello from moat", "second line"}));
    ASSERT_FALSE(r.ec) << r.ec.message() << "\n" << srv->output();
    EXPECT_THAT(r.replies,
                ::testing::ElementsAre(reversed("hello from moat"), reversed("second line")));
    EXPECT_EQ(r.info.protocol, v);
    EXPECT_TRUE(r.info.peer_verified);
    expect_suite_fits(r.info, v, key);
    ASSERT_TRUE(r.peer.has_value());
    EXPECT_EQ(r.peer->sha256_fingerprint(), leaf.cert.sha256_fingerprint());
    EXPECT_EQ(r.peer->public_key_type(), key);
    EXPECT_EQ(srv->wait(10s), 0) << srv->output();
    const auto out = srv->output();
    EXPECT_THAT(out, HasSubstr("Protocol version: " + openssl_version(v)));
    EXPECT_THAT(out, HasSubstr("Ciphersuite: " + openssl_cipher(r.info.cipher_suite)));
  }

  void moat_client_to_gnutls(version v, pki::key_type key) {
    const auto& leaf = certs().leaf(key);
    const auto port = test::free_port();
    test::child_process srv({"gnutls-serv", "--echo", "-a", "-p", std::to_string(port),
                             "--x509certfile", leaf.certfile.string(), "--x509keyfile",
                             leaf.keyfile.string(), "--priority", gnutls_priority(v)});
    ASSERT_TRUE(srv.wait_for_output("listening on IPv4", 10s)) << srv.output();
    context ctx(role::client, client_opts());
    auto r = run(io, moat_client(ctx, port, {"hello from moat", "second line"}));
    ASSERT_FALSE(r.ec) << r.ec.message() << "\n" << srv.output();
    EXPECT_THAT(r.replies, ::testing::ElementsAre("hello from moat", "second line"));
    EXPECT_EQ(r.info.protocol, v);
    EXPECT_TRUE(r.info.peer_verified);
    expect_suite_fits(r.info, v, key);
    ASSERT_TRUE(r.peer.has_value());
    EXPECT_EQ(r.peer->sha256_fingerprint(), leaf.cert.sha256_fingerprint());
    EXPECT_TRUE(srv.wait_for_output("received cmd: second line", 5s)) << srv.output();
    const auto out = srv.output();
    EXPECT_THAT(out, HasSubstr("- Version: " + gnutls_version(v)));
    EXPECT_THAT(out, HasSubstr("- Cipher: " + gnutls_cipher(r.info.cipher_suite)));
    EXPECT_THAT(out, HasSubstr("- Given server name[1]: localhost"));
    EXPECT_THAT(out, HasSubstr(gnutls_sig_type(key)));
  }

  void openssl_to_moat_server(version v, pki::key_type key) {
    const auto& leaf = certs().leaf(key);
    context ctx(role::server, server_opts(leaf));
    auto ls = listen_local(io, ctx);
    auto r = run_peer_client(io, ls, s_client_argv(ls.local_endpoint().port(), v),
                             {"hello from openssl", "second line"});
    ASSERT_FALSE(r.server.ec) << r.server.ec.message() << "\n" << r.output;
    EXPECT_THAT(r.server.received, ::testing::ElementsAre("hello from openssl", "second line"));
    EXPECT_EQ(r.server.end, make_error_code(errc::closed)) << r.server.end.message();
    EXPECT_EQ(r.server.info.protocol, v);
    EXPECT_EQ(r.server.info.sni, "localhost");
    EXPECT_FALSE(r.server.peer.has_value());
    expect_suite_fits(r.server.info, v, key);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("moat got: hello from openssl\nmoat got: second line\n"));
    EXPECT_THAT(r.output, HasSubstr("New, " + openssl_version(v) + ", Cipher is " +
                                    openssl_cipher(r.server.info.cipher_suite)));
    EXPECT_THAT(r.output, HasSubstr("Verify return code: 0 (ok)"));
    EXPECT_THAT(r.output, HasSubstr("Verified peername: localhost"));
    EXPECT_THAT(r.output, HasSubstr(openssl_sig_type(key)));
  }

  void gnutls_to_moat_server(version v, pki::key_type key) {
    const auto& leaf = certs().leaf(key);
    context ctx(role::server, server_opts(leaf));
    auto ls = listen_local(io, ctx);
    auto r = run_peer_client(
        io, ls,
        {"gnutls-cli", "--x509cafile", certs().ca.certfile().string(), "-p",
         std::to_string(ls.local_endpoint().port()), "--priority", gnutls_priority(v), "localhost"},
        {"hello from gnutls", "second line"});
    ASSERT_FALSE(r.server.ec) << r.server.ec.message() << "\n" << r.output;
    EXPECT_THAT(r.server.received, ::testing::ElementsAre("hello from gnutls", "second line"));
    EXPECT_EQ(r.server.end, make_error_code(errc::closed)) << r.server.end.message();
    EXPECT_EQ(r.server.info.protocol, v);
    EXPECT_EQ(r.server.info.sni, "localhost");
    expect_suite_fits(r.server.info, v, key);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("moat got: hello from gnutls\nmoat got: second line\n"));
    EXPECT_THAT(r.output, HasSubstr("- Status: The certificate is trusted."));
    EXPECT_THAT(r.output, HasSubstr("- Description: (" + gnutls_version(v) + "-X.509)-"));
    EXPECT_THAT(r.output, HasSubstr("-(" + gnutls_cipher(r.server.info.cipher_suite) + ")"));
    EXPECT_THAT(r.output, HasSubstr(gnutls_sig_type(key)));
  }
};

TEST_P(InteropMatrix, HandshakesWithVerificationAndExchangesDataBothWays) {
  REQUIRE_PEERS();
  const auto& c = GetParam();
  switch (c.who) {
    case peer::openssl_server:
      moat_client_to_openssl(c.ver, c.key);
      break;
    case peer::gnutls_server:
      moat_client_to_gnutls(c.ver, c.key);
      break;
    case peer::openssl_client:
      openssl_to_moat_server(c.ver, c.key);
      break;
    case peer::gnutls_client:
      gnutls_to_moat_server(c.ver, c.key);
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(Peers, InteropMatrix, ::testing::ValuesIn(all_cases()), case_name);

// ======================================================================================
// Features against OpenSSL, one version at a time where it matters.
// ======================================================================================

std::string version_name(const ::testing::TestParamInfo<version>& info) {
  return info.param == version::tls1_3 ? "Tls13" : "Tls12";
}

class OpensslInterop : public ::testing::TestWithParam<version> {
 protected:
  void SetUp() override {
    if (!have_peers()) GTEST_SKIP() << "openssl / gnutls-bin are not installed";
  }
  asio::io_context io;
};

TEST_P(OpensslInterop, MoatClientNegotiatesAlpnWithOpensslServer) {
  const auto v = GetParam();
  const auto port = test::free_port();
  auto srv = start_s_server(certs().leaves.ecdsa, v, port, {"-naccept", "1", "-alpn", "http/1.1"});
  auto o = client_opts();
  o.alpn = {"h2", "http/1.1"};
  context ctx(role::client, o);
  auto r = run(io, moat_client(ctx, port, {"alpn"}));
  ASSERT_FALSE(r.ec) << r.ec.message() << "\n" << srv->output();
  EXPECT_EQ(r.info.alpn, "http/1.1");
  EXPECT_THAT(r.replies, ::testing::ElementsAre("npla"));
  EXPECT_EQ(srv->wait(10s), 0);
  EXPECT_THAT(srv->output(), HasSubstr("ALPN protocols advertised by the client: h2, http/1.1"));
}

TEST_P(OpensslInterop, OpensslClientGetsTheAlpnProtocolTheMoatServerPrefers) {
  const auto v = GetParam();
  auto o = server_opts(certs().leaves.ecdsa);
  o.alpn = {"h2", "http/1.1"};
  context ctx(role::server, o);
  auto ls = listen_local(io, ctx);
  auto r = run_peer_client(io, ls,
                           s_client_argv(ls.local_endpoint().port(), v, {"-alpn", "http/1.1,h2"}),
                           {"with alpn"});
  ASSERT_FALSE(r.server.ec) << r.server.ec.message() << "\n" << r.output;
  EXPECT_EQ(r.server.info.alpn, "h2");
  EXPECT_THAT(r.server.received, ::testing::ElementsAre("with alpn"));
  EXPECT_THAT(r.output, HasSubstr("ALPN protocol: h2"));
  EXPECT_THAT(r.output, HasSubstr("moat got: with alpn"));
}

TEST_P(OpensslInterop, MoatServerRefusesAnOpensslClientWithNoAlpnProtocolInCommon) {
  const auto v = GetParam();
  auto o = server_opts(certs().leaves.ecdsa);
  o.alpn = {"h2"};
  context ctx(role::server, o);
  auto ls = listen_local(io, ctx);
  auto r = run_peer_client(
      io, ls, s_client_argv(ls.local_endpoint().port(), v, {"-alpn", "spdy/1"}), {"never sent"});
  EXPECT_EQ(r.server.ec, make_error_code(errc::no_application_protocol))
      << r.server.ec.message() << "\n"
      << r.output;
  EXPECT_THAT(r.output, HasSubstr("alert no application protocol"));
  EXPECT_THAT(r.output, Not(HasSubstr("moat got:")));
}

TEST_P(OpensslInterop, MoatServerSeesTheSniNameAndPresentsThatHostsCertificate) {
  const auto v = GetParam();
  auto o = server_opts(certs().leaves.ecdsa);
  sni_credentials other_creds;
  other_creds.certfile = certs().other_host.certfile;
  other_creds.keyfile = certs().other_host.keyfile;
  o.sni_hosts["other.test"] = other_creds;
  context ctx(role::server, o);
  auto ls = listen_local(io, ctx);
  const auto port = ls.local_endpoint().port();

  auto other = run_peer_client(
      io, ls,
      {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-servername",
       "other.test", "-verify_hostname", "other.test", "-verify_return_error", "-CAfile",
       certs().ca.certfile().string(), v == version::tls1_3 ? "-tls1_3" : "-tls1_2"},
      {"for other.test"});
  ASSERT_FALSE(other.server.ec) << other.server.ec.message() << "\n" << other.output;
  EXPECT_EQ(other.server.info.sni, "other.test");
  EXPECT_THAT(other.server.received, ::testing::ElementsAre("for other.test"));
  EXPECT_THAT(other.output, HasSubstr("subject=CN = other.test"));
  EXPECT_THAT(other.output, HasSubstr("Verified peername: other.test"));

  auto plain = run_peer_client(io, ls, s_client_argv(port, v), {"for localhost"});
  ASSERT_FALSE(plain.server.ec) << plain.server.ec.message() << "\n" << plain.output;
  EXPECT_EQ(plain.server.info.sni, "localhost");
  EXPECT_THAT(plain.output, HasSubstr("subject=CN = localhost"));
  EXPECT_THAT(plain.output, HasSubstr("moat got: for localhost"));
}

TEST_P(OpensslInterop, MoatClientResumesItsSessionWithOpensslServer) {
  const auto v = GetParam();
  const auto port = test::free_port();
  auto srv = start_s_server(certs().leaves.ecdsa, v, port, {"-naccept", "2", "-msg"});
  context ctx(role::client, client_opts());
  // The first connection reads a reply, so the TLS 1.3 ticket (sent right after the
  // handshake) has been processed before the close.
  auto first = run(io, moat_client(ctx, port, {"first"}));
  ASSERT_FALSE(first.ec) << first.ec.message() << "\n" << srv->output();
  EXPECT_FALSE(first.info.resumed);
  auto second = run(io, moat_client(ctx, port, {"second"}));
  ASSERT_FALSE(second.ec) << second.ec.message() << "\n" << srv->output();
  EXPECT_TRUE(second.info.resumed);
  EXPECT_EQ(second.info.protocol, v);
  EXPECT_THAT(second.replies, ::testing::ElementsAre("dnoces"));
  EXPECT_EQ(srv->wait(10s), 0);
  // Only the first (full) handshake carried the server's Certificate message.
  EXPECT_EQ(count_of(srv->output(), "], Certificate\n"), 1U) << srv->output();
}

TEST_P(OpensslInterop, OpensslClientResumesItsSessionWithMoatServer) {
  const auto v = GetParam();
  test::temp_dir tmp;
  const auto sess = (tmp / "session.pem").string();
  context ctx(role::server, server_opts(certs().leaves.ecdsa));
  auto ls = listen_local(io, ctx);
  const auto port = ls.local_endpoint().port();

  auto first = run_peer_client(io, ls, s_client_argv(port, v, {"-sess_out", sess}), {"first"});
  ASSERT_FALSE(first.server.ec) << first.server.ec.message() << "\n" << first.output;
  EXPECT_FALSE(first.server.info.resumed);
  EXPECT_THAT(first.output, HasSubstr("New, " + openssl_version(v)));
  ASSERT_TRUE(std::filesystem::exists(sess)) << first.output;

  auto second = run_peer_client(io, ls, s_client_argv(port, v, {"-sess_in", sess}), {"second"});
  ASSERT_FALSE(second.server.ec) << second.server.ec.message() << "\n" << second.output;
  EXPECT_TRUE(second.server.info.resumed);
  EXPECT_THAT(second.server.received, ::testing::ElementsAre("second"));
  EXPECT_THAT(second.output, HasSubstr("Reused, " + openssl_version(v)));
  EXPECT_THAT(second.output, HasSubstr("moat got: second"));
}

TEST_P(OpensslInterop, MoatServerRequiringAClientCertificateAcceptsOpensslWithOne) {
  const auto v = GetParam();
  auto o = server_opts(certs().leaves.ecdsa);
  o.verify = verify_mode::peer;
  o.fail_if_no_peer_cert = true;
  o.cacertfile = certs().ca.certfile();
  context ctx(role::server, o);
  auto ls = listen_local(io, ctx);
  auto r = run_peer_client(io, ls,
                           s_client_argv(ls.local_endpoint().port(), v,
                                         {"-cert", certs().client.certfile.string(), "-key",
                                          certs().client.keyfile.string()}),
                           {"with a certificate"});
  ASSERT_FALSE(r.server.ec) << r.server.ec.message() << "\n" << r.output;
  EXPECT_TRUE(r.server.info.peer_verified);
  ASSERT_TRUE(r.server.peer.has_value());
  EXPECT_EQ(r.server.peer->common_name(), "client");
  EXPECT_THAT(r.server.received, ::testing::ElementsAre("with a certificate"));
  EXPECT_THAT(r.output, HasSubstr("moat got: with a certificate"));
}

TEST_P(OpensslInterop, MoatServerRequiringAClientCertificateRefusesOpensslWithout) {
  const auto v = GetParam();
  auto o = server_opts(certs().leaves.ecdsa);
  o.verify = verify_mode::peer;
  o.fail_if_no_peer_cert = true;
  o.cacertfile = certs().ca.certfile();
  context ctx(role::server, o);
  auto ls = listen_local(io, ctx);
  auto r = run_peer_client(io, ls, s_client_argv(ls.local_endpoint().port(), v), {"no cert"});
  EXPECT_EQ(r.server.ec, make_error_code(errc::no_peer_certificate))
      << r.server.ec.message() << "\n"
      << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("moat got:")));
  // TLS 1.3 has an alert for it (certificate_required, RFC 8446 section 4.4.2.4); TLS 1.2 has
  // none and says handshake_failure (RFC 5246 section 7.4.6).
  EXPECT_THAT(r.output, HasSubstr(v == version::tls1_3 ? "alert certificate required"
                                                       : "alert handshake failure"))
      << "the alert moat sent for no_peer_certificate over " << to_string(v);
}

TEST_P(OpensslInterop, MoatClientRejectsAServerFromAnotherCaAndOpensslSeesUnknownCa) {
  const auto v = GetParam();
  const auto port = test::free_port();
  auto srv = start_s_server(certs().untrusted, v, port, {"-naccept", "1"});
  context ctx(role::client, client_opts());
  auto r = run(io, moat_client(ctx, port, {"never sent"}));
  EXPECT_EQ(r.ec, make_error_code(errc::unknown_ca)) << r.ec.message();
  EXPECT_TRUE(r.replies.empty());
  srv->wait(5s);
  EXPECT_THAT(srv->output(), HasSubstr("alert unknown ca"));
}

TEST_P(OpensslInterop, MoatClientRejectsAServerWithAnotherNameAndOpensslSeesBadCertificate) {
  const auto v = GetParam();
  const auto port = test::free_port();
  auto srv = start_s_server(certs().wrong_name, v, port, {"-naccept", "1"});
  context ctx(role::client, client_opts());
  auto r = run(io, moat_client(ctx, port, {"never sent"}));
  EXPECT_EQ(r.ec, make_error_code(errc::hostname_mismatch)) << r.ec.message();
  EXPECT_TRUE(r.replies.empty());
  srv->wait(5s);
  EXPECT_THAT(srv->output(), HasSubstr("alert bad certificate"));
}

TEST_P(OpensslInterop, MoatClientKeylogMatchesTheSecretsOpensslLogged) {
  const auto v = GetParam();
  test::temp_dir tmp;
  const auto moat_log = tmp / "moat.keylog";
  const auto openssl_log = tmp / "openssl.keylog";
  const auto port = test::free_port();
  auto srv = start_s_server(certs().leaves.ecdsa, v, port,
                            {"-naccept", "1", "-keylogfile", openssl_log.string()});
  auto o = client_opts();
  o.keylog_file = moat_log;
  context ctx(role::client, o);
  auto r = run(io, moat_client(ctx, port, {"secret"}));
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_THAT(r.replies, ::testing::ElementsAre("terces"));
  EXPECT_EQ(srv->wait(10s), 0);

  const auto ours = lines_of(test::read_file(moat_log));
  const auto theirs = lines_of(test::read_file(openssl_log));
  const std::set<std::string> theirs_set(theirs.begin(), theirs.end());
  ASSERT_FALSE(ours.empty());
  for (const auto& line : ours) {
    EXPECT_TRUE(theirs_set.contains(line))
        << "moat logged a secret OpenSSL does not know: " << line << "\nOpenSSL:\n"
        << test::read_file(openssl_log);
  }
  const std::string label =
      v == version::tls1_3 ? "CLIENT_HANDSHAKE_TRAFFIC_SECRET " : "CLIENT_RANDOM ";
  EXPECT_TRUE(std::any_of(ours.begin(), ours.end(), [&](const std::string& l) {
    return l.starts_with(label);
  })) << test::read_file(moat_log);
  if (v == version::tls1_3) {
    for (const char* l : {"SERVER_HANDSHAKE_TRAFFIC_SECRET ", "CLIENT_TRAFFIC_SECRET_0 ",
                          "SERVER_TRAFFIC_SECRET_0 "}) {
      EXPECT_TRUE(std::any_of(ours.begin(), ours.end(),
                              [&](const std::string& x) { return x.starts_with(l); }))
          << l << " missing from\n"
          << test::read_file(moat_log);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, OpensslInterop,
                         ::testing::Values(version::tls1_3, version::tls1_2), version_name);

// ---- TLS 1.3 only --------------------------------------------------------------------------

TEST(OpensslKeyUpdate, MoatClientUpdatesKeysAndDataStillFlowsWithOpenssl) {
  REQUIRE_PEERS();
  asio::io_context io;
  const auto port = test::free_port();
  auto srv = start_s_server(certs().leaves.ecdsa, version::tls1_3, port, {"-naccept", "1", "-msg"});
  context ctx(role::client, client_opts());
  auto r = run(io, moat_client(ctx, port, {"before", "<update_keys>", "after", "and more"}));
  ASSERT_FALSE(r.ec) << r.ec.message() << "\n" << srv->output();
  EXPECT_THAT(r.replies, ::testing::ElementsAre("erofeb", "retfa", "erom dna"));
  EXPECT_EQ(srv->wait(10s), 0);
  // OpenSSL received moat's KeyUpdate and, as asked, sent its own.
  EXPECT_THAT(srv->output(), HasSubstr("<<< TLS 1.3, Handshake [length 0005], KeyUpdate"));
  EXPECT_THAT(srv->output(), HasSubstr(">>> TLS 1.3, Handshake [length 0005], KeyUpdate"));
}

TEST(OpensslKeyUpdate, MoatServerAnswersAKeyUpdateFromOpensslAndDataStillFlows) {
  REQUIRE_PEERS();
  asio::io_context io;
  context ctx(role::server, server_opts(certs().leaves.ecdsa));
  auto ls = listen_local(io, ctx);
  // "K" makes s_client send a KeyUpdate that asks moat to update its keys too.
  auto r =
      run_peer_client(io, ls, s_client_argv(ls.local_endpoint().port(), version::tls1_3, {"-msg"}),
                      {"before", "K", "after"});
  ASSERT_FALSE(r.server.ec) << r.server.ec.message() << "\n" << r.output;
  EXPECT_THAT(r.server.received, ::testing::ElementsAre("before", "after"));
  EXPECT_EQ(r.server.end, make_error_code(errc::closed));
  EXPECT_THAT(r.output, HasSubstr(">>> TLS 1.3, Handshake [length 0005], KeyUpdate"));
  EXPECT_THAT(r.output, HasSubstr("<<< TLS 1.3, Handshake [length 0005], KeyUpdate"));
  EXPECT_THAT(r.output, HasSubstr("moat got: after"));
}

}  // namespace
}  // namespace moat::tls
