#include <cmath>
#include <moat/acme/resources.hpp>

namespace moat::acme {

std::string_view to_string(object_status s) noexcept {
  switch (s) {
    case object_status::pending:
      return "pending";
    case object_status::ready:
      return "ready";
    case object_status::processing:
      return "processing";
    case object_status::valid:
      return "valid";
    case object_status::invalid:
      return "invalid";
    case object_status::deactivated:
      return "deactivated";
    case object_status::expired:
      return "expired";
    case object_status::revoked:
      return "revoked";
  }
  return "unknown";
}

sys_time renewal_info::pick(double random_fraction) const {
  if (!(random_fraction >= 0.0)) random_fraction = 0.0;  // also NaN
  if (random_fraction >= 1.0) random_fraction = 0.0;
  const auto span = window_end - window_start;
  return window_start + std::chrono::duration_cast<sys_time::duration>(
                            std::chrono::duration<double, sys_time::period>(
                                std::floor(static_cast<double>(span.count()) * random_fraction)));
}

}  // namespace moat::acme
