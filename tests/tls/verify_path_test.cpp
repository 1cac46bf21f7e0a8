// Certificate paths that are valid but not sent as a tidy leaf-to-root list: intermediates out
// of order, certificates that belong to no path, a cross-signed intermediate whose old root has
// expired. The TLS library builds the path; moat must never refuse what it (and openssl, and
// gnutls-cli) accept, must still refuse what they refuse, and must call the verify callback
// along the path that was built, not in the order the peer happened to send.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <moat/tls/socket.hpp>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace moat::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using moat::test::run;
using pki::certificate_builder;
using sys_clock = std::chrono::system_clock;

/// A certificate and its key.
struct cred {
  pki::certificate cert;
  pki::private_key key;
};

cred self_signed(const certificate_builder& b) {
  auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  return {b.self_sign(key), key};
}

cred issue(const certificate_builder& b, const cred& issuer) {
  auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  return {b.sign(key, issuer.cert, issuer.key), key};
}

certificate_builder ca(std::string cn) {
  return {.common_name = std::move(cn), .organisation = "moat path test", .is_ca = true};
}

certificate_builder server_leaf(std::string cn) {
  return {.common_name = std::move(cn), .subject_alt_names = {"DNS:localhost", "IP:127.0.0.1"}};
}

/// The certificates, made once for the suite.
struct world {
  test::temp_dir dir;
  // root -> int1 -> int2 -> leaf: two intermediates.
  cred root = self_signed(ca("moat path root"));
  cred int1 = issue(ca("moat path intermediate 1"), root);
  cred int2 = issue(ca("moat path intermediate 2"), int1);
  cred leaf = issue(server_leaf("deep.localhost"), int2);
  cred client_leaf = issue({.common_name = "deep.client"}, int2);
  // A CA of another hierarchy: belongs to no path here.
  cred stranger = self_signed(ca("moat path stranger root"));
  cred unrelated = issue(ca("moat path unrelated intermediate"), stranger);

  // The 2021 Let's Encrypt case. "DST" is an old root that has expired; "X1" is a new
  // self-signed root, also cross-signed by DST (same name and key as X1, issuer DST, still
  // valid); "R3" is an intermediate under X1; the server sends leaf, R3 and the cross-signed
  // X1 (and some also sent DST itself). A client that trusts X1 has a valid path
  // leaf -> R3 -> X1 and must not care about DST.
  cred dst = self_signed({.common_name = "moat old root X3",
                          .organisation = "moat path test",
                          .not_before = sys_clock::now() - std::chrono::days(3650),
                          .not_after = sys_clock::now() - std::chrono::days(1),
                          .is_ca = true});
  cred x1 = self_signed(ca("moat new root X1"));
  cred x1_cross = {ca("moat new root X1").sign(x1.key, dst.cert, dst.key), x1.key};
  cred r3 = issue(ca("moat intermediate R3"), x1);
  cred le_leaf = issue(server_leaf("le.localhost"), r3);

  /// Writes certificates as one PEM file.
  [[nodiscard]] fs::path pem(const std::vector<const cred*>& certs, const std::string& stem) const {
    std::string text;
    for (const cred* c : certs) text += c->cert.pem();
    const auto p = dir / (stem + ".pem");
    test::write_file(p, text);
    return p;
  }
  [[nodiscard]] fs::path key(const cred& c, const std::string& stem) const {
    const auto p = dir / (stem + ".key");
    c.key.write_file(p);
    return p;
  }
};

world& W() {
  static world w;
  return w;
}

// ---- The verify callback recorder ----------------------------------------------------------

struct event {
  verify_event what;
  std::error_code reason;
  unsigned depth;
  std::string cn;
  bool operator==(const event&) const = default;
};

std::string describe(const event& e) {
  const char* names[] = {"bad_cert", "extension", "valid", "valid_peer"};
  std::string s = names[static_cast<int>(e.what)];
  if (e.reason) s += "(" + reason_name(e.reason) + ")";
  return s + " depth " + std::to_string(e.depth) + " '" + e.cn + "'";
}

void PrintTo(const event& e, std::ostream* os) {
  *os << describe(e);
}

std::string describe(const std::vector<event>& events) {
  std::string s;
  for (const auto& e : events) s += (s.empty() ? "" : ", ") + describe(e);
  return "[" + s + "]";
}

std::string describe(std::error_code ec) {
  if (!ec) return "success";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " " +
         reason_name(ec) + " (" + ec.message() + ")";
}

/// Records every call and decides as moat does without a callback.
struct recorder {
  std::vector<event> events;
  verify_callback callback() {
    return [this](const verify_info& vi) {
      events.push_back({vi.event, vi.reason, vi.depth,
                        vi.certificate != nullptr ? vi.certificate->common_name() : "<null>"});
      return vi.event == verify_event::bad_cert ? verify_result::fail : verify_result::valid;
    };
  }
};

event valid(unsigned depth, std::string cn) {
  return {verify_event::valid, {}, depth, std::move(cn)};
}
event valid_peer(std::string cn) {
  return {verify_event::valid_peer, {}, 0, std::move(cn)};
}

// ---- Peers ---------------------------------------------------------------------------------

/// `openssl s_server` presenting `leaf` followed by `extra` exactly in that order.
struct openssl_server {
  std::uint16_t port = test::free_port();
  test::child_process proc;

  openssl_server(const cred& leaf, const std::vector<const cred*>& extra, const std::string& stem)
      : proc(argv(leaf, extra, stem)) {}

  std::vector<std::string> argv(const cred& leaf, const std::vector<const cred*>& extra,
                                const std::string& stem) const {
    std::vector<std::string> a{"openssl", "s_server",
                               "-accept", std::to_string(port),
                               "-cert",   W().pem({&leaf}, stem + "-leaf").string(),
                               "-key",    W().key(leaf, stem).string()};
    if (!extra.empty()) {
      a.insert(a.end(), {"-cert_chain", W().pem(extra, stem + "-chain").string()});
    }
    return a;
  }
  [[nodiscard]] bool ready() { return proc.wait_for_output("ACCEPT", 10s); }
};

struct client_result {
  std::error_code ec;
  connection_info info;
  std::vector<std::string> sent;  ///< common names of the chain as the server sent it
};

/// A moat client connecting to 127.0.0.1:port as "localhost".
client_result connect(std::uint16_t port, const options& o) {
  const context cctx(role::client, o);
  asio::io_context io;
  return run(io, [&]() -> asio::awaitable<client_result> {
    client_result r;
    auto s = co_await socket::connect(io.get_executor(), "localhost", port, cctx, 10s);
    if (!s) {
      r.ec = s.error();
      co_return r;
    }
    r.info = s->connection_information().value();
    for (const auto& c : s->peer_certificates()) r.sent.push_back(c.common_name());
    co_await s->close();
    co_return r;
  }());
}

/// A client that trusts `anchor` only and records its verify callback.
options trusting(const cred& anchor, recorder& rec) {
  options o;
  o.cacerts = {anchor.cert};
  o.verify_fun = rec.callback();
  return o;
}

/// `openssl s_client` verifying the server at `port` against `anchor`: its output.
std::string openssl_verifies(std::uint16_t port, const cred& anchor, const std::string& stem) {
  test::child_process p({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                         "-servername", "localhost", "-verify_return_error", "-CAfile",
                         W().pem({&anchor}, stem + "-anchor").string()});
  p.close_stdin();
  const auto status = p.wait(20s);
  return p.output() + "\n[exit status " + (status ? std::to_string(*status) : "timeout") + "]";
}

/// `gnutls-cli` verifying the server at `port` against `anchor`: its output.
std::string gnutls_verifies(std::uint16_t port, const cred& anchor, const std::string& stem) {
  test::child_process p({"gnutls-cli", "--port", std::to_string(port), "--x509cafile",
                         W().pem({&anchor}, stem + "-anchor").string(), "--sni-hostname",
                         "localhost", "--verify-hostname", "localhost", "127.0.0.1"});
  p.close_stdin();
  const auto status = p.wait(20s);
  return p.output() + "\n[exit status " + (status ? std::to_string(*status) : "timeout") + "]";
}

bool have_peers() {
  return test::have_program("openssl");
}

// ---- A moat client verifying a server ------------------------------------------------------

TEST(VerifyPath, AClientAcceptsAChainWhoseIntermediatesAreSentOutOfOrder) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  // int2 issued the leaf and int1 issued int2, but the server sends int1 first.
  openssl_server server(W().leaf, {&W().int1, &W().int2}, "unordered");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  recorder rec;
  const auto r = connect(server.port, trusting(W().root, rec));
  EXPECT_FALSE(r.ec) << describe(r.ec) << "; events " << describe(rec.events);
  EXPECT_EQ(r.sent, (std::vector<std::string>{"deep.localhost", "moat path intermediate 1",
                                              "moat path intermediate 2"}))
      << "the server should send its chain as given";
  EXPECT_TRUE(r.info.peer_verified);
  // The callback follows the path from the anchor down, not the order on the wire.
  EXPECT_EQ(rec.events, (std::vector<event>{valid(2, "moat path intermediate 1"),
                                            valid(1, "moat path intermediate 2"),
                                            valid_peer("deep.localhost")}))
      << describe(rec.events);
}

TEST(VerifyPath, OpensslAndGnutlsCliAcceptTheSameOutOfOrderChain) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  openssl_server server(W().leaf, {&W().int1, &W().int2}, "unordered-peers");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  const std::string out = openssl_verifies(server.port, W().root, "unordered-peers");
  EXPECT_NE(out.find("Verify return code: 0 (ok)"), std::string::npos) << out;
  if (test::have_program("gnutls-cli")) {
    const std::string g = gnutls_verifies(server.port, W().root, "unordered-peers");
    EXPECT_NE(g.find("The certificate is trusted"), std::string::npos) << g;
  }
}

TEST(VerifyPath, AClientIgnoresACertificateThatBelongsToNoPath) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  openssl_server server(W().leaf, {&W().int2, &W().unrelated, &W().int1}, "unrelated");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  recorder rec;
  const auto r = connect(server.port, trusting(W().root, rec));
  EXPECT_FALSE(r.ec) << describe(r.ec) << "; events " << describe(rec.events);
  ASSERT_EQ(r.sent.size(), 4U);
  EXPECT_EQ(rec.events, (std::vector<event>{valid(2, "moat path intermediate 1"),
                                            valid(1, "moat path intermediate 2"),
                                            valid_peer("deep.localhost")}))
      << describe(rec.events);
}

TEST(VerifyPath, AClientAcceptsACrossSignedIntermediateWhoseOldRootHasExpired) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  ASSERT_LT(W().dst.cert.not_after(), sys_clock::now()) << "the old root must have expired";
  // What Let's Encrypt servers sent from 2021: leaf, R3, X1 cross-signed by the old root.
  openssl_server server(W().le_leaf, {&W().r3, &W().x1_cross}, "cross-signed");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  recorder rec;
  const auto r = connect(server.port, trusting(W().x1, rec));
  EXPECT_FALSE(r.ec) << describe(r.ec) << "; events " << describe(rec.events);
  EXPECT_TRUE(r.info.peer_verified);
  EXPECT_EQ(rec.events,
            (std::vector<event>{valid(1, "moat intermediate R3"), valid_peer("le.localhost")}))
      << describe(rec.events);
}

TEST(VerifyPath, AClientAcceptsACrossSignedChainThatAlsoCarriesTheExpiredOldRoot) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  openssl_server server(W().le_leaf, {&W().r3, &W().x1_cross, &W().dst}, "cross-signed-dst");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  recorder rec;
  const auto r = connect(server.port, trusting(W().x1, rec));
  EXPECT_FALSE(r.ec) << describe(r.ec) << "; events " << describe(rec.events);
  EXPECT_EQ(rec.events,
            (std::vector<event>{valid(1, "moat intermediate R3"), valid_peer("le.localhost")}))
      << describe(rec.events);
}

TEST(VerifyPath, OpensslAndGnutlsCliAcceptTheSameCrossSignedChain) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  openssl_server server(W().le_leaf, {&W().r3, &W().x1_cross}, "cross-signed-peers");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  const std::string out = openssl_verifies(server.port, W().x1, "cross-signed-peers");
  EXPECT_NE(out.find("Verify return code: 0 (ok)"), std::string::npos) << out;
  if (test::have_program("gnutls-cli")) {
    const std::string g = gnutls_verifies(server.port, W().x1, "cross-signed-peers");
    EXPECT_NE(g.find("The certificate is trusted"), std::string::npos) << g;
  }
}

TEST(VerifyPath, AClientTrustingOnlyTheExpiredOldRootStillRefusesTheCrossSignedChain) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  openssl_server server(W().le_leaf, {&W().r3, &W().x1_cross}, "cross-signed-old");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  recorder rec;
  const auto r = connect(server.port, trusting(W().dst, rec));
  EXPECT_EQ(r.ec, std::error_code(errc::cert_expired))
      << describe(r.ec) << "; events " << describe(rec.events);
}

TEST(VerifyPath, AnOutOfOrderChainLongerThanDepthIsStillRefusedWithPathTooLong) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  openssl_server server(W().leaf, {&W().int1, &W().int2}, "too-deep");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  recorder rec;
  options o = trusting(W().root, rec);
  o.depth = 1;  // two intermediates are one too many
  const auto r = connect(server.port, o);
  EXPECT_EQ(r.ec, std::error_code(errc::path_too_long))
      << describe(r.ec) << "; events " << describe(rec.events);
  ASSERT_FALSE(rec.events.empty());
  EXPECT_EQ(rec.events.back(), (event{verify_event::bad_cert, make_error_code(errc::path_too_long),
                                      2, "moat path intermediate 1"}))
      << describe(rec.events);
  // Depth 2 lets the same chain through.
  recorder enough;
  options o2 = trusting(W().root, enough);
  o2.depth = 2;
  EXPECT_FALSE(connect(server.port, o2).ec) << describe(enough.events);
}

TEST(VerifyPath, AnOutOfOrderChainFromAnotherRootIsStillRefusedWithUnknownCa) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  openssl_server server(W().leaf, {&W().int1, &W().int2}, "unordered-untrusted");
  ASSERT_TRUE(server.ready()) << server.proc.output();
  recorder rec;
  const auto r = connect(server.port, trusting(W().stranger, rec));
  EXPECT_EQ(r.ec, std::error_code(errc::unknown_ca))
      << describe(r.ec) << "; events " << describe(rec.events);
  ASSERT_FALSE(rec.events.empty());
  EXPECT_EQ(rec.events.back().reason, std::error_code(errc::unknown_ca)) << describe(rec.events);
  EXPECT_EQ(rec.events.back().cn, "moat path intermediate 1") << describe(rec.events);
}

// ---- A moat server verifying a client ------------------------------------------------------

TEST(VerifyPath, AServerAcceptsAClientChainWhoseIntermediatesAreSentOutOfOrder) {
  if (!have_peers()) GTEST_SKIP() << "openssl not installed";
  recorder rec;
  options so;
  const auto& server_cert = W().leaf;
  so.cert = {server_cert.cert, W().int2.cert, W().int1.cert};
  so.key = server_cert.key;
  so.verify = verify_mode::peer;
  so.fail_if_no_peer_cert = true;
  so.cacerts = {W().root.cert};
  so.verify_fun = rec.callback();
  const context sctx(role::server, so);
  asio::io_context io;
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
  std::error_code result = make_error_code(errc::not_connected);
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await ls.transport_accept();
        result = s ? co_await s->handshake(10s) : s.error();
        if (s && !result) {
          (void)co_await s->send("ok\n");
          co_await s->close();
        }
        done = true;
      },
      asio::detached);
  test::child_process client({"openssl", "s_client", "-connect",
                              "127.0.0.1:" + std::to_string(ls.local_endpoint().port()), "-cert",
                              W().pem({&W().client_leaf}, "client-leaf").string(), "-key",
                              W().key(W().client_leaf, "client-leaf").string(), "-cert_chain",
                              W().pem({&W().int1, &W().int2}, "client-chain").string(), "-CAfile",
                              W().pem({&W().root}, "client-anchor").string()});
  client.close_stdin();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
  EXPECT_FALSE(result) << describe(result) << "; events " << describe(rec.events) << "\n"
                       << client.output();
  EXPECT_EQ(rec.events,
            (std::vector<event>{valid(2, "moat path intermediate 1"),
                                valid(1, "moat path intermediate 2"), valid_peer("deep.client")}))
      << describe(rec.events);
}

}  // namespace
}  // namespace moat::tls
