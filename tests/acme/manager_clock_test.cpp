// The certificate manager's schedule with an injected clock, against real CAs: without ARI
// (Pebble 2.4.0 offers none) a 90-day certificate renews when a third of its life is left and
// a 6-day one when half is left -- not a moment before; a failing CA is retried after 1 min,
// 10 min, 100 min, then every 6 hours. The clock moves; the certificates, the CA and the
// handshakes are real.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "acme/manager_fixture.hpp"
#include "support/pebble.hpp"

namespace moat {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using acme::manager_event_kind;
using std::chrono::duration_cast;
using std::chrono::seconds;

class ManagerClock : public test::manager_fixture, public ::testing::Test {
 protected:
  /// Options whose clock runs `offset_` ahead of the system clock.
  acme::manager_options with_clock(acme::manager_options o) {
    o.clock = [off = offset_] {
      return std::chrono::system_clock::now() + seconds(off->load());
    };
    return o;
  }

  [[nodiscard]] acme::sys_time clock_now() const {
    return std::chrono::system_clock::now() + seconds(offset_->load());
  }

  /// Moves the manager's clock to `t` and has it look at its schedule.
  void set_clock(acme::sys_time t) {
    offset_->store(duration_cast<seconds>(t - std::chrono::system_clock::now()).count());
    mgr_->check_schedule();
  }

  /// set_clock, then waits until the manager has looked at its certificate (a step ended) or
  /// `kind` happened.
  void move_clock_to(acme::sys_time t, std::optional<manager_event_kind> kind = std::nullopt) {
    const auto before = mgr_->stats().next_check;
    const auto events_before = kind ? count(*kind) : 0;
    set_clock(t);
    run([&]() -> net::awaitable<void> {
      while (kind ? count(*kind) == events_before : mgr_->stats().next_check == before) {
        co_await nap(2ms);
      }
    }());
  }

  acme::manager_options pebble_options(const test::pebble& p) {
    auto o = ca_options_for();  // the fixture's CA is not used; only its defaults
    o.directory = p.directory_url();
    o.client = {};
    o.client.http.tls.cacertfile = p.ca_file();
    return with_clock(o);
  }

  /// Through a Pebble issuing for `validity`: the manager plans the renewal at `num`/`den` of
  /// the lifetime (from notBefore), does nothing an hour before, and renews a minute after.
  void renews_at_fraction(std::chrono::seconds validity, int num, int den) {
    test::pebble_options po;
    po.tls_port = tls_port_;
    po.certificate_validity_seconds = static_cast<unsigned long>(validity.count());
    test::pebble pebble(po);
    start(pebble_options(pebble));
    const auto first = wait_cert();
    ASSERT_FALSE(first.empty()) << pebble.log();
    const auto due = first.not_before() + (first.not_after() - first.not_before()) * num / den;
    ASSERT_TRUE(mgr_->stats().renew_at.has_value());
    EXPECT_LE(std::chrono::abs(*mgr_->stats().renew_at - due), 2s);
    EXPECT_FALSE(mgr_->stats().renew_from_ari);

    move_clock_to(due - 1h);  // not yet
    EXPECT_EQ(count(manager_event_kind::obtaining), 1U);
    EXPECT_EQ(mgr_->stats().leaf->serial_hex(), first.serial_hex());
    EXPECT_FALSE(mgr_->stats().expiring_soon);

    move_clock_to(due + 1min, manager_event_kind::renewed);
    const auto st = mgr_->stats();
    EXPECT_NE(st.leaf->serial_hex(), first.serial_hex());
    EXPECT_EQ(st.renewed, 1U);
    EXPECT_EQ(peer_chain("localhost").front().serial_hex(), st.leaf->serial_hex());
  }

  std::shared_ptr<std::atomic<long long>> offset_ = std::make_shared<std::atomic<long long>>(0);
};

TEST_F(ManagerClock, ANinetyDayCertificateRenewsWhenAThirdOfItsLifeIsLeft) {
  if (!test::pebble::available()) GTEST_SKIP() << "pebble is not installed";
  renews_at_fraction(std::chrono::days(90), 2, 3);
}

TEST_F(ManagerClock, ASixDayCertificateRenewsWhenHalfOfItsLifeIsLeft) {
  if (!test::pebble::available()) GTEST_SKIP() << "pebble is not installed";
  renews_at_fraction(std::chrono::days(6), 1, 2);
}

TEST_F(ManagerClock, AFailingCaIsRetriedAfterOneTenAndAHundredMinutesThenEverySixHours) {
  auto o = ca_options_for();
  o.directory = "https://127.0.0.1:" + std::to_string(test::free_port()) + "/dir";  // nobody
  start(with_clock(o));
  run([&]() -> net::awaitable<void> {
    while (count(manager_event_kind::failed) == 0) co_await nap(2ms);
  }());
  const std::vector<seconds> expected = {60s, 600s, 6000s, 21600s, 21600s};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("attempt " + std::to_string(i + 1));
    const auto& f = events_.back();
    ASSERT_EQ(f.kind, manager_event_kind::failed);
    ASSERT_EQ(f.attempt, i + 1);
    // The retry is `expected[i]` after the failure (the clock barely moved since).
    const auto delay = duration_cast<seconds>(f.next_attempt - clock_now());
    EXPECT_LE(delay, expected[i]);
    EXPECT_GE(delay, expected[i] - 5s);
    EXPECT_EQ(mgr_->stats().next_attempt, f.next_attempt);
    if (i + 1 == expected.size()) break;
    // Ten seconds before the retry: nothing may start (an early retry would show within
    // this short settle; the wait proves nothing when it passes, it only catches).
    set_clock(f.next_attempt - 10s);
    run(nap(50ms));
    EXPECT_EQ(count(manager_event_kind::failed), i + 1);
    move_clock_to(f.next_attempt + 1s, manager_event_kind::failed);
  }
  EXPECT_TRUE(mgr_->stats().temporary);
  EXPECT_EQ(mgr_->stats().consecutive_failures, 5U);
}

}  // namespace
}  // namespace moat
