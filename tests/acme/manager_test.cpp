// The certificate manager (include/moat/acme/manager.hpp) certifying a real TLS listener
// through a real ACME CA -- the in-process one ("local") or one served over HTTPS -- with real
// handshakes: obtain, the temporary certificate, reload from storage and from the backup,
// names that change, two managers on one storage, ARI, failures and their retry, rotation
// under load.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstring>
#include <fstream>
#include <moat/acme/file_storage.hpp>
#include <moat/error.hpp>
#include <set>

#include "acme/manager_fixture.hpp"

namespace moat {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using acme::manager_event_kind;

class Manager : public test::manager_fixture, public ::testing::Test {};

TEST_F(Manager, GetCertCertifiesTheListenerThroughTheLocalCaOverTlsAlpn01) {
  auto o = local_options({"localhost", "127.0.0.1"});
  o.profile = "shortlived";  // the local CA's profile that certifies IP addresses
  const auto leaf = get_cert(o);
  ASSERT_FALSE(leaf.empty());
  EXPECT_EQ(leaf.subject_alt_names(), (std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1"}));
  EXPECT_FALSE(leaf.is_self_signed());
  const auto st = mgr_->stats();
  EXPECT_FALSE(st.temporary);
  EXPECT_EQ(st.obtained, 1U);
  EXPECT_EQ(st.renewed, 0U);
  EXPECT_EQ(st.failures, 0U);
  ASSERT_TRUE(st.renew_at.has_value());
  // The CA's renewal information decides: a time inside its window (the CA in-process
  // suggests two thirds to five sixths of the six days).
  EXPECT_TRUE(st.renew_from_ari);
  EXPECT_GE(*st.renew_at, leaf.not_before() + std::chrono::days(4));
  EXPECT_LE(*st.renew_at, leaf.not_before() + std::chrono::days(5));
  ASSERT_GE(events_.size(), 2U);
  EXPECT_EQ(events_[0].kind, manager_event_kind::obtaining);
  EXPECT_FALSE(events_[0].renewal);
  EXPECT_EQ(events_[1].kind, manager_event_kind::obtained);
  EXPECT_EQ(events_[1].leaf.serial_hex(), leaf.serial_hex());
  // Stored where the header says, the key 0600 on disk, and a backup (0600) beside it.
  const auto base = dir_ / "storage/certificates/local/localhost/localhost";
  EXPECT_TRUE(std::filesystem::exists(base.string() + ".crt"));
  EXPECT_TRUE(std::filesystem::exists(base.string() + ".json"));
  struct stat sb {};
  ASSERT_EQ(::stat((base.string() + ".key").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600U);
  ASSERT_EQ(::stat((dir_ / "storage.backup.tar").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600U);
}

TEST_F(Manager, AnswersHttp01ThroughItsRouteOnAPlainHttpServer) {
  auto o = local_options({"localhost"});
  o.challenges = {"http-01"};
  // The HTTP-01 port must be known before the CA starts, the route once the manager exists.
  auto route = std::make_shared<http::route_handler>();
  http::router r;
  r.add_prefix(std::string(acme::http01_responder::path_prefix),
               [route](const http::incoming& in) { return (*route)(in); });
  http::server_options so;
  so.listener.name = "http-01";
  so.listener.addresses = {test::loopback(0)};
  so.listener.workers = 1;
  http::server port80(std::move(so), std::move(r));
  port80.start();
  o.local_ca.http01_port = port80.local_endpoints().front().port();
  stop();
  mgr_ = std::make_unique<acme::manager>(io_.get_executor(), o);
  *route = mgr_->http01_handler();
  mgr_->start();
  const auto leaf = wait_cert();
  ASSERT_FALSE(leaf.empty());
  EXPECT_EQ(leaf.subject_alt_names(), std::vector<std::string>{"DNS:localhost"});
  stop();
}

TEST_F(Manager, ServesATemporaryCertificateUntilTheCaAnswersAndRetriesWithBackoff) {
  auto o = ca_options_for({"localhost"});
  o.directory = "https://127.0.0.1:" + std::to_string(test::free_port()) + "/dir";  // nobody
  start(o);
  // The listener works at once, with the temporary certificate for the name.
  const auto chain = peer_chain("localhost");
  ASSERT_EQ(chain.size(), 1U);
  EXPECT_TRUE(chain.front().is_self_signed());
  EXPECT_EQ(chain.front().subject_alt_names(), std::vector<std::string>{"DNS:localhost"});
  // The attempt fails, is announced with the reason, and the retry comes a minute later.
  run([&]() -> net::awaitable<void> {
    while (count(manager_event_kind::failed) == 0) co_await nap(5ms);
  }());
  const auto& f = *std::find_if(events_.begin(), events_.end(),
                                [](const auto& e) { return e.kind == manager_event_kind::failed; });
  ASSERT_TRUE(f.error.has_value());
  EXPECT_FALSE(f.error->message().empty());
  EXPECT_EQ(f.attempt, 1U);
  const auto wait = f.next_attempt - std::chrono::system_clock::now();
  EXPECT_GT(wait, 50s);
  EXPECT_LE(wait, 61s);
  const auto st = mgr_->stats();
  EXPECT_TRUE(st.temporary);
  EXPECT_EQ(st.consecutive_failures, 1U);
  ASSERT_TRUE(st.last_error.has_value());
  ASSERT_TRUE(st.next_attempt.has_value());
  // wait_certificate reports the failure rather than hanging.
  auto r = run(mgr_->wait_certificate(10ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), st.last_error->message());
}

TEST_F(Manager, ARestartServesTheStoredCertificateWithoutANewOrder) {
  auto o = ca_options_for();
  start(o);
  const auto first = wait_cert();
  ASSERT_FALSE(first.empty());
  ASSERT_EQ(ca_->stats().issued, 2U);  // the CA's own HTTPS certificate, and this one
  stop();
  events_.clear();
  start(o);
  const auto again = wait_cert();
  EXPECT_EQ(again.serial_hex(), first.serial_hex());
  EXPECT_EQ(ca_->stats().issued, 2U);
  EXPECT_EQ(count(manager_event_kind::obtaining), 0U);
  EXPECT_EQ(peer_chain("localhost", ca_->root_certificate()).front().serial_hex(),
            first.serial_hex());
}

TEST_F(Manager, ObtainsANewCertificateWhenTheNamesChange) {
  auto o = ca_options_for({"localhost"});
  const auto first = certify_and_stop(o);
  ASSERT_FALSE(first.empty());
  o.domains = {"localhost", "127.0.0.1"};
  o.profile = "shortlived";  // certifies IP addresses
  start(o);
  // The stored certificate names localhost only: not adopted; the temporary one is served
  // until the new one arrives.
  const auto second = wait_cert();
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second.serial_hex(), first.serial_hex());
  EXPECT_EQ(second.subject_alt_names(),
            (std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1"}));
}

TEST_F(Manager, RestoresTheStorageFromItsBackupWhenTheDirectoryIsGone) {
  auto o = ca_options_for();
  const auto first = certify_and_stop(o);
  ASSERT_FALSE(first.empty());
  std::filesystem::remove_all(o.storage_dir);
  events_.clear();
  start(o);
  const auto again = wait_cert();
  EXPECT_EQ(again.serial_hex(), first.serial_hex());
  EXPECT_EQ(count(manager_event_kind::obtaining), 0U);
  EXPECT_EQ(ca_->stats().issued, 2U);
  EXPECT_TRUE(std::filesystem::exists(o.storage_dir / "certificates"));
}

TEST_F(Manager, ACorruptStoredCertificateIsReplacedNotServed) {
  auto o = ca_options_for();
  const auto first = certify_and_stop(o);
  ASSERT_FALSE(first.empty());
  const auto issuer_dir =
      std::filesystem::directory_iterator(o.storage_dir / "certificates")->path();
  const auto crt = issuer_dir / "localhost/localhost.crt";
  test::write_file(crt, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
  start(o);
  const auto second = wait_cert();
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second.serial_hex(), first.serial_hex());
  EXPECT_EQ(ca_->stats().issued, 3U);
}

TEST_F(Manager, AStoredCertificateWithoutItsMetadataIsServedNotRenewed) {
  // A crash between the writes of the chain and of its metadata: the profile is unknown,
  // which is no reason to order again.
  auto o = ca_options_for();
  o.profile = "default";
  const auto first = certify_and_stop(o);
  ASSERT_FALSE(first.empty());
  const auto issuer_dir =
      std::filesystem::directory_iterator(o.storage_dir / "certificates")->path();
  ASSERT_TRUE(std::filesystem::remove(issuer_dir / "localhost/localhost.json"));
  events_.clear();
  start(o);
  EXPECT_EQ(wait_cert().serial_hex(), first.serial_hex());
  run([&]() -> net::awaitable<void> {  // until the first step (load, plan) has ended
    while (!mgr_->stats().next_check) co_await nap(2ms);
  }());
  EXPECT_EQ(count(manager_event_kind::obtaining), 0U);
  EXPECT_EQ(ca_->stats().issued, 2U);
}

TEST_F(Manager, AFullDiskKeepsTheStoredCertificateWholeAndSaysWhy) {
  const auto mnt = dir_ / "small";
  std::filesystem::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
  }
  struct unmount {
    std::filesystem::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{mnt};
  auto o = ca_options_for();
  o.storage_dir = mnt / "storage";
  start(o);
  const auto first = wait_cert();
  ASSERT_FALSE(first.empty());
  const auto issuer_dir =
      std::filesystem::directory_iterator(o.storage_dir / "certificates")->path();
  const auto stored_crt = issuer_dir / "localhost/localhost.crt";
  const auto stored_key = issuer_dir / "localhost/localhost.key";
  // Fill the disk.
  {
    std::ofstream filler(mnt / "filler", std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) &&
           filler.flush()) {
    }
  }
  mgr_->renew_now();
  run([&]() -> net::awaitable<void> {
    while (count(manager_event_kind::failed) == 0) co_await nap(2ms);
  }());
  const auto& f = events_.back();
  ASSERT_EQ(f.kind, manager_event_kind::failed);
  ASSERT_TRUE(f.error.has_value());
  EXPECT_EQ(f.error->code(), acme::storage_errc::no_space) << f.error->message();
  EXPECT_NE(f.error->message().find("No space left on device"), std::string::npos);
  // The stored certificate is the old one, whole, with its key.
  const auto chain = pki::load_certificates(stored_crt);
  EXPECT_EQ(chain.front().serial_hex(), first.serial_hex());
  EXPECT_EQ(pki::load_private_key(stored_key).public_key_der(), chain.front().public_key_der());
  // The renewal stopped before ordering (its lock file could not be written): no certificate
  // is issued that could not be kept, and the old one stays in service.
  EXPECT_EQ(ca_->stats().issued, 2U);
  const auto served = peer_chain("localhost", ca_->root_certificate());
  ASSERT_FALSE(served.empty());
  EXPECT_EQ(served.front().serial_hex(), first.serial_hex());
  EXPECT_EQ(mgr_->stats().last_error->code(), acme::storage_errc::no_space);
}

TEST_F(Manager, TwoManagersOnOneStorageObtainOnce) {
  auto o = ca_options_for();
  start(o);  // the first, with the listener
  auto o2 = o;
  o2.on_event = {};
  acme::manager second(io_.get_executor(), o2);  // the same storage directory, its own lock
  second.start();
  const auto a = wait_cert();
  ASSERT_FALSE(a.empty());
  auto b = run(second.wait_certificate(test::scaled(60s)), 120s);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->serial_hex(), a.serial_hex());
  EXPECT_EQ(ca_->stats().issued, 2U);  // the CA's own certificate and one for both
  second.stop();
}

TEST_F(Manager, RenewsAtOnceWhenTheCaMarksTheCertificateThroughAri) {
  auto o = ca_options_for();
  const auto first = certify_and_stop(o);
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(ca_->mark_for_renewal(first));
  events_.clear();
  start(o);
  // The stored certificate is served, ARI says "now": renewed, replacing it.
  run(
      [&]() -> net::awaitable<void> {
        while (count(manager_event_kind::renewed) == 0 && count(manager_event_kind::failed) == 0) {
          co_await nap(5ms);
        }
      }(),
      120s);
  ASSERT_EQ(count(manager_event_kind::failed), 0U);
  const auto st = mgr_->stats();
  ASSERT_TRUE(st.leaf.has_value());
  EXPECT_NE(st.leaf->serial_hex(), first.serial_hex());
  EXPECT_EQ(st.renewed, 1U);
  EXPECT_EQ(peer_chain("localhost", ca_->root_certificate()).front().serial_hex(),
            st.leaf->serial_hex());
}

TEST_F(Manager, AFailedRenewalKeepsTheCertificateInServiceAndSaysWhenItRetries) {
  auto o = ca_options_for();
  start(o);
  const auto first = wait_cert();
  ASSERT_FALSE(first.empty());
  stop_ca();  // the CA goes away
  mgr_->renew_now();
  run([&]() -> net::awaitable<void> {
    while (count(manager_event_kind::failed) == 0) co_await nap(5ms);
  }());
  const auto st = mgr_->stats();
  EXPECT_FALSE(st.temporary);
  EXPECT_EQ(st.leaf->serial_hex(), first.serial_hex());
  EXPECT_EQ(st.consecutive_failures, 1U);
  const auto& f = events_.back();
  EXPECT_EQ(f.kind, manager_event_kind::failed);
  EXPECT_TRUE(f.renewal);
  EXPECT_EQ(peer_chain("localhost").front().serial_hex(), first.serial_hex());
}

TEST_F(Manager, RotatesEverySecondForTenSecondsWithoutAFailedHandshake) {
  start(local_options({"localhost"}));
  const auto first = wait_cert();
  ASSERT_FALSE(first.empty());
  const auto root = mgr_->local_root();
  tls::options c;
  c.cacerts = {root};
  c.server_name_indication = "localhost";
  c.reuse_sessions = false;  // every connection a full handshake with the certificate
  tls::context ctx(tls::role::client, c);
  std::atomic<bool> done{false};
  std::size_t ok = 0;
  std::vector<std::string> failures;
  std::set<std::string> serials;
  // Handshakes back to back, two at a time, while the certificate is renewed every second.
  auto client = [&]() -> net::awaitable<void> {
    while (!done) {
      auto s = co_await tls::socket::connect(io_.get_executor(), "127.0.0.1", tls_port_, ctx,
                                             test::scaled(10000ms));
      if (!s) {
        failures.push_back(s.error().message());
        continue;
      }
      ++ok;
      serials.insert(s->peer_certificate()->serial_hex());
      co_await s->close();
    }
  };
  net::co_spawn(io_, client(), net::detached);
  net::co_spawn(io_, client(), net::detached);
  run(
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < 10; ++i) {
          mgr_->renew_now();
          co_await nap(1000ms);
        }
        done = true;
        co_await nap(200ms);
      }(),
      60s);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_GT(ok, 20U);
  EXPECT_GE(count(manager_event_kind::renewed), 5U);
  EXPECT_GE(serials.size(), 5U) << "certificates seen by clients";
  EXPECT_EQ(count(manager_event_kind::failed), 0U);
}

TEST_F(Manager, RefusesOptionsThatCannotWorkNamingThem) {
  auto expect_bad = [&](acme::manager_options o, const std::string& subject) {
    try {
      acme::manager m(io_.get_executor(), std::move(o));
      ADD_FAILURE() << "accepted; expected a complaint about " << subject;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(subject), std::string::npos) << e.what();
    }
  };
  auto base = [&] {
    acme::manager_options o;
    o.domains = {"example.test"};
    o.storage_dir = dir_ / "s";
    return o;
  };
  auto o = base();
  o.domains.clear();
  expect_bad(o, "domains");
  o = base();
  o.domains = {"exa mple.test"};
  expect_bad(o, "exa mple.test");
  o = base();
  o.domains = {"example.test", "EXAMPLE.test"};
  expect_bad(o, "EXAMPLE.test");
  o = base();
  o.domains = {"*.example.test"};
  expect_bad(o, "DNS-01");
  o = base();
  o.directory = "letsencrypt";
  expect_bad(o, "letsencrypt");
  o = base();
  o.directory = "local";
  expect_bad(o, "local_ca.data_dir");
  o = base();
  o.storage_dir.clear();
  expect_bad(o, "storage_dir");
  o = base();
  o.emails = {"not-an-address"};
  expect_bad(o, "not-an-address");
  o = base();
  o.challenges = {"dns-01"};
  expect_bad(o, "dns-01");
}

}  // namespace
}  // namespace moat
