// `moat ca serve` as a process, and real ACME clients from Debian obtaining a certificate for
// "localhost" from it: certbot (--standalone and --webroot behind a real HTTP server), lego
// (HTTP-01 and TLS-ALPN-01) and Caddy (automatic HTTPS, then serving what it obtained). Each
// checks what the client wrote: the name, and the chain leaf <- the CA's intermediate <- the
// root `moat ca root` prints. A test is skipped only when its client is not installed.
//
// Every client keeps its state in the test's directory: certbot's --config-dir, --work-dir and
// --logs-dir, lego's --path, Caddy's storage and XDG directories, and HOME for all of them.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <moat/pki/pki.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/socket.hpp>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace pki = moat::pki;
namespace tls = moat::tls;
namespace test = moat::test;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

#define REQUIRE_PROGRAM(name) \
  if (!test::have_program(name)) GTEST_SKIP() << name " is not installed (scripts/setup.sh)"

class CaInterop : public ::testing::Test {
 protected:
  /// Starts `moat ca serve` on free ports and reads its root with `moat ca root`.
  void start_ca() {
    ca_port_ = distinct_free_port();
    http_port_ = distinct_free_port();
    tls_port_ = distinct_free_port();
    ca_ = std::make_unique<test::child_process>(std::vector<std::string>{
        MOAT_BINARY, "ca", "serve", "--listen", "127.0.0.1:" + std::to_string(ca_port_),
        "--data-dir", path("ca"), "--http01-port", std::to_string(http_port_), "--tls-alpn01-port",
        std::to_string(tls_port_)});
    ASSERT_TRUE(ca_->wait_for_output("root: ")) << ca_->output();
    directory_ = "https://127.0.0.1:" + std::to_string(ca_port_) + "/acme/directory";
    ASSERT_TRUE(contains(ca_->output(), "directory: " + directory_)) << ca_->output();
    const auto root = test::run_process({MOAT_BINARY, "ca", "root", "--data-dir", path("ca")});
    ASSERT_EQ(root.status, 0) << root.output;
    root_ = pki::certificate::from_pem(root.output);
    root_file_ = dir_ / "root.pem";
    test::write_file(root_file_, root.output);
  }

  void TearDown() override {
    if (!ca_) return;
    ca_->kill(SIGTERM);
    EXPECT_EQ(ca_->wait(), 0) << ca_->output();
  }

  /// `chain_file` holds leaf and intermediate: a leaf for localhost (and `key_file`'s key),
  /// issued by the CA's intermediate, which the root issued.
  void expect_issued_for_localhost(const fs::path& chain_file, const fs::path& key_file) const {
    ASSERT_TRUE(fs::exists(chain_file)) << chain_file;
    const auto chain = pki::load_certificates(chain_file);
    ASSERT_EQ(chain.size(), 2U) << chain_file;
    const auto sans = chain[0].subject_alt_names();
    EXPECT_EQ(sans, std::vector<std::string>{"DNS:localhost"});
    EXPECT_FALSE(chain[0].is_ca());
    EXPECT_TRUE(chain[0].is_valid_at(std::chrono::system_clock::now()));
    EXPECT_EQ(chain[1], pki::load_certificates(dir_ / "ca/intermediate.pem").front());
    EXPECT_TRUE(chain[0].is_issued_by(chain[1]));
    EXPECT_TRUE(chain[1].is_issued_by(root_));
    EXPECT_NO_THROW(
        pki::check_key_matches(chain[0], pki::load_private_key(key_file), key_file.string()));
  }

  /// certbot with its directories under the test's and trusting only the CA's root (Python
  /// requests reads REQUESTS_CA_BUNDLE).
  std::vector<std::string> certbot_argv(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"env",
                                     "HOME=" + dir_.path().string(),
                                     "REQUESTS_CA_BUNDLE=" + root_file_.string(),
                                     "certbot",
                                     "certonly",
                                     "--server",
                                     directory_,
                                     "--config-dir",
                                     path("certbot/config"),
                                     "--work-dir",
                                     path("certbot/work"),
                                     "--logs-dir",
                                     path("certbot/logs"),
                                     "--non-interactive",
                                     "--agree-tos",
                                     "--register-unsafely-without-email",
                                     "-d",
                                     "localhost"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  [[nodiscard]] std::string certbot_log() const {
    return test::read_file(dir_ / "certbot/logs/letsencrypt.log");
  }

  /// lego with its --path under the test's, trusting only the CA's root.
  std::vector<std::string> lego_argv(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"env",
                                     "HOME=" + dir_.path().string(),
                                     "LEGO_CA_CERTIFICATES=" + root_file_.string(),
                                     "lego",
                                     "--server",
                                     directory_,
                                     "--accept-tos",
                                     "--email",
                                     "interop@example.test",
                                     "--domains",
                                     "localhost",
                                     "--path",
                                     path("lego")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.emplace_back("run");
    return argv;
  }

  [[nodiscard]] std::string path(const std::string& n) const { return (dir_ / n).string(); }
  [[nodiscard]] std::string ca_log() const { return ca_ ? "moat ca serve:\n" + ca_->output() : ""; }

  test::temp_dir dir_;
  std::unique_ptr<test::child_process> ca_;
  std::string directory_;
  pki::certificate root_;
  fs::path root_file_;
  unsigned short ca_port_ = 0;
  unsigned short http_port_ = 0;
  unsigned short tls_port_ = 0;

 private:
  unsigned short distinct_free_port() {
    for (;;) {
      const auto p = test::free_port();
      if (std::find(ports_.begin(), ports_.end(), p) == ports_.end()) {
        ports_.push_back(p);
        return p;
      }
    }
  }
  std::vector<unsigned short> ports_;
};

}  // namespace

TEST_F(CaInterop, CertbotStandaloneObtainsForLocalhostOverHttp01) {
  REQUIRE_PROGRAM("certbot");
  ASSERT_NO_FATAL_FAILURE(start_ca());
  const auto r = test::run_process(
      certbot_argv({"--standalone", "--preferred-challenges", "http", "--http-01-address",
                    "127.0.0.1", "--http-01-port", std::to_string(http_port_)}),
      120s);
  ASSERT_EQ(r.status, 0) << r.output << certbot_log() << ca_log();
  expect_issued_for_localhost(dir_ / "certbot/config/live/localhost/fullchain.pem",
                              dir_ / "certbot/config/live/localhost/privkey.pem");
}

TEST_F(CaInterop, CertbotWebrootObtainsThroughTheFilesARealHttpServerServes) {
  REQUIRE_PROGRAM("certbot");
  REQUIRE_PROGRAM("python3");
  ASSERT_NO_FATAL_FAILURE(start_ca());
  const auto webroot = dir_ / "webroot";
  fs::create_directories(webroot);
  // Python's own HTTP server, serving the directory certbot writes the challenge file into.
  test::child_process http({"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                            webroot.string(), std::to_string(http_port_)});
  ASSERT_TRUE(http.wait_for_port(http_port_, test::scaled(20s))) << http.output();
  const auto r = test::run_process(certbot_argv({"--webroot", "-w", webroot.string()}), 120s);
  ASSERT_EQ(r.status, 0) << r.output << certbot_log() << "python3 -m http.server:\n"
                         << http.output() << ca_log();
  expect_issued_for_localhost(dir_ / "certbot/config/live/localhost/fullchain.pem",
                              dir_ / "certbot/config/live/localhost/privkey.pem");
  // The CA fetched the challenge file from that server.
  EXPECT_TRUE(contains(http.output(), "\"GET /.well-known/acme-challenge/")) << http.output();
  EXPECT_TRUE(contains(http.output(), "HTTP/1.1\" 200")) << http.output();
}

TEST_F(CaInterop, LegoObtainsForLocalhostOverHttp01) {
  REQUIRE_PROGRAM("lego");
  ASSERT_NO_FATAL_FAILURE(start_ca());
  const auto r = test::run_process(
      lego_argv({"--http", "--http.port", "127.0.0.1:" + std::to_string(http_port_)}), 120s);
  ASSERT_EQ(r.status, 0) << r.output << ca_log();
  EXPECT_TRUE(contains(r.output, "Trying to solve HTTP-01")) << r.output;
  expect_issued_for_localhost(dir_ / "lego/certificates/localhost.crt",
                              dir_ / "lego/certificates/localhost.key");
}

// lego's challenge certificate has keyUsage keyEncipherment alone (no digitalSignature): the
// CA must not hold that against it (see CaObtain in ca_obtain_test.cpp).
TEST_F(CaInterop, LegoObtainsForLocalhostOverTlsAlpn01) {
  REQUIRE_PROGRAM("lego");
  ASSERT_NO_FATAL_FAILURE(start_ca());
  const auto r = test::run_process(
      lego_argv({"--tls", "--tls.port", "127.0.0.1:" + std::to_string(tls_port_)}), 120s);
  ASSERT_EQ(r.status, 0) << r.output << ca_log();
  EXPECT_TRUE(contains(r.output, "Trying to solve TLS-ALPN-01")) << r.output;
  expect_issued_for_localhost(dir_ / "lego/certificates/localhost.crt",
                              dir_ / "lego/certificates/localhost.key");
}

// Caddy picks HTTP-01 or TLS-ALPN-01 itself, on its http_port and https_port: the CA's
// validation ports. For "localhost" Caddy's global acme_ca / acme_ca_root do not apply (it
// issues local names from its internal CA), so the site's tls block names the CA: `ca` and
// `ca_root` are the same two settings for one site.
TEST_F(CaInterop, CaddyObtainsForLocalhostAndServesItChainingToTheRoot) {
  REQUIRE_PROGRAM("caddy");
  ASSERT_NO_FATAL_FAILURE(start_ca());
  const auto caddyfile = dir_ / "Caddyfile";
  test::write_file(caddyfile,
                   "{\n"
                   "\tadmin off\n"
                   "\tdefault_bind 127.0.0.1\n"
                   "\thttp_port " +
                       std::to_string(http_port_) +
                       "\n"
                       "\thttps_port " +
                       std::to_string(tls_port_) +
                       "\n"
                       "\tskip_install_trust\n"
                       "\tstorage file_system {\n"
                       "\t\troot " +
                       path("caddy/storage") +
                       "\n"
                       "\t}\n"
                       "}\n"
                       "\n"
                       "localhost {\n"
                       "\ttls {\n"
                       "\t\tca " +
                       directory_ +
                       "\n"
                       "\t\tca_root " +
                       root_file_.string() +
                       "\n"
                       "\t}\n"
                       "\trespond \"served by caddy\"\n"
                       "}\n");
  test::child_process caddy({"env", "HOME=" + dir_.path().string(),
                             "XDG_DATA_HOME=" + path("caddy/data"),
                             "XDG_CONFIG_HOME=" + path("caddy/config"), "caddy", "run", "--config",
                             caddyfile.string(), "--adapter", "caddyfile"});
  ASSERT_TRUE(caddy.wait_for_output("certificate obtained successfully", 60s))
      << caddy.output() << ca_log();

  const fs::path stored = dir_ / "caddy/storage/certificates" /
                          ("127.0.0.1-" + std::to_string(ca_port_) + "-acme-directory") /
                          "localhost";
  expect_issued_for_localhost(stored / "localhost.crt", stored / "localhost.key");

  // Caddy serves it: moat's client, trusting only the CA's root and checking the name
  // "localhost", completes a handshake and gets Caddy's answer. Caddy puts the certificate
  // into service right after its log line, so the first handshakes may still see none.
  net::io_context io;
  tls::options to;
  to.cacerts = {root_};
  to.server_name_indication = "localhost";
  to.reuse_sessions = false;
  to.alpn = {"http/1.1"};
  const tls::context ctx(tls::role::client, to);
  tls::socket_options so;
  so.packet = moat::framing::packet_mode::raw;
  std::vector<pki::certificate> served;
  std::string answer;
  std::string last_error;
  test::run(
      io,
      [&]() -> net::awaitable<void> {
        const auto deadline = std::chrono::steady_clock::now() + test::scaled(20s);
        while (std::chrono::steady_clock::now() < deadline) {
          auto s = co_await tls::socket::connect(io.get_executor(), "127.0.0.1", tls_port_, ctx,
                                                 test::scaled(5s), so);
          if (!s) {
            last_error = s.error().message();
            net::steady_timer t(io, 50ms);
            co_await t.async_wait(net::use_awaitable);
            continue;
          }
          served = s->peer_certificates();
          if (auto ec = co_await s->send(std::string_view(
                  "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))) {
            last_error = ec.message();
            co_return;
          }
          for (;;) {
            auto r = co_await s->recv(0, test::scaled(5s));
            if (!r) break;
            answer.append(reinterpret_cast<const char*>(r->data()), r->size());
          }
          co_return;
        }
      }(),
      60s);
  ASSERT_FALSE(served.empty()) << last_error << "\n" << caddy.output();
  EXPECT_EQ(served.front(), pki::load_certificates(stored / "localhost.crt").front());
  EXPECT_TRUE(served.back().is_issued_by(root_));
  EXPECT_TRUE(contains(answer, "served by caddy")) << answer;
}
