#pragma once
// This process's CPU time, memory and descriptors, as Prometheus's process collector names
// them, read from /proc (Linux).

#include <cstdint>
#include <optional>
#include <string>

namespace moat::admin::detail {

struct process_stats {
  double cpu_seconds = 0;  ///< user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;      ///< the soft RLIMIT_NOFILE
  double start_time_seconds = 0;  ///< since the Unix epoch
};

/// What read_process_stats found: the statistics, or why there are none.
struct process_reading {
  std::optional<process_stats> stats;
  std::string error;  ///< without stats: what could not be read and why
};

/// Reads /proc now; fails when it cannot be read (not mounted, or no descriptor left).
[[nodiscard]] process_reading read_process_stats();

}  // namespace moat::admin::detail
