// The `moat` command, run as a real process: exit codes (0 ok, 1 runtime failure, 2 usage or
// configuration error), messages on stderr, files it writes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/support.hpp"

namespace moat {
namespace {

using namespace std::chrono_literals;

struct result {
  int status = -1;
  std::string output;
};

result moat_cmd(std::vector<std::string> args, const std::string& input = {}) {
  std::vector<std::string> argv{MOAT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  test::child_process p(argv);
  if (!input.empty()) p.write_stdin(input);
  p.close_stdin();
  auto st = p.wait(30s);
  return {st.value_or(-999), p.output()};
}

struct cli : ::testing::Test {
  test::temp_dir dir;
  std::string path(const std::string& n) const { return (dir / n).string(); }
};

TEST_F(cli, SelfSignedWritesACertificateAndAPrivateKeyReadableOnlyByItsOwner) {
  auto r = moat_cmd({"cert", "self-signed", "--cn", "example.test", "--san",
                     "DNS:example.test,IP:127.0.0.1", "--key-type", "ed25519", "--out-cert",
                     path("c.pem"), "--out-key", path("k.pem")});
  ASSERT_EQ(r.status, 0) << r.output;
  struct stat st {};
  ASSERT_EQ(::stat(path("k.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  auto certs = pki::load_certificates(path("c.pem"));
  ASSERT_EQ(certs.size(), 1U);
  EXPECT_EQ(certs[0].common_name(), "example.test");
  EXPECT_EQ(certs[0].public_key_type(), pki::key_type::ed25519);
  EXPECT_EQ(certs[0].subject_alt_names(),
            (std::vector<std::string>{"DNS:example.test", "IP:127.0.0.1"}));

  auto show = moat_cmd({"cert", "show", path("c.pem")});
  EXPECT_EQ(show.status, 0);
  EXPECT_NE(show.output.find("example.test"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find(certs[0].sha256_fingerprint()), std::string::npos) << show.output;

  auto check = moat_cmd({"cert", "check", "--cert", path("c.pem"), "--key", path("k.pem")});
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_NE(check.output.find("OK"), std::string::npos) << check.output;
}

TEST_F(cli, CheckExitsTwoNamingTheKeyFileWhenTheKeyDoesNotMatch) {
  ASSERT_EQ(moat_cmd({"cert", "self-signed", "--cn", "a", "--out-cert", path("a.pem"), "--out-key",
                      path("a.key")})
                .status,
            0);
  ASSERT_EQ(moat_cmd({"cert", "self-signed", "--cn", "b", "--out-cert", path("b.pem"), "--out-key",
                      path("b.key")})
                .status,
            0);
  auto r = moat_cmd({"cert", "check", "--cert", path("a.pem"), "--key", path("b.key")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find(path("b.key")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("does not match"), std::string::npos) << r.output;
}

TEST_F(cli, CheckExitsTwoNamingTheFileWhenTheCertificateIsMissing) {
  auto r = moat_cmd({"cert", "check", "--cert", path("nope.pem"), "--key", path("nope.key")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find(path("nope.pem")), std::string::npos) << r.output;
}

TEST_F(cli, UnknownArgumentsAreAUsageErrorWithExitCodeTwo) {
  EXPECT_EQ(moat_cmd({"cert", "self-signed", "--bogus"}).status, 2);
  EXPECT_EQ(moat_cmd({"no-such-command"}).status, 2);
  auto r = moat_cmd({"connect", "localhost:1", "--packet", "3"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("packet"), std::string::npos) << r.output;
  auto v = moat_cmd({"connect", "localhost:1", "--tls", "1.0"});
  EXPECT_EQ(v.status, 2);
  EXPECT_NE(v.output.find("RFC 8996"), std::string::npos) << v.output;
}

struct cli_connect : cli {
  test::test_ca ca{dir.path() / "ca"};
  test::issued leaf = ca.issue("localhost");
  unsigned short port = test::free_port();
  std::unique_ptr<test::child_process> server;

  void start_openssl_reverse_server() {
    server = std::make_unique<test::child_process>(std::vector<std::string>{
        "openssl", "s_server", "-accept", std::to_string(port), "-cert", leaf.certfile.string(),
        "-key", leaf.keyfile.string(), "-rev", "-quiet"});
    ASSERT_TRUE(server->wait_for_port(port)) << server->output();
  }
};

TEST_F(cli_connect, SendsEachLineAndPrintsEachReplyVerifyingTheServer) {
  start_openssl_reverse_server();
  auto r = moat_cmd({"connect", "localhost:" + std::to_string(port), "--packet", "line", "--cacert",
                     ca.certfile().string()},
                    "hello\nworld\n");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("olleh\ndlrow\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tlsv1.3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CN=localhost"), std::string::npos) << r.output;
}

TEST_F(cli_connect, PrintsTheDistinctReasonWhenVerificationFails) {
  start_openssl_reverse_server();
  // No --cacert: the test CA is not trusted by the system store.
  auto r = moat_cmd({"connect", "localhost:" + std::to_string(port), "--packet", "line"}, "x\n");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("unknown_ca"), std::string::npos) << r.output;
  // Wrong name: verified chain, but the certificate is not for this host.
  auto n = moat_cmd({"connect", "127.0.0.1:" + std::to_string(port), "--packet", "line", "--cacert",
                     ca.certfile().string(), "--sni", "elsewhere.test"},
                    "x\n");
  EXPECT_EQ(n.status, 1) << n.output;
  EXPECT_NE(n.output.find("hostname_check_failed"), std::string::npos) << n.output;
}

TEST_F(cli_connect, InsecureSkipVerifyConnectsAndSaysItDidNotVerify) {
  start_openssl_reverse_server();
  auto r = moat_cmd({"connect", "localhost:" + std::to_string(port), "--packet", "line",
                     "--insecure-skip-verify", "--tls", "1.2"},
                    "abc\n");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("cba"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tlsv1.2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("verified: NO"), std::string::npos) << r.output;
}

TEST_F(cli_connect, ConnectionRefusedIsARuntimeFailure) {
  auto r = moat_cmd(
      {"connect", "127.0.0.1:" + std::to_string(port), "--cacert", ca.certfile().string()}, "x\n");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("refused"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace moat
