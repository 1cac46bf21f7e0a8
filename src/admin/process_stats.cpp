// This process's statistics from /proc (process_stats.hpp).
#include "admin/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace moat::admin::detail {
namespace {

// The fields of /proc/self/stat after the command (which may hold spaces and parentheses):
// [0] is field 3, the state.
std::optional<std::vector<std::string>> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      if (in >> t) return t;
      return std::nullopt;
    }
    in.ignore(1 << 20, '\n');
  }
  return std::nullopt;
}

}  // namespace

std::optional<process_stats> read_process_stats() {
  const auto f = stat_fields();
  // utime, stime: fields 14, 15; starttime 22; vsize 23; rss 24 (so [11], [12], [19]...).
  if (!f || f->size() < 22) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const auto boot = boot_time_seconds();
  if (ticks <= 0 || page <= 0 || !boot) return std::nullopt;
  process_stats s;
  try {
    s.cpu_seconds = (std::stod((*f)[11]) + std::stod((*f)[12])) / ticks;
    s.start_time_seconds = *boot + std::stod((*f)[19]) / ticks;
    s.virtual_bytes = std::stoull((*f)[20]);
    s.resident_bytes = static_cast<std::uint64_t>(std::stod((*f)[21]) * page);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++s.open_fds;
  if (s.open_fds > 0) --s.open_fds;  // the directory iterator's own descriptor
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) s.max_fds = lim.rlim_cur;
  return s;
}

}  // namespace moat::admin::detail
