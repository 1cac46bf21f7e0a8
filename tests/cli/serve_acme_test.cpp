// `moat serve --acme` as a real process: it certifies itself through the in-process CA
// (HTTP-01 on its HTTP listener, TLS-ALPN-01 on its TLS listener), through `moat ca serve`
// and through a real Pebble by their directory URLs; its HTTP port redirects to HTTPS; a
// restart serves the stored certificate; misconfigurations stop it with exit code 2.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <moat/pki/load.hpp>
#include <moat/tls/socket.hpp>

#include "support/pebble.hpp"
#include "support/support.hpp"

namespace moat {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct ServeAcme : ::testing::Test {
  test::temp_dir dir;
  unsigned short port = test::free_port();
  unsigned short http_port = test::free_port();
  std::filesystem::path data() const { return dir / "data"; }

  std::unique_ptr<test::child_process> serve(std::vector<std::string> args) {
    std::vector<std::string> argv = {
        MOAT_BINARY, "serve", "--listen",   "127.0.0.1:" + std::to_string(port),
        "--workers", "1",     "--data-dir", data().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<test::child_process>(argv);
  }

  // A {packet,4} round trip over TLS, verifying `name` against `ca`: the reply (or the error)
  // and the server's leaf certificate.
  std::pair<std::string, std::optional<pki::certificate>> exchange(const std::filesystem::path& ca,
                                                                   const std::string& name) {
    asio::io_context io;
    tls::options o;
    o.cacertfile = ca;
    o.server_name_indication = name;
    tls::context ctx(tls::role::client, o);
    return test::run(
        io, [&]() -> asio::awaitable<std::pair<std::string, std::optional<pki::certificate>>> {
          auto s = co_await tls::socket::connect(io.get_executor(), "127.0.0.1", port, ctx,
                                                 test::scaled(10s),
                                                 {.packet = framing::packet_mode::u32});
          if (!s) co_return std::pair{"error: " + tls::format_error(s.error()), std::nullopt};
          (void)co_await s->send(std::string_view("ping"));
          auto r = co_await s->recv(0, test::scaled(10s));
          auto leaf = s->peer_certificate();
          co_await s->close();
          co_return std::pair{r ? std::string(r->begin(), r->end()) : r.error().message(), leaf};
        }());
  }

  // One plain HTTP request; the raw response.
  std::string http_get(const std::string& target) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), http_port});
    const std::string req = "GET " + target +
                            " HTTP/1.1\r\nHost: localhost:" + std::to_string(http_port) +
                            "\r\nConnection: close\r\n\r\n";
    asio::write(s, asio::buffer(req));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }

  static void stop(test::child_process& p) {
    p.kill(SIGTERM);
    EXPECT_EQ(p.wait(test::scaled(20s)), 0) << p.output();
  }
};

TEST_F(ServeAcme, CertifiesItselfThroughTheInProcessCaOverHttp01AndRedirectsTheRest) {
  auto p = serve({"--domain", "localhost", "--acme", "local", "--http-listen",
                  "127.0.0.1:" + std::to_string(http_port)});
  ASSERT_TRUE(p->wait_for_output("obtained a certificate in", test::scaled(30s))) << p->output();
  EXPECT_NE(p->output().find("http-01 validated dns localhost"), std::string::npos) << p->output();
  const auto root = data() / "ca" / "root.pem";
  const auto [reply, leaf] = exchange(root, "localhost");
  EXPECT_EQ(reply, "ping");
  ASSERT_TRUE(leaf.has_value());
  EXPECT_FALSE(leaf->is_self_signed());
  EXPECT_EQ(leaf->subject_alt_names(), std::vector<std::string>{"DNS:localhost"});
  // The HTTP port: unknown challenge tokens are 404, everything else goes to HTTPS.
  const auto redirect = http_get("/some/where?x=1");
  EXPECT_NE(redirect.find("HTTP/1.1 301"), std::string::npos) << redirect;
  EXPECT_NE(redirect.find("https://localhost:" + std::to_string(port) + "/some/where?x=1"),
            std::string::npos)
      << redirect;
  EXPECT_NE(http_get("/.well-known/acme-challenge/unknown").find("HTTP/1.1 404"),
            std::string::npos);
  stop(*p);

  // A restart serves the stored certificate without a new order.
  auto again = serve({"--domain", "localhost", "--acme", "local", "--http-listen",
                      "127.0.0.1:" + std::to_string(http_port)});
  ASSERT_TRUE(again->wait_for_output("serving the stored certificate", test::scaled(30s)))
      << again->output();
  const auto [reply2, leaf2] = exchange(root, "localhost");
  EXPECT_EQ(reply2, "ping");
  ASSERT_TRUE(leaf2.has_value());
  EXPECT_EQ(leaf2->serial_hex(), leaf->serial_hex());
  EXPECT_EQ(again->output().find("obtaining a certificate from"), std::string::npos)
      << again->output();
  stop(*again);
}

TEST_F(ServeAcme, WithoutAnHttpListenerItProvesTheNameOverTlsAlpn01OnItsOwnPort) {
  auto p = serve({"--domain", "localhost", "--acme", "local"});
  ASSERT_TRUE(p->wait_for_output("obtained a certificate in", test::scaled(30s))) << p->output();
  EXPECT_NE(p->output().find("tls-alpn-01 validated dns localhost"), std::string::npos)
      << p->output();
  EXPECT_EQ(exchange(data() / "ca" / "root.pem", "localhost").first, "ping");
  stop(*p);
}

TEST_F(ServeAcme, CertifiesAnIpAddressThroughMoatCaServeByItsDirectoryUrl) {
  const auto ca_port = test::free_port();
  test::child_process ca({MOAT_BINARY, "ca", "serve", "--listen",
                          "127.0.0.1:" + std::to_string(ca_port), "--data-dir",
                          (dir / "ca").string(), "--tls-alpn01-port", std::to_string(port)});
  ASSERT_TRUE(ca.wait_for_output("root: ")) << ca.output();
  const auto out = ca.output();
  const auto at = out.find("directory: ") + 11;
  const auto directory = out.substr(at, out.find('\n', at) - at);
  auto p = serve({"--domain", "127.0.0.1", "--acme", directory, "--acme-cacert",
                  (dir / "ca" / "root.pem").string(), "--profile", "shortlived", "--email",
                  "ops@example.test"});
  ASSERT_TRUE(p->wait_for_output("obtained a certificate in", test::scaled(30s))) << p->output();
  const auto [reply, leaf] = exchange(dir / "ca" / "root.pem", "");
  EXPECT_EQ(reply, "ping");
  ASSERT_TRUE(leaf.has_value());
  EXPECT_EQ(leaf->subject_alt_names(), std::vector<std::string>{"IP:127.0.0.1"});
  EXPECT_LE(leaf->not_after() - leaf->not_before(), std::chrono::hours(24 * 6 + 1));  // shortlived
  stop(*p);
}

TEST_F(ServeAcme, CertifiesItselfThroughARealPebble) {
  if (!test::pebble::available()) GTEST_SKIP() << "pebble is not installed";
  test::pebble_options po;
  po.tls_port = port;  // Pebble validates TLS-ALPN-01 against moat serve's own listener
  test::pebble pebble(po);
  auto p = serve({"--domain", "localhost", "--acme", pebble.directory_url(), "--acme-cacert",
                  pebble.ca_file().string()});
  ASSERT_TRUE(p->wait_for_output("obtained a certificate in", test::scaled(60s)))
      << p->output() << pebble.log();
  // Pebble's root is served by its management interface.
  test::write_file(dir / "pebble-root.pem", pebble.root().pem());
  const auto [reply, leaf] = exchange(dir / "pebble-root.pem", "localhost");
  EXPECT_EQ(reply, "ping");
  ASSERT_TRUE(leaf.has_value());
  EXPECT_TRUE(leaf->is_issued_by(pebble.intermediate()));
  stop(*p);
}

TEST_F(ServeAcme, AMisconfigurationStopsItWithExitCode2NamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--acme", "local"}, "--acme"},
      {{"--domain", "localhost"}, "--domain"},
      {{"--acme", "local", "--domain", "localhost", "--cert", (dir / "x.pem").string()}, "--cert"},
      {{"--acme", "letsencrypt", "--domain", "localhost"}, "letsencrypt"},
      {{"--acme", "local", "--domain", "bad name"}, "bad name"},
      {{"--acme", "local", "--domain", "localhost", "--email", "nobody"}, "nobody"},
      {{"--acme", "local", "--domain", "localhost", "--http-listen", "127.0.0.1:x"}, "http-listen"},
  };
  for (const auto& [args, subject] : cases) {
    auto p = serve(args);
    EXPECT_EQ(p->wait(test::scaled(20s)), 2) << subject << "\n" << p->output();
    EXPECT_NE(p->output().find(subject), std::string::npos) << p->output();
  }
}

}  // namespace
}  // namespace moat
