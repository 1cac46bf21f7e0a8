// `moat cert obtain | revoke | renewal-info` and the docs' example program, run as real
// processes against a real Pebble: the files they write, what they print, their exit codes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <moat/pki/pki.hpp>

#include "support/pebble.hpp"
#include "support/support.hpp"

namespace pki = moat::pki;
namespace test = moat::test;
using namespace std::chrono_literals;

namespace {

using test::run_process;

class AcmeCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::pebble::available()) GTEST_SKIP() << "pebble is not installed (scripts/setup.sh)";
  }
  void start(test::pebble_options o = {}) { pebble_ = std::make_unique<test::pebble>(o); }
  std::string path(const std::string& n) const { return (dir_ / n).string(); }
  std::vector<std::string> obtain_args(std::vector<std::string> extra) const {
    std::vector<std::string> a = {MOAT_BINARY,
                                  "cert",
                                  "obtain",
                                  "--acme",
                                  pebble_->directory_url(),
                                  "--acme-cacert",
                                  pebble_->ca_file().string(),
                                  "--http-port",
                                  std::to_string(pebble_->http_port()),
                                  "--tls-alpn-port",
                                  std::to_string(pebble_->tls_port()),
                                  "--bind",
                                  "127.0.0.1",
                                  "--out-cert",
                                  path("cert.pem"),
                                  "--out-key",
                                  path("key.pem")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  test::temp_dir dir_;
  std::unique_ptr<test::pebble> pebble_;
};

}  // namespace

TEST_F(AcmeCommand, ObtainWritesTheChainAndAKeyOnlyItsOwnerCanRead) {
  start();
  const auto r = run_process(obtain_args({"--domain", "localhost", "--email", "ops@example.test",
                                          "--account-key", path("account.pem")}));
  ASSERT_EQ(r.status, 0) << r.output << pebble_->log();
  EXPECT_NE(r.output.find("obtained in"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("DNS:localhost"), std::string::npos) << r.output;
  struct stat st {};
  ASSERT_EQ(::stat(path("key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  ASSERT_EQ(::stat(path("account.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const auto chain = pki::load_certificates(path("cert.pem"));
  ASSERT_GE(chain.size(), 2U);
  EXPECT_TRUE(chain.back().is_issued_by(pebble_->root()));
  EXPECT_EQ(chain.front().public_key_der(),
            pki::load_private_key(path("key.pem")).public_key_der());

  // The same account key again: the account is found, not made anew.
  const auto again = run_process(
      obtain_args({"--domain", "localhost", "--account-key", path("account.pem"), "--challenge",
                   "tls-alpn-01", "--ip", "127.0.0.1", "--key-type", "rsa2048"}));
  ASSERT_EQ(again.status, 0) << again.output << pebble_->log();
  EXPECT_EQ(again.output.find("made a new account key"), std::string::npos);
  EXPECT_EQ(pki::load_certificates(path("cert.pem")).front().public_key_type(), pki::key_type::rsa);

  // Revoke it with its own key, then it is revoked at the CA.
  const auto revoked =
      run_process({MOAT_BINARY, "cert", "revoke", "--acme", pebble_->directory_url(),
                   "--acme-cacert", pebble_->ca_file().string(), "--cert", path("cert.pem"),
                   "--key", path("key.pem"), "--reason", "keyCompromise"});
  ASSERT_EQ(revoked.status, 0) << revoked.output;
  const auto serial = pki::load_certificates(path("cert.pem")).front().serial_hex();
  EXPECT_NE(pebble_->management_get("/cert-status-by-serial/" + serial).body.find("Revoked"),
            std::string::npos);
}

TEST_F(AcmeCommand, AFailureExitsWithOneAndTheProblemsTypeAndDetail) {
  test::pebble_options o;
  o.domain_blocklist = {"blocked.test"};
  start(o);
  const auto r = run_process(obtain_args({"--domain", "blocked.test"}));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("rejectedIdentifier"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("blocked.test"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(path("cert.pem")));
  EXPECT_FALSE(std::filesystem::exists(path("key.pem")));

  // Pebble 2.4.0 has no renewalInfo: said, exit 1.
  const auto info = run_process(
      {MOAT_BINARY, "cert", "renewal-info", "--acme", pebble_->directory_url(), "--acme-cacert",
       pebble_->ca_file().string(), "--cert", pebble_->ca_file().string()});
  EXPECT_EQ(info.status, 1) << info.output;
  EXPECT_NE(info.output.find("renewalInfo"), std::string::npos) << info.output;
}

TEST_F(AcmeCommand, UsageErrorsExitWithTwo) {
  start();
  const auto none = run_process(obtain_args({}));
  EXPECT_EQ(none.status, 2) << none.output;
  EXPECT_NE(none.output.find("--domain"), std::string::npos) << none.output;
  const auto bad_eab = run_process(obtain_args({"--domain", "localhost", "--eab-kid", "k"}));
  EXPECT_EQ(bad_eab.status, 2) << bad_eab.output;
  const auto not_https =
      run_process({MOAT_BINARY, "cert", "obtain", "--acme", "http://ca.test/dir", "--domain",
                   "x.test", "--out-cert", path("c"), "--out-key", path("k")});
  EXPECT_EQ(not_https.status, 2) << not_https.output;
  EXPECT_NE(not_https.output.find("https://"), std::string::npos) << not_https.output;
}

TEST_F(AcmeCommand, TheDocsExampleObtainsACertificate) {
  start();
  const auto r = run_process({MOAT_EXAMPLE_ACME_OBTAIN, pebble_->directory_url(), "localhost",
                              pebble_->ca_file().string(), std::to_string(pebble_->http_port())},
                             60s, dir_.path());
  ASSERT_EQ(r.status, 0) << r.output << pebble_->log();
  const auto chain = pki::load_certificates(dir_ / "cert.pem");
  EXPECT_EQ(chain.front().subject_alt_names(), std::vector<std::string>{"DNS:localhost"});
}
