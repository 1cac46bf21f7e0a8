// The certificate manager's schedule: when it renews (ARI first, else a third or half of the
// lifetime left), when it looks again, and how it backs off after failures.
#include "acme/renewal_policy.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace moat::acme::detail {
namespace {

using namespace std::chrono_literals;
using days = std::chrono::days;

const sys_time t0 = sys_time{} + days(20000);  // 2024-10-04

validity lasting(sys_time::duration d) {
  return {.not_before = t0, .not_after = t0 + d};
}

TEST(RenewalPolicy, RenewsWithAThirdOfTheLifetimeLeftOrHalfForTenDaysOrLess) {
  EXPECT_EQ(renewal_due(lasting(days(90))), t0 + days(60));
  EXPECT_EQ(renewal_due(lasting(days(47))), t0 + days(47) - sys_time::duration(days(47)) / 3);
  EXPECT_EQ(renewal_due(lasting(days(11))), t0 + days(11) - sys_time::duration(days(11)) / 3);
  EXPECT_EQ(renewal_due(lasting(days(10))), t0 + days(5));
  EXPECT_EQ(renewal_due(lasting(days(6))), t0 + days(3));
  EXPECT_EQ(renewal_due(lasting(160h)), t0 + 80h);
  // A certificate whose validity is empty or reversed is due at once.
  EXPECT_EQ(renewal_due({.not_before = t0, .not_after = t0 - 1h}), t0);
}

TEST(RenewalPolicy, CallsACertificateExpiringSoonInItsLastSixthAtMostSevenDays) {
  const auto v90 = lasting(days(90));
  EXPECT_FALSE(expiring_soon(v90, t0 + days(82)));
  EXPECT_TRUE(expiring_soon(v90, t0 + days(83)));
  const auto v6 = lasting(days(6));
  EXPECT_FALSE(expiring_soon(v6, t0 + days(4) + 23h));
  EXPECT_TRUE(expiring_soon(v6, t0 + days(5)));
  EXPECT_TRUE(expiring_soon(v6, t0 + days(7)));  // expired
}

TEST(RenewalPolicy, WithoutAriLooksAgainWithinTwelveHoursAndAtTheRenewalTime) {
  const auto v = lasting(days(90));
  auto plan = plan_renewal(v, std::nullopt, t0 + days(1), 0.5, 0.0);
  EXPECT_FALSE(plan.from_ari);
  EXPECT_EQ(plan.renew_at, t0 + days(60));
  EXPECT_EQ(plan.check_at, t0 + days(1) + 12h);
  // Jitter shortens the interval by at most a tenth.
  plan = plan_renewal(v, std::nullopt, t0 + days(1), 0.5, 0.999);
  EXPECT_LT(plan.check_at, t0 + days(1) + 12h);
  EXPECT_GT(plan.check_at, t0 + days(1) + 12h - 72min - 1s);
  // Close to the renewal, the look is at the renewal; past it, now.
  plan = plan_renewal(v, std::nullopt, t0 + days(60) - 1h, 0.5, 0.0);
  EXPECT_EQ(plan.check_at, t0 + days(60));
  plan = plan_renewal(v, std::nullopt, t0 + days(61), 0.5, 0.0);
  EXPECT_EQ(plan.check_at, t0 + days(61));
  EXPECT_LT(plan.renew_at, t0 + days(61));
}

TEST(RenewalPolicy, WithAriRenewsInsideTheWindowAndAsksAgainAfterRetryAfter) {
  const auto v = lasting(days(90));
  renewal_info ari;
  ari.window_start = t0 + days(40);
  ari.window_end = t0 + days(42);
  ari.retry_after = 3h;
  for (double r : {0.0, 0.25, 0.5, 0.999}) {
    const auto plan = plan_renewal(v, ari, t0 + days(1), r, 0.0);
    EXPECT_TRUE(plan.from_ari);
    EXPECT_GE(plan.renew_at, ari.window_start);
    EXPECT_LT(plan.renew_at, ari.window_end);
    EXPECT_EQ(plan.check_at, t0 + days(1) + 3h);
  }
  EXPECT_EQ(plan_renewal(v, ari, t0, 0.5, 0.0).renew_at, t0 + days(41));
  // A window in the past (the CA asks for early renewal, e.g. before a revocation): now.
  ari.window_start = t0 + days(2);
  ari.window_end = t0 + days(2) + 1h;
  const auto now = t0 + days(3);
  const auto plan = plan_renewal(v, ari, now, 0.5, 0.0);
  EXPECT_LT(plan.renew_at, now);
  EXPECT_EQ(plan.check_at, now);
}

TEST(RenewalPolicy, PullsAWindowThatEndsAfterExpiryBackAndIgnoresAReversedOne) {
  const auto v = lasting(days(6));
  renewal_info late;
  late.window_start = t0 + days(5) + 23h;
  late.window_end = t0 + days(9);
  auto plan = plan_renewal(v, late, t0, 0.9, 0.0);
  EXPECT_TRUE(plan.from_ari);
  EXPECT_LE(plan.renew_at, v.not_after - days(6) / 10);
  renewal_info reversed;
  reversed.window_start = t0 + days(4);
  reversed.window_end = t0 + days(2);
  plan = plan_renewal(v, reversed, t0, 0.5, 0.0);
  EXPECT_FALSE(plan.from_ari);
  EXPECT_EQ(plan.renew_at, t0 + days(3));
}

TEST(RenewalPolicy, BacksOffOneTenAndAHundredMinutesThenEverySixHours) {
  EXPECT_EQ(retry_delay(1), 1min);
  EXPECT_EQ(retry_delay(2), 10min);
  EXPECT_EQ(retry_delay(3), 100min);
  EXPECT_EQ(retry_delay(4), 6h);
  EXPECT_EQ(retry_delay(40), 6h);
}

}  // namespace
}  // namespace moat::acme::detail
