#pragma once
/// @file
/// Rate-limited logging for lines a peer can provoke: at most N lines per window; the lines
/// beyond are counted and the count is reported on the next line that gets through. Not part
/// of the stable API; a `detail` home so that every part that logs such lines shares it.
/// Thread-safe.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>

namespace moat::detail {

class log_limiter {
 public:
  log_limiter(unsigned per_window, std::chrono::milliseconds window)
      : per_window_(per_window), window_(window) {}

  /// Logs `make(suppressed)` unless this window's quota is used up; `suppressed` is how many
  /// lines were dropped since the last one logged.
  template <class MakeMessage>
  void log(spdlog::logger& logger, spdlog::level::level_enum level, MakeMessage&& make) {
    if (!logger.should_log(level)) return;
    std::uint64_t dropped = 0;
    {
      std::lock_guard lock(mu_);
      const auto now = std::chrono::steady_clock::now();
      if (now - window_start_ >= window_) {
        window_start_ = now;
        count_ = 0;
      }
      if (count_ >= per_window_) {
        ++suppressed_;
        return;
      }
      ++count_;
      dropped = suppressed_;
      suppressed_ = 0;
    }
    logger.log(level, "{}", make(dropped));
  }

  /// Logs `make(n)` if n > 0 lines were dropped since the last one logged.
  template <class MakeSummary>
  void flush(spdlog::logger& logger, spdlog::level::level_enum level, MakeSummary&& make) {
    std::uint64_t dropped = 0;
    {
      std::lock_guard lock(mu_);
      dropped = suppressed_;
      suppressed_ = 0;
    }
    if (dropped > 0) logger.log(level, "{}", make(dropped));
  }

 private:
  std::mutex mu_;
  unsigned per_window_;
  std::chrono::milliseconds window_;
  std::chrono::steady_clock::time_point window_start_{};
  unsigned count_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace moat::detail
