// `moat cert ca` and `moat cert issue`, run as real processes; their certificates checked by
// openssl (verify -purpose, x509 -text) as an independent judge.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/support.hpp"

namespace moat {
namespace {

using namespace std::chrono_literals;

test::process_outcome moat_cmd(std::vector<std::string> args) {
  args.insert(args.begin(), MOAT_BINARY);
  return test::run_process(std::move(args), 30s);
}

struct cert_ca : ::testing::Test {
  test::temp_dir dir;
  std::string path(const std::string& n) const { return (dir / n).string(); }

  void make_ca(const std::string& stem, const std::string& cn = "test cluster CA") {
    auto r = moat_cmd({"cert", "ca", "--cn", cn, "--out-cert", path(stem + ".pem"), "--out-key",
                       path(stem + ".key")});
    ASSERT_EQ(r.status, 0) << r.output;
  }
  test::process_outcome issue(const std::string& stem, std::vector<std::string> extra,
                              const std::string& ca = "ca") {
    std::vector<std::string> args{"cert",       "issue",
                                  "--ca-cert",  path(ca + ".pem"),
                                  "--ca-key",   path(ca + ".key"),
                                  "--out-cert", path(stem + ".pem"),
                                  "--out-key",  path(stem + ".key")};
    args.insert(args.end(), extra.begin(), extra.end());
    return moat_cmd(args);
  }
  test::process_outcome verify(const std::string& purpose, const std::string& stem) {
    return test::run_process(
        {"openssl", "verify", "-CAfile", path("ca.pem"), "-purpose", purpose, path(stem + ".pem")});
  }
  std::string text(const std::string& stem) {
    auto r = test::run_process({"openssl", "x509", "-noout", "-text", "-in", path(stem + ".pem")});
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  }
};

mode_t mode_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

TEST_F(cert_ca, ANodeCertificateFromANewCaVerifiesForTlsClientsAndServers) {
  make_ca("ca");
  EXPECT_EQ(mode_of(path("ca.key")), 0600U);
  const std::string ca_text = text("ca");
  EXPECT_NE(ca_text.find("CA:TRUE"), std::string::npos) << ca_text;
  EXPECT_NE(ca_text.find("Certificate Sign, CRL Sign"), std::string::npos) << ca_text;
  EXPECT_NE(ca_text.find("Subject: CN = test cluster CA"), std::string::npos) << ca_text;

  auto r = issue("node", {"--cn", "node1.example", "--san", "DNS:node1.example,IP:127.0.0.1",
                          "--san", "::1", "--client-auth"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(mode_of(path("node.key")), 0600U);
  auto client = verify("sslclient", "node");
  EXPECT_EQ(client.status, 0) << client.output;
  auto server = verify("sslserver", "node");
  EXPECT_EQ(server.status, 0) << server.output;

  const std::string leaf = text("node");
  EXPECT_NE(leaf.find("TLS Web Server Authentication, TLS Web Client Authentication"),
            std::string::npos)
      << leaf;
  EXPECT_NE(leaf.find("DNS:node1.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"),
            std::string::npos)
      << leaf;
  EXPECT_NE(leaf.find("CA:FALSE"), std::string::npos) << leaf;

  // The chain file: the leaf, then the CA; the key is the leaf's.
  const auto chain = pki::load_certificates(path("node.pem"));
  ASSERT_EQ(chain.size(), 2U);
  EXPECT_EQ(chain[1], pki::load_certificates(path("ca.pem"))[0]);
  EXPECT_TRUE(chain[0].is_issued_by(chain[1]));
  EXPECT_EQ(pki::load_credentials(path("node.pem"), path("node.key")).chain.size(), 2U);
}

TEST_F(cert_ca, WithoutClientAuthTheCertificateServesButCannotAuthenticateAClient) {
  make_ca("ca");
  auto r = issue("srv", {"--cn", "srv.example", "--key-type", "rsa2048", "--days", "30"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(verify("sslserver", "srv").status, 0);
  EXPECT_NE(verify("sslclient", "srv").status, 0);
  const auto leaf = pki::load_certificates(path("srv.pem"))[0];
  EXPECT_EQ(leaf.public_key_type(), pki::key_type::rsa);
  EXPECT_LE(leaf.not_after() - leaf.not_before(), std::chrono::days(30) + 10min);
}

TEST_F(cert_ca, TheDefaultNameIsTheCommonNameAsAnAddressIfItIsOneElseAsADnsName) {
  make_ca("ca");
  ASSERT_EQ(issue("a", {"--cn", "node-a"}).status, 0);
  EXPECT_EQ(pki::load_certificates(path("a.pem"))[0].subject_alt_names(),
            std::vector<std::string>{"DNS:node-a"});
  ASSERT_EQ(issue("b", {"--cn", "127.0.0.2"}).status, 0);
  EXPECT_EQ(pki::load_certificates(path("b.pem"))[0].subject_alt_names(),
            std::vector<std::string>{"IP:127.0.0.2"});
  auto r = issue("c", {"--cn", "not a host name"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--cn 'not a host name'"), std::string::npos) << r.output;
}

TEST_F(cert_ca, TheCaRefusesToReplaceExistingFilesUnlessForced) {
  make_ca("ca");
  const std::string key_before = test::read_file(path("ca.key"));
  auto r = moat_cmd(
      {"cert", "ca", "--cn", "x", "--out-cert", path("ca.pem"), "--out-key", path("ca.key")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find(path("ca.key")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  EXPECT_EQ(test::read_file(path("ca.key")), key_before);
  r = moat_cmd({"cert", "ca", "--cn", "x", "--out-cert", path("ca.pem"), "--out-key",
                path("ca.key"), "--force", "--days", "10"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(test::read_file(path("ca.key")), key_before);
}

TEST_F(cert_ca, IssueExitsTwoNamingTheOptionOrFileForBadInput) {
  make_ca("ca");
  make_ca("other", "another CA");
  auto expect_error = [&](const test::process_outcome& r, const std::string& a,
                          const std::string& b) {
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find(a), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(b), std::string::npos) << r.output;
  };
  // A CA key that is not the CA certificate's.
  auto r = moat_cmd({"cert", "issue", "--ca-cert", path("ca.pem"), "--ca-key", path("other.key"),
                     "--cn", "n", "--out-cert", path("n.pem"), "--out-key", path("n.key")});
  expect_error(r, "--ca-key '" + path("other.key") + "'", "does not match");
  // A leaf given as the CA.
  ASSERT_EQ(issue("leaf", {"--cn", "leaf"}).status, 0);
  r = issue("n", {"--cn", "n"}, "leaf");
  expect_error(r, "--ca-cert '" + path("leaf.pem") + "'", "not a CA certificate");
  // Files that are not there or hold the wrong thing.
  r = issue("n", {"--cn", "n"}, "missing");
  expect_error(r, path("missing.pem"), "--ca-cert");
  r = moat_cmd({"cert", "issue", "--ca-cert", path("ca.key"), "--ca-key", path("ca.key"), "--cn",
                "n", "--out-cert", path("n.pem"), "--out-key", path("n.key")});
  expect_error(r, "--ca-cert '" + path("ca.key") + "'", "");
  r = moat_cmd({"cert", "issue", "--ca-cert", path("ca.pem"), "--ca-key", path("ca.pem"), "--cn",
                "n", "--out-cert", path("n.pem"), "--out-key", path("n.key")});
  expect_error(r, "--ca-key '" + path("ca.pem") + "'", "");
  // Bad names.
  expect_error(issue("n", {"--cn", "n", "--san", "IP:300.1.2.3"}), "--san 'IP:300.1.2.3'",
               "not an IP address");
  expect_error(issue("n", {"--cn", "n", "--san", "DNS:bad name"}), "--san 'DNS:bad name'",
               "not a DNS name");
  expect_error(issue("n", {"--cn", "n", "--san", "URI:https://x"}), "--san 'URI:https://x'", "");
  EXPECT_FALSE(std::filesystem::exists(path("n.pem")));
  // Writing over the CA's own key is refused, and the key survives.
  const std::string ca_key = test::read_file(path("ca.key"));
  r = moat_cmd({"cert", "issue", "--ca-cert", path("ca.pem"), "--ca-key", path("ca.key"), "--cn",
                "n", "--out-cert", path("n.pem"), "--out-key", path("ca.key")});
  expect_error(r, "--out-key '" + path("ca.key") + "'", "CA's own");
  EXPECT_EQ(test::read_file(path("ca.key")), ca_key);
  expect_error(issue("n", {"--cn", "n", "--days", "0"}), "--days", "positive");
}

}  // namespace
}  // namespace moat
