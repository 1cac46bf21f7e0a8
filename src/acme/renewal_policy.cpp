// The certificate manager's schedule (see renewal_policy.hpp).
#include "acme/renewal_policy.hpp"

#include <algorithm>

namespace moat::acme::detail {

namespace {

using std::chrono::duration_cast;

double clamp_fraction(double f) {
  return f >= 0.0 && f < 1.0 ? f : 0.0;  // also NaN
}

}  // namespace

sys_time renewal_due(const validity& v) {
  const auto lifetime = v.not_after - v.not_before;
  if (lifetime <= sys_time::duration::zero()) return v.not_before;
  const auto left = lifetime <= std::chrono::days(10) ? lifetime / 2 : lifetime / 3;
  return v.not_after - left;
}

bool expiring_soon(const validity& v, sys_time now) {
  const auto lifetime = v.not_after - v.not_before;
  const auto margin = std::min<sys_time::duration>(lifetime / 6, std::chrono::days(7));
  return now >= v.not_after - margin;
}

renewal_plan plan_renewal(const validity& v, const std::optional<renewal_info>& ari, sys_time now,
                          double random_window, double random_jitter) {
  renewal_plan plan;
  plan.renew_at = renewal_due(v);
  // The CA's window is followed when it is a window at all; a pick after expiry (a window
  // that ends too late) is pulled back to shortly before it, as a last resort.
  if (ari && ari->window_end >= ari->window_start) {
    const auto lifetime = v.not_after - v.not_before;
    const auto latest =
        v.not_after - std::min<sys_time::duration>(lifetime / 10, std::chrono::days(1));
    plan.renew_at = std::min(ari->pick(clamp_fraction(random_window)), latest);
    plan.from_ari = true;
  }
  const auto jitter = duration_cast<sys_time::duration>(
      std::chrono::duration<double>(check_interval) * (clamp_fraction(random_jitter) / 10.0));
  auto check = now + duration_cast<sys_time::duration>(check_interval) - jitter;
  if (ari) check = std::min(check, now + duration_cast<sys_time::duration>(ari->retry_after));
  plan.check_at = std::max(now, std::min(check, plan.renew_at));
  return plan;
}

std::chrono::seconds retry_delay(unsigned failures) {
  switch (failures) {
    case 0:
    case 1:
      return std::chrono::minutes(1);
    case 2:
      return std::chrono::minutes(10);
    case 3:
      return std::chrono::minutes(100);
    default:
      return std::chrono::hours(6);
  }
}

}  // namespace moat::acme::detail
