#pragma once
/// @file
/// Runs an awaitable against a deadline. Not part of the stable API; shared by the tls and
/// server parts. Cancelling an operation this way is only safe where the operation leaves its
/// object intact when cancelled (waits, connects, reads that are not mid-record); a write is
/// bounded by closing the connection instead (see tls::socket::send).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

namespace moat::tls::detail {

/// The result of `op`, or nullopt if `timeout` passed first (then `op` was cancelled).
/// A negative timeout waits forever.
template <class T>
boost::asio::awaitable<std::optional<T>> with_timeout(boost::asio::awaitable<T> op,
                                                      std::chrono::milliseconds timeout) {
  namespace asio = boost::asio;
  using namespace asio::experimental::awaitable_operators;
  if (timeout < std::chrono::milliseconds::zero()) co_return co_await std::move(op);
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto r = co_await (std::move(op) || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (r.index() == 0) co_return std::move(std::get<0>(r));
  co_return std::nullopt;
}

}  // namespace moat::tls::detail
