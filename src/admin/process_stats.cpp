// This process's statistics from /proc (process_stats.hpp).
#include "admin/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace moat::admin::detail {
namespace {

std::string failed(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// The fields of /proc/self/stat after the command (which may hold spaces and parentheses):
// [0] is field 3, the state. Or what went wrong.
std::optional<std::vector<std::string>> stat_fields(std::string& error) {
  std::ifstream in("/proc/self/stat");
  if (!in) {
    error = failed("/proc/self/stat");
    return std::nullopt;
  }
  std::string line;
  const auto close = std::getline(in, line) ? line.rfind(')') : std::string::npos;
  if (close == std::string::npos) {
    error = "/proc/self/stat: not in the expected format";
    return std::nullopt;
  }
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

std::optional<double> boot_time_seconds(std::string& error) {
  std::ifstream in("/proc/stat");
  if (!in) {
    error = failed("/proc/stat");
    return std::nullopt;
  }
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      if (in >> t) return t;
      break;
    }
    in.ignore(1 << 20, '\n');
  }
  error = "/proc/stat: no btime";
  return std::nullopt;
}

}  // namespace

process_reading read_process_stats() {
  process_reading r;
  const auto f = stat_fields(r.error);
  if (!f) return r;
  // utime, stime: fields 14, 15; starttime 22; vsize 23; rss 24 (so [11], [12], [19]...).
  if (f->size() < 22) {
    r.error = "/proc/self/stat: fewer fields than expected";
    return r;
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const auto boot = boot_time_seconds(r.error);
  if (!boot) return r;
  process_stats s;
  try {
    s.cpu_seconds = (std::stod((*f)[11]) + std::stod((*f)[12])) / ticks;
    s.start_time_seconds = *boot + std::stod((*f)[19]) / ticks;
    s.virtual_bytes = std::stoull((*f)[20]);
    s.resident_bytes = static_cast<std::uint64_t>(std::stod((*f)[21]) * page);
  } catch (const std::exception&) {
    r.error = "/proc/self/stat: a field is not a number";
    return r;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++s.open_fds;
  if (ec) {
    r.error = "/proc/self/fd: " + ec.message();
    return r;
  }
  if (s.open_fds > 0) --s.open_fds;  // the directory iterator's own descriptor
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) s.max_fds = lim.rlim_cur;
  r.stats = s;
  return r;
}

}  // namespace moat::admin::detail
