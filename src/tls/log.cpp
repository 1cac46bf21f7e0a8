// The default logger: spdlog's logger named "moat".
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <moat/log.hpp>
#include <mutex>

namespace moat {

std::shared_ptr<spdlog::logger> default_logger() {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto l = spdlog::get("moat")) return l;
  return spdlog::stderr_color_mt("moat");
}

}  // namespace moat
