#pragma once
// This process's CPU time, memory and descriptors, as Prometheus's process collector names
// them, read from /proc (Linux).

#include <cstdint>
#include <optional>

namespace moat::admin::detail {

struct process_stats {
  double cpu_seconds = 0;  ///< user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;      ///< the soft RLIMIT_NOFILE
  double start_time_seconds = 0;  ///< since the Unix epoch
};

/// nullopt where /proc cannot be read.
[[nodiscard]] std::optional<process_stats> read_process_stats();

}  // namespace moat::admin::detail
