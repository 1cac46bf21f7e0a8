// `moat ca serve | root | issue` as real processes: what they print and write, their exit
// codes, and `moat cert obtain` getting a certificate from `moat ca serve`.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <moat/pki/pki.hpp>

#include "support/support.hpp"

namespace pki = moat::pki;
namespace test = moat::test;
using namespace std::chrono_literals;

namespace {

using test::run_process;

class CaCommand : public ::testing::Test {
 protected:
  std::string path(const std::string& n) const { return (dir_ / n).string(); }
  test::temp_dir dir_;
};

}  // namespace

TEST_F(CaCommand, RootPrintsTheSameRootEveryTime) {
  const auto a = run_process({MOAT_BINARY, "ca", "root", "--data-dir", path("ca")});
  ASSERT_EQ(a.status, 0) << a.output;
  const auto root = pki::certificate::from_pem(a.output);
  EXPECT_TRUE(root.is_ca());
  EXPECT_TRUE(root.is_self_signed());
  const auto b = run_process({MOAT_BINARY, "ca", "root", "--data-dir", path("ca")});
  EXPECT_EQ(pki::certificate::from_pem(b.output), root);
  struct stat st {};
  ASSERT_EQ(::stat(path("ca/root.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0600U);
}

TEST_F(CaCommand, IssueWritesAClientAndServerCertificateChainingToTheRoot) {
  const auto r = run_process({MOAT_BINARY, "ca", "issue", "--cn", "node1", "--san", "node1.test",
                              "--san", "10.0.0.1", "--client-auth", "--days", "30", "--out-cert",
                              path("c.pem"), "--out-key", path("k.pem"), "--data-dir", path("ca")});
  ASSERT_EQ(r.status, 0) << r.output;
  const auto chain = pki::load_certificates(path("c.pem"));
  ASSERT_EQ(chain.size(), 2U);
  const auto root = pki::load_certificates(path("ca/root.pem")).front();
  EXPECT_TRUE(chain[0].is_issued_by(chain[1]));
  EXPECT_TRUE(chain[1].is_issued_by(root));
  EXPECT_EQ(chain[0].subject_alt_names(),
            (std::vector<std::string>{"DNS:node1.test", "IP:10.0.0.1"}));
  EXPECT_EQ(chain[0].public_key_der(), pki::load_private_key(path("k.pem")).public_key_der());
  EXPECT_EQ(chain[0].not_after() - chain[0].not_before(), std::chrono::days(30) + 5min);
  // openssl agrees on the purposes.
  test::child_process p(
      {"openssl", "x509", "-in", path("c.pem"), "-noout", "-ext", "extendedKeyUsage"});
  ASSERT_EQ(p.wait(), 0);
  EXPECT_NE(p.output().find("TLS Web Client Authentication"), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("TLS Web Server Authentication"), std::string::npos) << p.output();
}

TEST_F(CaCommand, UsageErrorsExit2AndACorruptDirectoryExits2NamingTheFile) {
  EXPECT_EQ(
      run_process({MOAT_BINARY, "ca", "issue", "--cn", "x", "--out-cert", path("c.pem")}).status,
      2);
  EXPECT_EQ(
      run_process({MOAT_BINARY, "ca", "serve", "--listen", "nonsense", "--data-dir", path("ca")})
          .status,
      2);
  // A port with trailing garbage is a usage error too (it once started on port 80).
  EXPECT_EQ(run_process({MOAT_BINARY, "ca", "serve", "--listen", "127.0.0.1:1abc", "--data-dir",
                         path("ca")})
                .status,
            2);
  ASSERT_EQ(run_process({MOAT_BINARY, "ca", "root", "--data-dir", path("ca")}).status, 0);
  test::write_file(dir_ / "ca/root.pem", "garbage");
  const auto r = run_process({MOAT_BINARY, "ca", "root", "--data-dir", path("ca")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("root.pem"), std::string::npos) << r.output;
}

TEST_F(CaCommand, CertObtainGetsACertificateFromCaServe) {
  const auto port = test::free_port();
  const auto http_port = test::free_port();
  test::child_process ca({MOAT_BINARY, "ca", "serve", "--listen",
                          "127.0.0.1:" + std::to_string(port), "--data-dir", path("ca"),
                          "--http01-port", std::to_string(http_port)});
  ASSERT_TRUE(ca.wait_for_output("root: ", test::scaled(20s))) << ca.output();
  const std::string directory = "https://127.0.0.1:" + std::to_string(port) + "/acme/directory";
  EXPECT_NE(ca.output().find("directory: " + directory), std::string::npos) << ca.output();
  const auto r = run_process({MOAT_BINARY, "cert", "obtain", "--acme", directory, "--acme-cacert",
                              path("ca/root.pem"), "--domain", "localhost", "--http-port",
                              std::to_string(http_port), "--bind", "127.0.0.1", "--out-cert",
                              path("cert.pem"), "--out-key", path("key.pem")});
  ASSERT_EQ(r.status, 0) << r.output << "\n" << ca.output();
  const auto chain = pki::load_certificates(path("cert.pem"));
  ASSERT_EQ(chain.size(), 2U);
  EXPECT_EQ(chain[0].subject_alt_names(), std::vector<std::string>{"DNS:localhost"});
  EXPECT_TRUE(chain[1].is_issued_by(pki::load_certificates(path("ca/root.pem")).front()));
  ca.kill(SIGTERM);
  EXPECT_EQ(ca.wait(test::scaled(20s)), 0) << ca.output();
}

TEST_F(CaCommand, TheDocsExampleObtainsFromItsOwnCaAndKeepsTheRootAcrossRuns) {
  const auto first = run_process({MOAT_EXAMPLE_ACME_CA, path("ca")});
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_NE(first.output.find("CN=app.internal until"), std::string::npos) << first.output;
  const auto root = test::read_file(dir_ / "ca/root.pem");
  const auto second = run_process({MOAT_EXAMPLE_ACME_CA, path("ca")});
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(test::read_file(dir_ / "ca/root.pem"), root);
}
