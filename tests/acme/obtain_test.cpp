// The ACME client against a real Pebble: every challenge type, DNS and IP identifiers,
// External Account Binding, key rollover, revocation, alternate chains, parallel orders, and
// Pebble's random validation delay. Pebble rejects 5 % of good nonces, as it does by default.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/acme/client.hpp>
#include <moat/pki/pki.hpp>

#include "support/pebble.hpp"
#include "support/support.hpp"

namespace acme = moat::acme;
namespace pki = moat::pki;
namespace net = boost::asio;
namespace test = moat::test;
using namespace std::chrono_literals;

namespace {

net::ip::tcp::endpoint loopback(unsigned short port) {
  return {net::ip::make_address("127.0.0.1"), port};
}

class AcmeAgainstPebble : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::pebble::available()) GTEST_SKIP() << "pebble is not installed (scripts/setup.sh)";
  }

  void start(test::pebble_options o = {}) { pebble_ = std::make_unique<test::pebble>(o); }

  acme::client_options options() const {
    acme::client_options o;
    o.directory_url = pebble_->directory_url();
    o.http.tls.cacertfile = pebble_->ca_file();
    o.contact = {"mailto:ops@example.test"};
    return o;
  }

  template <class T>
  T run(net::awaitable<T> aw, std::chrono::milliseconds timeout = 60s) {
    return test::run(io_, std::move(aw), timeout);
  }

  /// The chain verifies up to Pebble's root `n`: leaf ← intermediate ← root.
  void expect_issued_by_pebble(const acme::issued_certificate& c, int n = 0) {
    ASSERT_GE(c.chain.size(), 2U);
    EXPECT_TRUE(c.chain[0].is_issued_by(c.chain[1]));
    EXPECT_TRUE(c.chain.back().is_issued_by(pebble_->root(n))) << pebble_->log();
    EXPECT_EQ(c.chain[0].public_key_der(), c.key.public_key_der());
  }

  net::io_context io_;
  std::unique_ptr<test::pebble> pebble_;
};

}  // namespace

TEST_F(AcmeAgainstPebble, ObtainsACertificateForLocalhostOverHttp01) {
  start();
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  auto r = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message() << "\n" << pebble_->log();
  expect_issued_by_pebble(*r);
  EXPECT_EQ(r->chain[0].subject_alt_names(), std::vector<std::string>{"DNS:localhost"});
  EXPECT_EQ(r->key.type(), pki::key_type::ecdsa_p256);
  EXPECT_FALSE(c.account_url().empty());
}

TEST_F(AcmeAgainstPebble, ObtainsACertificateForAnIpAddressOverHttp01) {
  start();
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  auto r = run(c.obtain({.identifiers = {acme::identifier::ip("127.0.0.1")},
                         .solvers = {&http},
                         .key_type = pki::key_type::ecdsa_p384}));
  ASSERT_TRUE(r) << r.error().message() << "\n" << pebble_->log();
  expect_issued_by_pebble(*r);
  EXPECT_EQ(r->chain[0].subject_alt_names(), std::vector<std::string>{"IP:127.0.0.1"});
  EXPECT_EQ(r->key.type(), pki::key_type::ecdsa_p384);
}

TEST_F(AcmeAgainstPebble, ObtainsForANameAndAnAddressOverTlsAlpn01) {
  start();
  acme::tls_alpn01_server alpn({loopback(pebble_->tls_port())});
  acme::client c(io_.get_executor(), options());
  auto r = run(c.obtain(
      {.identifiers = {acme::identifier::dns("localhost"), acme::identifier::ip("127.0.0.1")},
       .solvers = {&alpn},
       .key_type = pki::key_type::ed25519}));
  ASSERT_TRUE(r) << r.error().message() << "\n" << pebble_->log();
  expect_issued_by_pebble(*r);
  EXPECT_EQ(r->chain[0].subject_alt_names(),
            (std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1"}));
}

TEST_F(AcmeAgainstPebble, ObtainsAWildcardOverDns01ThroughTheUsersHooks) {
  start();
  std::vector<std::string> published;
  acme::dns01_solver dns(
      [&](std::string name, std::string value) -> net::awaitable<void> {
        // The mock DNS takes names without the final dot.
        pebble_->set_txt(name.substr(0, name.size() - 1), value);
        published.push_back(name);
        co_return;
      },
      [&](std::string name, std::string) -> net::awaitable<void> {
        pebble_->clear_txt(name.substr(0, name.size() - 1));
        co_return;
      });
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  // HTTP-01 first in preference: it cannot prove the wildcard, so DNS-01 is used for it.
  auto r = run(c.obtain(
      {.identifiers = {acme::identifier::dns("*.example.test")}, .solvers = {&http, &dns}}));
  ASSERT_TRUE(r) << r.error().message() << "\n" << pebble_->log();
  EXPECT_EQ(r->chain[0].subject_alt_names(), std::vector<std::string>{"DNS:*.example.test"});
  EXPECT_EQ(published, std::vector<std::string>{"_acme-challenge.example.test."});
}

TEST_F(AcmeAgainstPebble, AnOrderNoSolverCanAnswerFailsBeforeTouchingTheChallenges) {
  start();
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("*.example.test")}, .solvers = {&http}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::errc::no_usable_challenge);
  EXPECT_NE(r.error().message().find("dns-01"), std::string::npos) << r.error().message();
}

TEST_F(AcmeAgainstPebble, ExternalAccountBindingGivenMissingAndWrong) {
  const std::vector<std::uint8_t> mac = pki::random_bytes(32);
  test::pebble_options po;
  po.eab_required = true;
  po.eab_keys = {{"kid-1", pki::base64url_encode(mac)}};
  start(po);
  acme::http01_server http({loopback(pebble_->http_port())});

  auto missing = options();
  acme::client without(io_.get_executor(), missing);
  auto r1 = run(without.register_account());
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code(), acme::errc::external_account_required);

  auto wrong = options();
  wrong.external_account = acme::external_account_binding{"kid-1", pki::random_bytes(32)};
  acme::client bad(io_.get_executor(), wrong);
  auto r2 = run(bad.register_account());
  ASSERT_FALSE(r2);
  EXPECT_TRUE(r2.error().problem().has_value()) << r2.error().message();
  EXPECT_FALSE(r2.error().retryable()) << r2.error().message();

  auto given = options();
  given.external_account = acme::external_account_binding{"kid-1", mac};
  acme::client good(io_.get_executor(), given);
  auto r3 =
      run(good.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}}));
  ASSERT_TRUE(r3) << r3.error().message() << "\n" << pebble_->log();
}

TEST_F(AcmeAgainstPebble, AccountsAreFoundUpdatedAndDeactivated) {
  start();
  acme::client c(io_.get_executor(), options());
  auto missing = run(c.find_account());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), acme::errc::account_does_not_exist);

  auto made = run(c.register_account());
  ASSERT_TRUE(made) << made.error().message();
  EXPECT_EQ(made->contact, std::vector<std::string>{"mailto:ops@example.test"});
  auto again = run(c.register_account());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->url, made->url);

  acme::client same_key(io_.get_executor(), [&] {
    auto o = options();
    o.account_key = c.account_key();
    return o;
  }());
  auto found = run(same_key.find_account());
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(found->url, made->url);

  auto updated = run(c.update_contact({"mailto:new@example.test"}));
  ASSERT_TRUE(updated) << updated.error().message();
  EXPECT_EQ(updated->contact, std::vector<std::string>{"mailto:new@example.test"});

  auto gone = run(c.deactivate_account());
  ASSERT_TRUE(gone) << gone.error().message();
  EXPECT_EQ(gone->status, acme::object_status::deactivated);
  auto after = run(same_key.update_contact({"mailto:x@example.test"}));
  ASSERT_FALSE(after);
  EXPECT_TRUE(after.error().problem().has_value()) << after.error().message();
}

TEST_F(AcmeAgainstPebble, AfterAKeyRolloverTheNewKeyObtainsAndTheOldOneIsNoAccount) {
  start();
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  ASSERT_TRUE(run(c.register_account()));
  const pki::private_key old_key = c.account_key();
  const auto new_key = pki::private_key::generate(pki::key_type::ecdsa_p384);
  auto rolled = run(c.change_key(new_key));
  ASSERT_TRUE(rolled) << rolled.error().message() << "\n" << pebble_->log();
  EXPECT_EQ(c.account_key(), new_key);
  auto r = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message();

  auto old_opts = options();
  old_opts.account_key = old_key;
  acme::client old_client(io_.get_executor(), old_opts);
  auto lookup = run(old_client.find_account());
  ASSERT_FALSE(lookup);
  EXPECT_EQ(lookup.error().code(), acme::errc::account_does_not_exist);
}

TEST_F(AcmeAgainstPebble, RevokesByAccountKeyAndByCertificateKey) {
  start();
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  auto a = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}}));
  auto b = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}}));
  ASSERT_TRUE(a && b);
  const auto status = [&](const pki::certificate& cert) {
    return pebble_->management_get("/cert-status-by-serial/" + cert.serial_hex()).body;
  };
  EXPECT_NE(status(a->chain[0]).find("Valid"), std::string::npos) << status(a->chain[0]);

  auto r1 = run(c.revoke(a->chain[0], acme::revocation_reason::superseded));
  ASSERT_TRUE(r1) << r1.error().message();
  EXPECT_NE(status(a->chain[0]).find("Revoked"), std::string::npos) << status(a->chain[0]);
  auto twice = run(c.revoke(a->chain[0]));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code(), acme::errc::already_revoked);

  // With an account key that has no account: refused, and no account is made for it.
  acme::client nobody(io_.get_executor(), options());
  auto r0 = run(nobody.revoke(b->chain[0]));
  ASSERT_FALSE(r0);
  EXPECT_EQ(r0.error().code(), acme::errc::account_does_not_exist) << r0.error().message();
  EXPECT_TRUE(nobody.account_url().empty());

  // With the certificate's key: another client, no account at all.
  acme::client stranger(io_.get_executor(), options());
  auto r2 = run(stranger.revoke_with_key(b->chain[0], b->key));
  ASSERT_TRUE(r2) << r2.error().message();
  EXPECT_NE(status(b->chain[0]).find("Revoked"), std::string::npos) << status(b->chain[0]);
  EXPECT_TRUE(stranger.account_url().empty());
}

TEST_F(AcmeAgainstPebble, ThePreferredChainIsChosenAmongTheAlternates) {
  test::pebble_options po;
  po.alternate_roots = 2;
  start(po);
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  const pki::certificate wanted = pebble_->root(2);
  auto r = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")},
                         .solvers = {&http},
                         .preferred_chain = wanted.common_name()}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->chain.back().is_issued_by(wanted));
  // Without a preference: the default chain, at another URL.
  auto d = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}}));
  ASSERT_TRUE(d);
  expect_issued_by_pebble(*d, 0);
  EXPECT_NE(r->certificate_url.find("/alternate/"), std::string::npos) << r->certificate_url;
  EXPECT_EQ(d->certificate_url.find("/alternate/"), std::string::npos) << d->certificate_url;
}

TEST_F(AcmeAgainstPebble, TenOrdersInParallelFromOneClientAllSucceed) {
  start();
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  ASSERT_TRUE(run(c.register_account()));
  std::vector<std::future<acme::result<acme::issued_certificate>>> all;
  for (int i = 0; i < 10; ++i) {
    all.push_back(net::co_spawn(
        io_,
        c.obtain({.identifiers = {acme::identifier::dns("host" + std::to_string(i) + ".test")},
                  .solvers = {&http}}),
        net::use_future));
  }
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(120s);
  for (auto& f : all) {
    while (f.wait_for(0s) != std::future_status::ready) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << pebble_->log();
      io_.run_for(20ms);
    }
    auto r = f.get();
    ASSERT_TRUE(r) << r.error().message();
  }
}

TEST_F(AcmeAgainstPebble, WithPebblesRandomValidationDelayTheClientWaitsWithoutSpinning) {
  test::pebble_options po;
  po.nosleep = false;
  po.va_sleep_seconds = 3;
  start(po);
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  ASSERT_TRUE(run(c.register_account()));
  const auto cpu0 = test::cpu_time();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}}),
               120s);
  const auto wall = std::chrono::steady_clock::now() - t0;
  const auto cpu = test::cpu_time() - cpu0;
  ASSERT_TRUE(r) << r.error().message() << "\n" << pebble_->log();
  // Whatever the delay (Pebble draws it at random, possibly 0), waiting costs nothing: the
  // process used a small share of one core, or little CPU in all.
  const double share =
      std::chrono::duration<double>(cpu).count() / std::chrono::duration<double>(wall).count();
  EXPECT_TRUE(share < 0.2 || cpu < test::scaled(250ms))
      << "cpu " << cpu.count() << " us over "
      << std::chrono::duration_cast<std::chrono::milliseconds>(wall).count() << " ms";
}

TEST_F(AcmeAgainstPebble, AClientAtRestLetsItsIoContextRunOut) {
  // io.run() returns once the work is done: idle HTTPS connections to the CA (whose timers
  // would keep it running until they expire, 30 s later) are closed when the last operation
  // ends.
  start();
  acme::http01_server http({loopback(pebble_->http_port())});
  acme::client c(io_.get_executor(), options());
  std::optional<acme::result<acme::issued_certificate>> out;
  acme::order_request req{.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&http}};
  net::co_spawn(
      io_, c.obtain(req),
      [&](std::exception_ptr, acme::result<acme::issued_certificate> r) { out = std::move(r); });
  const auto t0 = std::chrono::steady_clock::now();
  io_.run();
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(out && *out) << (out ? out->error().message() : "no result");
  EXPECT_LT(took, test::scaled(10s));
}
