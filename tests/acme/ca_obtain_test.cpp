// moat's own ACME client against the in-process CA: every challenge type, DNS and IP
// identifiers, both profiles, EAB, key rollover, deactivation, revocation and the CRL, ARI,
// and a restart of the CA.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/error.hpp>
#include <mutex>

#include "ca_fixture.hpp"

namespace acme = moat::acme;
namespace pki = moat::pki;
namespace net = boost::asio;
namespace test = moat::test;
using namespace std::chrono_literals;

namespace {

class CaObtain : public ::testing::Test, public test::ca_fixture {};

/// A DNS zone the client's dns01_solver publishes into and the CA's DNS-01 hook reads.
struct fake_zone {
  std::mutex mu;
  std::multimap<std::string, std::string> txt;
  acme::dns01_solver solver() {
    return acme::dns01_solver(
        [this](std::string name, std::string value) -> net::awaitable<void> {
          std::lock_guard l(mu);
          txt.emplace(name, value);
          co_return;
        },
        [this](std::string name, std::string value) -> net::awaitable<void> {
          std::lock_guard l(mu);
          for (auto it = txt.begin(); it != txt.end(); ++it) {
            if (it->first == name && it->second == value) {
              txt.erase(it);
              break;
            }
          }
          co_return;
        });
  }
  acme::dns_txt_lookup lookup() {
    return [this](std::string name) -> net::awaitable<std::vector<std::string>> {
      std::lock_guard l(mu);
      std::vector<std::string> out;
      for (auto [it, end] = txt.equal_range(name); it != end; ++it) out.push_back(it->second);
      co_return out;
    };
  }
};

/// TLS-ALPN-01 answered by `openssl s_server` with a challenge certificate made the way lego
/// (Go) makes one: an RSA key and keyUsage keyEncipherment only -- no digitalSignature, which
/// a TLS handshake signing with that key would need. Go's TLS client never checks keyUsage.
class openssl_alpn_solver : public acme::solver {
 public:
  openssl_alpn_solver(std::filesystem::path dir, unsigned short port)
      : dir_(std::move(dir)), port_(port) {}
  [[nodiscard]] std::string_view challenge_type() const noexcept override { return "tls-alpn-01"; }
  net::awaitable<void> present(const acme::challenge_task& task) override {
    std::string digest_hex;
    for (const auto b : moat::pki::sha256(task.key_authorization)) {
      digest_hex += fmt::format("{:02x}", b);
    }
    const auto cert = (dir_ / "alpn.pem").string();
    const auto key = (dir_ / "alpn.key").string();
    test::child_process req({"openssl",  "req",
                             "-x509",    "-newkey",
                             "rsa:2048", "-nodes",
                             "-days",    "1",
                             "-subj",    "/CN=ACME Challenge TEMP",
                             "-keyout",  key,
                             "-out",     cert,
                             "-addext",  "subjectAltName=DNS:" + task.identifier.value,
                             "-addext",  "keyUsage=keyEncipherment",
                             "-addext",  "1.3.6.1.5.5.7.1.31=critical,DER:0420" + digest_hex});
    if (req.wait(test::scaled(30s)) != 0) throw std::runtime_error("openssl req: " + req.output());
    server_ = std::make_unique<test::child_process>(std::vector<std::string>{
        "openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port_), "-cert", cert,
        "-key", key, "-alpn", "acme-tls/1"});
    if (!server_->wait_for_output("ACCEPT")) {
      throw std::runtime_error("openssl s_server: " + server_->output());
    }
    co_return;
  }
  net::awaitable<void> cleanup(const acme::challenge_task&) override {
    server_.reset();
    co_return;
  }

 private:
  std::filesystem::path dir_;
  unsigned short port_;
  std::unique_ptr<test::child_process> server_;
};

std::chrono::hours lifetime_of(const pki::certificate& c) {
  return std::chrono::duration_cast<std::chrono::hours>(c.not_after() - c.not_before());
}

}  // namespace

TEST_F(CaObtain, ObtainsForADnsNameOverHttp01WithTheDefaultProfileOf90Days) {
  acme::http01_server http({test::loopback(0)});
  start_ca({.http01_port = http.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message();
  expect_chain_to_root(*r);
  EXPECT_EQ(r->chain[0].subject_alt_names(), std::vector<std::string>{"DNS:example.test"});
  EXPECT_EQ(lifetime_of(r->chain[0]), std::chrono::hours(24 * 90));
  const auto s = ca_->stats();
  EXPECT_EQ(s.issued, 2U);  // the CA's own HTTPS certificate and this one
  EXPECT_EQ(s.orders, 1U);
  EXPECT_EQ(s.accounts, 1U);
}

TEST_F(CaObtain, ObtainsForAnIpAddressOverTlsAlpn01WithTheShortlivedProfileOf6Days) {
  acme::tls_alpn01_server alpn({test::loopback(0)});
  start_ca({.tls_alpn01_port = alpn.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  auto r = run(c.obtain({.identifiers = {acme::identifier::ip("127.0.0.1")},
                         .solvers = {&alpn},
                         .profile = "shortlived"}));
  ASSERT_TRUE(r) << r.error().message();
  expect_chain_to_root(*r);
  EXPECT_EQ(r->chain[0].subject_alt_names(), std::vector<std::string>{"IP:127.0.0.1"});
  EXPECT_EQ(lifetime_of(r->chain[0]), std::chrono::hours(24 * 6));
}

TEST_F(CaObtain, ObtainsForADnsNameOverTlsAlpn01AndForAnIpOverHttp01) {
  acme::http01_server http({test::loopback(0)});
  acme::tls_alpn01_server alpn({test::loopback(0)});
  start_ca({.http01_port = http.local_endpoints().front().port(),
            .tls_alpn01_port = alpn.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  auto r1 = run(
      c.obtain({.identifiers = {acme::identifier::dns("www.example.test")}, .solvers = {&alpn}}));
  ASSERT_TRUE(r1) << r1.error().message();
  auto r2 = run(c.obtain({.identifiers = {acme::identifier::ip("127.0.0.1")},
                          .solvers = {&http},
                          .profile = "shortlived"}));
  ASSERT_TRUE(r2) << r2.error().message();
  expect_chain_to_root(*r2);
}

TEST_F(CaObtain, TlsAlpn01AcceptsAChallengeCertificateWithoutDigitalSignatureKeyUsageAsLegoMakes) {
  const auto port = test::free_port();
  openssl_alpn_solver alpn(dir_.path(), port);
  start_ca({.tls_alpn01_port = port});
  acme::client c(io_.get_executor(), client_options());
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&alpn}}));
  ASSERT_TRUE(r) << r.error().message();
  expect_chain_to_root(*r);
}

TEST_F(CaObtain, ObtainsAWildcardAndItsBaseNameOverDns01) {
  fake_zone zone;
  auto dns = zone.solver();
  start_ca({.dns01_lookup = zone.lookup()});
  acme::client c(io_.get_executor(), client_options());
  auto r = run(c.obtain({.identifiers = {acme::identifier::dns("*.example.test"),
                                         acme::identifier::dns("example.test")},
                         .solvers = {&dns},
                         .key_type = pki::key_type::ed25519}));
  ASSERT_TRUE(r) << r.error().message();
  expect_chain_to_root(*r);
  EXPECT_EQ(r->chain[0].subject_alt_names(),
            (std::vector<std::string>{"DNS:*.example.test", "DNS:example.test"}));
}

TEST_F(CaObtain, APollDuringTheValidationIsAnsweredWithItsOutcomeNotWithRetryAfter) {
  // The CA tells pollers to come back in an hour, and the client would honour that: the
  // order completes only because a poll arriving during the validation waits for it.
  // TLS-ALPN-01: the responder sees the CA's ClientHello before the CA has checked the
  // certificate, so the client's first poll comes while the validation still runs.
  acme::tls_alpn01_server alpn({test::loopback(0)});
  start_ca({.tls_alpn01_port = alpn.local_endpoints().front().port(), .retry_after = 1h});
  auto o = client_options();
  o.max_poll_interval = 1h;
  acme::client c(io_.get_executor(), o);
  auto r = run(
      c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&alpn}}), 60s);
  ASSERT_TRUE(r) << r.error().message();
  expect_chain_to_root(*r);
}

TEST_F(CaObtain, ValidationTriesEachAddressOfANameUntilOneConnects) {
  // A dual-stack name whose first address (IPv6) has no server: the validation falls back to
  // the next, as when a resolver lists ::1 before 127.0.0.1 for localhost.
  acme::http01_server http({test::loopback(0)});
  acme::tls_alpn01_server alpn({test::loopback(0)});
  acme::ca_options o;
  o.http01_port = http.local_endpoints().front().port();
  o.tls_alpn01_port = alpn.local_endpoints().front().port();
  o.hosts.emplace("dual.test", "::1, 127.0.0.1");
  start_ca(o);
  acme::client c(io_.get_executor(), client_options());
  for (acme::solver* s : std::vector<acme::solver*>{&http, &alpn}) {
    auto r = run(c.obtain({.identifiers = {acme::identifier::dns("dual.test")}, .solvers = {s}}));
    ASSERT_TRUE(r) << s->challenge_type() << ": " << r.error().message();
  }
}

TEST_F(CaObtain, AnIpAddressIsRefusedByTheDefaultProfile) {
  acme::http01_server http({test::loopback(0)});
  start_ca({.http01_port = http.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  auto r = run(c.obtain({.identifiers = {acme::identifier::ip("127.0.0.1")}, .solvers = {&http}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::errc::rejected_identifier) << r.error().message();
  ASSERT_TRUE(r.error().problem());
  ASSERT_EQ(r.error().problem()->subproblems.size(), 1U);
  EXPECT_EQ(r.error().problem()->subproblems[0].id, acme::identifier::ip("127.0.0.1"));
  EXPECT_EQ(ca_->stats().issued, 1U);
}

TEST_F(CaObtain, ExternalAccountBindingIsRequiredAndChecked) {
  acme::http01_server http({test::loopback(0)});
  const std::vector<std::uint8_t> mac(32, 7);
  start_ca({.eab_keys = {{.key_id = "kid-1", .mac_key = mac}},
            .external_account_required = true,
            .http01_port = http.local_endpoints().front().port()});
  {
    acme::client c(io_.get_executor(), client_options());
    auto r = run(c.register_account());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), acme::errc::external_account_required) << r.error().message();
  }
  {
    auto o = client_options();
    o.external_account = acme::external_account_binding{"kid-1", std::vector<std::uint8_t>(32, 8)};
    acme::client c(io_.get_executor(), o);
    auto r = run(c.register_account());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), acme::errc::unauthorized) << r.error().message();
  }
  auto o = client_options();
  o.external_account = acme::external_account_binding{"kid-1", mac};
  acme::client c(io_.get_executor(), o);
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(ca_->stats().accounts, 1U);
}

TEST_F(CaObtain, KeyRolloverMovesTheAccountToTheNewKey) {
  acme::http01_server http({test::loopback(0)});
  start_ca({.http01_port = http.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  auto a = run(c.register_account());
  ASSERT_TRUE(a) << a.error().message();
  const auto old_key = c.account_key();
  const auto new_key = pki::private_key::generate(pki::key_type::ecdsa_p384);
  auto k = run(c.change_key(new_key));
  ASSERT_TRUE(k) << k.error().message();
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message();
  // The old key finds no account any more; the new one finds the same account.
  auto old_opts = client_options();
  old_opts.account_key = old_key;
  acme::client old_client(io_.get_executor(), old_opts);
  auto f = run(old_client.find_account());
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), acme::errc::account_does_not_exist);
  auto new_opts = client_options();
  new_opts.account_key = new_key;
  acme::client new_client(io_.get_executor(), new_opts);
  auto g = run(new_client.find_account());
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->url, a->url);
}

TEST_F(CaObtain, ADeactivatedAccountIsRefused) {
  acme::http01_server http({test::loopback(0)});
  start_ca({.http01_port = http.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  ASSERT_TRUE(run(c.register_account()));
  auto d = run(c.deactivate_account());
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->status, acme::object_status::deactivated);
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::errc::unauthorized) << r.error().message();
}

TEST_F(CaObtain, RevocationByTheAccountAndByTheCertificateKeyPutsTheSerialsInTheCrl) {
  acme::http01_server http({test::loopback(0)});
  start_ca({.http01_port = http.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  auto r1 =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  auto r2 =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_TRUE(r1 && r2);
  auto v1 = run(c.revoke(r1->chain[0], acme::revocation_reason::superseded));
  ASSERT_TRUE(v1) << v1.error().message();
  auto again = run(c.revoke(r1->chain[0]));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), acme::errc::already_revoked);
  acme::client stranger(io_.get_executor(), client_options());
  auto v2 = run(stranger.revoke_with_key(r2->chain[0], r2->key));
  ASSERT_TRUE(v2) << v2.error().message();
  EXPECT_EQ(ca_->stats().revoked, 2U);
  // The CRL, signed by the intermediate, lists both serials (openssl reads it).
  const auto crl = ca_->crl_der();
  const auto path = dir_ / "crl.der";
  test::write_file(path, std::string(crl.begin(), crl.end()));
  const auto inter = dir_ / "inter.pem";
  test::write_file(inter, ca_->intermediate_certificate().pem());
  test::child_process p({"openssl", "crl", "-inform", "DER", "-in", path.string(), "-noout",
                         "-text", "-CAfile", inter.string()});
  ASSERT_EQ(p.wait(), 0) << p.output();
  const auto out = p.output();
  EXPECT_NE(out.find(r1->chain[0].serial_hex()), std::string::npos) << out;
  EXPECT_NE(out.find(r2->chain[0].serial_hex()), std::string::npos) << out;
  EXPECT_NE(out.find("verify OK"), std::string::npos) << out;
  // The issued certificates point to the CRL.
  EXPECT_TRUE(r1->chain[0].extension("2.5.29.31"));
}

TEST_F(CaObtain, RenewalInfoSuggestsTheLastThirdAndMovesToNowWhenMarked) {
  acme::http01_server http({test::loopback(0)});
  start_ca({.http01_port = http.local_endpoints().front().port()});
  acme::client c(io_.get_executor(), client_options());
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message();
  const auto& leaf = r->chain[0];
  auto info = run(c.get_renewal_info(leaf));
  ASSERT_TRUE(info) << info.error().message();
  const auto life = leaf.not_after() - leaf.not_before();
  EXPECT_GE(info->window_start, leaf.not_before() + life / 2);
  EXPECT_LE(info->window_end, leaf.not_after());
  EXPECT_LT(info->window_start, info->window_end);
  EXPECT_EQ(info->retry_after, std::chrono::hours(6));
  ASSERT_TRUE(ca_->mark_for_renewal(leaf));
  auto marked = run(c.get_renewal_info(leaf));
  ASSERT_TRUE(marked);
  // A window that has already ended: renew immediately (RFC 9773 section 4.2).
  EXPECT_LE(marked->window_end, std::chrono::system_clock::now() + 1s);
  EXPECT_LT(marked->window_start, marked->window_end);
  // Renewing with `replaces` works once; a second replacement is refused.
  auto renewed = run(c.obtain({.identifiers = {acme::identifier::dns("example.test")},
                               .solvers = {&http},
                               .replaces = leaf}));
  ASSERT_TRUE(renewed) << renewed.error().message();
  auto twice = run(c.obtain({.identifiers = {acme::identifier::dns("example.test")},
                             .solvers = {&http},
                             .replaces = leaf}));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code(), acme::errc::already_replaced) << twice.error().message();
  // Another account may not replace it.
  acme::client other(io_.get_executor(), client_options());
  auto foreign = run(other.obtain({.identifiers = {acme::identifier::dns("example.test")},
                                   .solvers = {&http},
                                   .replaces = renewed->chain[0]}));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code(), acme::errc::unauthorized) << foreign.error().message();
}

TEST_F(CaObtain, ARestartedCaKeepsItsRootItsAccountsAndItsCertificates) {
  acme::http01_server http({test::loopback(0)});
  const auto port = http.local_endpoints().front().port();
  start_ca({.http01_port = port});
  const auto root = ca_->root_certificate();
  auto o = client_options();
  acme::client c(io_.get_executor(), o);
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message();
  const auto account_key = c.account_key();
  const auto account_url = c.account_url();
  stop_ca();
  start_ca({.http01_port = port});
  EXPECT_EQ(ca_->root_certificate(), root);
  auto o2 = client_options();
  o2.account_key = account_key;
  acme::client c2(io_.get_executor(), o2);
  auto f = run(c2.find_account());
  ASSERT_TRUE(f) << f.error().message();
  // The port of the restarted server differs, so the URL does too; the account id does not.
  EXPECT_EQ(f->url.substr(f->url.rfind('/')), account_url.substr(account_url.rfind('/')));
  auto v = run(c2.revoke(r->chain[0]));
  EXPECT_TRUE(v) << v.error().message();
}

TEST_F(CaObtain, ACorruptKeyFileStopsStartUpNamingTheFile) {
  start_ca();
  stop_ca();
  test::write_file(dir_ / "ca/intermediate.key", "not a key");
  try {
    start_ca();
    FAIL() << "a corrupt key was accepted";
  } catch (const moat::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("intermediate.key"), std::string::npos) << e.what();
  }
  EXPECT_EQ(test::read_file(dir_ / "ca/intermediate.key"), "not a key");
}

TEST_F(CaObtain, TheClientRetriesNoncesTheCaRejectsAtRandom) {
  acme::http01_server http({test::loopback(0)});
  start_ca({.nonce_reject_rate = 0.3, .http01_port = http.local_endpoints().front().port()});
  auto o = client_options();
  o.bad_nonce_retries = 50;
  acme::client c(io_.get_executor(), o);
  auto r =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&http}}));
  ASSERT_TRUE(r) << r.error().message();
  expect_chain_to_root(*r);
}
