#pragma once
// The connection limiter (Ranch's max_connections, exact): a count of slots shared by every
// worker. A connection exists only while it holds a slot. Acceptors take a slot *after*
// accepting, so a client never waits in the backlog of an acceptor that holds a slot it
// cannot use; an acceptor without a slot waits its turn (first come, first served) and
// accepts nothing meanwhile, which is the backpressure: the rest wait in the kernel's backlog.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <cstddef>
#include <moat/tls/detail/waiter_queue.hpp>
#include <mutex>

namespace moat::server {

/// Thread-safe.
class connection_limiter {
 public:
  explicit connection_limiter(std::size_t max) : max_(max) {}

  /// Takes a slot: at once when one is free and nobody waits, else in turn when one is
  /// released. Completes on `ex` (never inline) with success while holding a slot, or with
  /// operation_aborted once the limiter is closed. Completion: void(boost::system::error_code).
  template <class Token>
  auto async_acquire(boost::asio::any_io_executor ex, Token&& token) {
    return boost::asio::async_initiate<Token, tls::detail::waiter_queue::signature>(
        [this, ex](auto h) { enqueue(ex, tls::detail::waiter_queue::handler_type(std::move(h))); },
        token);
  }

  /// Gives a slot back: it goes straight to the longest waiter, if any.
  void release();
  /// Changes the limit; a raised limit lets waiters in at once.
  void set_max(std::size_t n);
  /// Fails every waiter and every later acquire with operation_aborted (listener stop).
  void close();

  [[nodiscard]] std::size_t in_use() const;
  [[nodiscard]] std::size_t max() const;

 private:
  void enqueue(boost::asio::any_io_executor ex, tls::detail::waiter_queue::handler_type h);
  void grant_free_slots();  // with mu_ held

  mutable std::mutex mu_;
  std::size_t used_ = 0;
  std::size_t max_;
  bool closed_ = false;
  tls::detail::waiter_queue waiters_;
};

/// Whether acceptors may accept (Ranch's suspend/resume): acceptors wait here while it is
/// shut, without CPU. Thread-safe.
class accept_gate {
 public:
  /// Completes at once (posted) when the gate is open, else when it opens; with
  /// operation_aborted once it is closed for good. Completion: void(boost::system::error_code).
  template <class Token>
  auto async_pass(boost::asio::any_io_executor ex, Token&& token) {
    return boost::asio::async_initiate<Token, tls::detail::waiter_queue::signature>(
        [this, ex](auto h) { enqueue(ex, tls::detail::waiter_queue::handler_type(std::move(h))); },
        token);
  }
  void open();
  void shut();
  /// Shut for good: every waiter and later pass fails with operation_aborted.
  void close();
  [[nodiscard]] bool is_open() const;

 private:
  void enqueue(boost::asio::any_io_executor ex, tls::detail::waiter_queue::handler_type h);

  mutable std::mutex mu_;
  bool open_ = true;
  bool closed_ = false;
  tls::detail::waiter_queue waiters_;
};

}  // namespace moat::server
