// The certificate manager killed with SIGKILL at every step of obtaining a certificate --
// after the account key is stored, during the order, after the certificate is in service,
// between the writes of its key, chain and metadata, after the backup -- then restarted on the
// same storage: it always ends up serving a certificate whose stored key matches, and a third
// start serves it from the storage without a new order. The CA is `moat ca serve`, the
// manager a child process (manager_child.cpp); nothing is simulated.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <csignal>
#include <filesystem>
#include <moat/pki/key.hpp>
#include <moat/pki/load.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/socket.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/support.hpp"

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
using moat::test::child_process;
using namespace std::chrono_literals;

class ManagerCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = std::make_unique<child_process>(std::vector<std::string>{
        MOAT_BINARY, "ca", "serve", "--listen", "127.0.0.1:" + std::to_string(ca_port_),
        "--data-dir", (dir_ / "ca").string(), "--tls-alpn01-port", std::to_string(tls_port_)});
    ASSERT_TRUE(ca_->wait_for_output("root: ")) << ca_->output();
    const auto out = ca_->output();
    const auto at = out.find("directory: ") + 11;
    directory_ = out.substr(at, out.find('\n', at) - at);
  }

  std::unique_ptr<child_process> manager(const fs::path& storage) {
    return std::make_unique<child_process>(std::vector<std::string>{
        MOAT_MANAGER_CHILD, directory_, (dir_ / "ca" / "root.pem").string(), storage.string(),
        std::to_string(tls_port_)});
  }

  static std::string ready_serial(const child_process& p) {
    const auto out = p.output();
    const auto at = out.find("READY ");
    if (at == std::string::npos) return {};
    return out.substr(at + 6, out.find('\n', at) - at - 6);
  }

  // The serial the listener presents, verified against the CA's root for 127.0.0.1.
  std::string served_serial() {
    net::io_context io;
    moat::tls::options o;
    o.cacertfile = dir_ / "ca" / "root.pem";
    moat::tls::context ctx(moat::tls::role::client, o);
    return moat::test::run(io, [&]() -> net::awaitable<std::string> {
      auto s = co_await moat::tls::socket::connect(io.get_executor(), "127.0.0.1", tls_port_, ctx,
                                                   moat::test::scaled(10000ms));
      if (!s) co_return "connect failed: " + s.error().message();
      auto serial = s->peer_certificate()->serial_hex();
      co_await s->close();
      co_return serial;
    }());
  }

  moat::test::temp_dir dir_;
  unsigned short ca_port_ = moat::test::free_port();
  unsigned short tls_port_ = moat::test::free_port();
  std::unique_ptr<child_process> ca_;
  std::string directory_;
};

TEST_F(ManagerCrash, KilledAtEveryStepItRestartsAndServesTheCertificateItStored) {
  const std::vector<std::string> steps = {
      "made a new account key",        // the account key is stored, nothing else
      "obtaining a certificate from",  // the order starts
      "obtained a certificate in",     // in service, not stored yet
      "127.0.0.1.key'",                // the key is stored, its chain not yet
      "127.0.0.1.crt'",                // key and chain stored, the metadata not yet
      "127.0.0.1.json'",               // all stored, no backup yet
      "wrote the backup",              // done
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("killed after: " + steps[i]);
    const fs::path storage = dir_ / ("storage" + std::to_string(i));
    {
      auto first = manager(storage);
      ASSERT_TRUE(first->wait_for_output(steps[i], moat::test::scaled(30000ms))) << first->output();
      first->kill(SIGKILL);
      ASSERT_EQ(first->wait(), -SIGKILL);
    }
    auto second = manager(storage);
    ASSERT_TRUE(second->wait_for_output("READY", moat::test::scaled(60000ms))) << second->output();
    const auto serial = ready_serial(*second);
    ASSERT_FALSE(serial.empty()) << second->output();
    if (second->output().find("serving the stored certificate") == std::string::npos) {
      ASSERT_TRUE(second->wait_for_output("wrote the backup")) << second->output();
    }
    EXPECT_EQ(served_serial(), serial);
    second->kill(SIGKILL);
    ASSERT_EQ(second->wait(), -SIGKILL);

    // What the storage holds: the chain in service, with its key.
    const auto issuer = fs::directory_iterator(storage / "certificates")->path();
    const auto chain = moat::pki::load_certificates(issuer / "127.0.0.1" / "127.0.0.1.crt");
    const auto key = moat::pki::load_private_key(issuer / "127.0.0.1" / "127.0.0.1.key");
    EXPECT_EQ(chain.front().serial_hex(), serial);
    EXPECT_EQ(key.public_key_der(), chain.front().public_key_der());

    // A third start serves it from the storage, without a new order.
    auto third = manager(storage);
    ASSERT_TRUE(third->wait_for_output("READY", moat::test::scaled(60000ms))) << third->output();
    EXPECT_EQ(ready_serial(*third), serial);
    EXPECT_EQ(third->output().find("obtaining a certificate from"), std::string::npos)
        << third->output();
  }
}

TEST_F(ManagerCrash, TheDocsExampleServesHelloWithACertificateFromTheLocalCa) {
  const auto port = moat::test::free_port();
  child_process ex({MOAT_EXAMPLE_ACME_MANAGER, "localhost", "local", (dir_ / "example").string(),
                    std::to_string(port)});
  ASSERT_TRUE(ex.wait_for_output("obtained ", moat::test::scaled(30000ms))) << ex.output();
  net::io_context io;
  moat::tls::options o;
  o.cacertfile = dir_ / "example" / "ca" / "root.pem";
  o.server_name_indication = "localhost";
  moat::tls::context ctx(moat::tls::role::client, o);
  const auto got = moat::test::run(io, [&]() -> net::awaitable<std::string> {
    auto s = co_await moat::tls::socket::connect(io.get_executor(), "127.0.0.1", port, ctx,
                                                 moat::test::scaled(10000ms));
    if (!s) co_return "connect failed: " + s.error().message();
    auto r = co_await s->recv(0, moat::test::scaled(10000ms));
    co_return r ? std::string(r->begin(), r->end()) : r.error().message();
  }());
  EXPECT_EQ(got, "hello from moat\n");
  // The backup follows the storage writes, which follow the event.
  const auto deadline = std::chrono::steady_clock::now() + moat::test::scaled(10000ms);
  while (!fs::exists(dir_ / "example" / "acme.backup.tar") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_TRUE(fs::exists(dir_ / "example" / "acme.backup.tar"));
}

}  // namespace
