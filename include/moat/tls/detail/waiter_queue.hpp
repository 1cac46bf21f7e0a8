#pragma once
/// @file
/// A FIFO of suspended asynchronous waits, each resumed by posting its completion to its own
/// executor: how moat waits for a condition (a free connection slot, a resumed listener, the
/// end of another sender's message). A timer is never used as a condition variable: re-arming
/// a shared timer cancels the other waiters, which re-arm it in turn -- a livelock that burns
/// a core while "waiting". Not part of the stable API; shared by the tls and server parts.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <list>
#include <utility>

namespace moat::tls::detail {

/// Not synchronised: its owner guards it (a mutex, or one strand). Every waiter must be
/// resumed (notify_one/notify_all) before the executors it runs on are destroyed.
class waiter_queue {
 public:
  using signature = void(boost::system::error_code);
  using handler_type = boost::asio::any_completion_handler<signature>;

  /// Queues a waiter whose completion runs on `ex` (the waiter's own executor).
  void push(boost::asio::any_io_executor ex, handler_type h) {
    q_.push_back({std::move(ex), std::move(h)});
  }

  /// Resumes the oldest waiter with `ec` (posted, never run inline). False if none waits.
  bool notify_one(boost::system::error_code ec = {}) {
    if (q_.empty()) return false;
    entry e = std::move(q_.front());
    q_.pop_front();
    boost::asio::post(e.ex, [h = std::move(e.h), ec]() mutable { std::move(h)(ec); });
    return true;
  }

  /// Resumes every waiter with `ec`.
  void notify_all(boost::system::error_code ec = {}) {
    while (notify_one(ec)) {
    }
  }

  [[nodiscard]] bool empty() const noexcept { return q_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return q_.size(); }

 private:
  struct entry {
    boost::asio::any_io_executor ex;
    handler_type h;
  };
  // A list, not a deque: an empty std::deque already holds ~600 bytes, and every socket has
  // a queue (which is empty nearly always).
  std::list<entry> q_;
};

/// Waits on `q` from a single strand (no lock): completes when notified.
/// Completion: void(boost::system::error_code).
template <class Token>
auto async_wait_in(waiter_queue& q, boost::asio::any_io_executor ex, Token&& token) {
  return boost::asio::async_initiate<Token, waiter_queue::signature>(
      [&q, ex](auto h) { q.push(ex, waiter_queue::handler_type(std::move(h))); }, token);
}

}  // namespace moat::tls::detail
