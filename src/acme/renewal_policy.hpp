#pragma once
// Internal: when the certificate manager renews, checks again and retries -- the schedule
// alone, without I/O or clocks (the manager passes "now" and its random draws), so every rule
// is tested with plain values.
//
// - With ACME Renewal Information (RFC 9773) the CA decides: renew at a time drawn uniformly
//   inside its suggested window (section 4.2), never later than shortly before expiry, and ask
//   again after its Retry-After.
// - Without it: renew when a third of the lifetime is left, or half of it for certificates
//   of ten days or less (6-day certificates renew after 3 days, 90-day ones after 60).
// - Either way the certificate is looked at again at least twice a day, with jitter so that
//   a fleet started together does not ask the CA together.
// - A failed attempt is retried after 1 minute, 10 minutes, 100 minutes, then every 6 hours.

#include <chrono>
#include <moat/acme/resources.hpp>
#include <optional>

namespace moat::acme::detail {

/// The validity of a certificate.
struct validity {
  sys_time not_before{};
  sys_time not_after{};
};

/// When the certificate is due for renewal without ARI.
[[nodiscard]] sys_time renewal_due(const validity& v);

/// Whether the certificate should be reported as expiring soon: less than a sixth of its
/// lifetime (at most 7 days) left. Renewal normally comes long before.
[[nodiscard]] bool expiring_soon(const validity& v, sys_time now);

/// What to do next about one certificate.
struct renewal_plan {
  sys_time renew_at{};    ///< start renewing then (at once if it is not after now)
  sys_time check_at{};    ///< look again then (re-fetch ARI, re-read storage), <= renew_at
  bool from_ari = false;  ///< renew_at came from the CA's window
};

/// The longest time between two looks at a certificate (twice a day), before jitter.
inline constexpr std::chrono::hours check_interval{12};

/// Plans the next renewal of a certificate valid over `v`, with the CA's renewal information
/// when there is one. `random_window` in [0, 1) places the renewal inside the ARI window;
/// `random_jitter` in [0, 1) shortens the check interval by up to a tenth of it.
[[nodiscard]] renewal_plan plan_renewal(const validity& v, const std::optional<renewal_info>& ari,
                                        sys_time now, double random_window, double random_jitter);

/// The wait before retry number `failures` (1 for the first failure): 1 min, 10 min, 100 min,
/// then 6 h.
[[nodiscard]] std::chrono::seconds retry_delay(unsigned failures);

}  // namespace moat::acme::detail
