#pragma once
// A listener's counters and failure reasons. Counters live per worker and are written only by
// that worker's thread, so nothing per message touches a shared cache line or a lock; a
// snapshot adds them up.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <moat/detail/log_limiter.hpp>
#include <mutex>
#include <string>

namespace moat::server {

/// Written by one thread, read by any: an update is a plain load and store, no locked
/// instruction.
class single_writer_counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

/// One worker's counters (see listener.hpp's `stats` for their meaning).
struct worker_counters {
  single_writer_counter accepted;
  single_writer_counter handshakes;
  single_writer_counter handshake_failures;
  single_writer_counter handler_failures;
  single_writer_counter bytes_in;
  single_writer_counter bytes_out;
};

/// What the whole listener shares: failure reasons by name, and the rate limits of the lines
/// a peer can provoke. Thread-safe.
class listener_stats {
 public:
  void count_failure(const std::string& reason);
  [[nodiscard]] std::map<std::string, std::uint64_t> failures_by_reason() const;

  moat::detail::log_limiter handshake_log{20, std::chrono::seconds(1)};
  moat::detail::log_limiter accept_log{5, std::chrono::seconds(1)};
  moat::detail::log_limiter connection_log{20, std::chrono::seconds(1)};

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> by_reason_;
};

}  // namespace moat::server
