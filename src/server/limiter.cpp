// The connection limiter and the accept gate: waiting without a timer, so a listener at its
// limit or suspended uses no CPU.
#include "server/limiter.hpp"

#include <boost/asio/error.hpp>

namespace moat::server {

namespace asio = boost::asio;

void connection_limiter::enqueue(asio::any_io_executor ex,
                                 tls::detail::waiter_queue::handler_type h) {
  std::lock_guard lock(mu_);
  waiters_.push(std::move(ex), std::move(h));
  if (closed_) {
    waiters_.notify_all(asio::error::operation_aborted);
    return;
  }
  grant_free_slots();
}

void connection_limiter::grant_free_slots() {
  while (used_ < max_ && !waiters_.empty()) {
    ++used_;
    waiters_.notify_one();
  }
}

void connection_limiter::release() {
  std::lock_guard lock(mu_);
  if (used_ > 0) --used_;
  if (!closed_) grant_free_slots();
}

void connection_limiter::set_max(std::size_t n) {
  std::lock_guard lock(mu_);
  max_ = n;
  if (!closed_) grant_free_slots();
}

void connection_limiter::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  waiters_.notify_all(asio::error::operation_aborted);
}

std::size_t connection_limiter::in_use() const {
  std::lock_guard lock(mu_);
  return used_;
}

std::size_t connection_limiter::max() const {
  std::lock_guard lock(mu_);
  return max_;
}

void accept_gate::enqueue(asio::any_io_executor ex, tls::detail::waiter_queue::handler_type h) {
  std::lock_guard lock(mu_);
  waiters_.push(std::move(ex), std::move(h));
  if (closed_) {
    waiters_.notify_all(asio::error::operation_aborted);
  } else if (open_) {
    waiters_.notify_all();
  }
}

void accept_gate::open() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  open_ = true;
  waiters_.notify_all();
}

void accept_gate::shut() {
  std::lock_guard lock(mu_);
  open_ = false;
}

void accept_gate::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  open_ = false;
  waiters_.notify_all(asio::error::operation_aborted);
}

bool accept_gate::is_open() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace moat::server
