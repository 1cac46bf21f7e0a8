#include "server/stats.hpp"

namespace moat::server {

void listener_stats::count_failure(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++by_reason_[reason];
}

std::map<std::string, std::uint64_t> listener_stats::failures_by_reason() const {
  std::lock_guard lock(mu_);
  return by_reason_;
}

}  // namespace moat::server
