#pragma once
// Internal: the challenges a responder presents, keyed by what the CA asks for (the token,
// the SNI name), and who waits to hear that the CA fetched one. The CA's fetch arrives on a
// server thread; the waiting client runs on its own executor: each waiter owns its timer
// and is woken by a posted cancel, so no timer is shared and nothing spins.
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace moat::acme::detail {

template <class Value>
class fetch_tracker {
 public:
  /// Presents `value` under `key`. Presentations are counted: two orders presenting the same
  /// key (a CA reuses a pending authorization's token across orders; TLS-ALPN-01 keys by
  /// name) each withdraw their own, and the key stays until the last is withdrawn. The
  /// latest value is served (for TLS-ALPN-01, two different challenges for one name at once
  /// cannot both be answered: the protocol has one certificate per name).
  void add(const std::string& key, Value value) {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = entries_.try_emplace(key);
    it->second.value = std::move(value);
    ++it->second.presented;
    if (!fresh) it->second.fetched = false;  // a new presentation waits for its own fetch
  }

  /// Withdraws one presentation of `key`; with the last, the key goes and its waiters are
  /// woken (and see it gone).
  void remove(const std::string& key) {
    std::map<std::uint64_t, std::function<void()>> waiters;
    {
      std::lock_guard lock(mutex_);
      const auto it = entries_.find(key);
      if (it == entries_.end()) return;
      if (--it->second.presented > 0) return;
      waiters = std::move(it->second.waiters);
      entries_.erase(it);
    }
    for (auto& [id, wake] : waiters) wake();
  }

  /// The CA asks for `key`: its value (marked fetched, waiters woken), or nullopt.
  std::optional<Value> fetch(const std::string& key) {
    std::map<std::uint64_t, std::function<void()>> waiters;
    std::optional<Value> out;
    {
      std::lock_guard lock(mutex_);
      const auto it = entries_.find(key);
      if (it == entries_.end()) return std::nullopt;
      it->second.fetched = true;
      waiters = std::move(it->second.waiters);
      it->second.waiters.clear();
      out = *it->second.value;
    }
    for (auto& [id, wake] : waiters) wake();
    return out;
  }

  /// Waits (on the caller's executor) until `key` is fetched, at most `max`.
  boost::asio::awaitable<bool> wait(const std::string& key, std::chrono::milliseconds max) {
    namespace net = boost::asio;
    const auto ex = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex, max);
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mutex_);
      const auto it = entries_.find(key);
      if (it == entries_.end()) co_return false;
      if (it->second.fetched) co_return true;
      id = ++next_waiter_;
      it->second.waiters.emplace(id, [timer, ex] { net::post(ex, [timer] { timer->cancel(); }); });
    }
    boost::system::error_code ec;
    co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end()) co_return false;
    it->second.waiters.erase(id);
    co_return it->second.fetched;
  }

 private:
  struct entry {
    std::optional<Value> value;  // optional: a Value need not be default-constructible
    unsigned presented = 0;
    bool fetched = false;
    std::map<std::uint64_t, std::function<void()>> waiters;
  };
  std::mutex mutex_;
  std::map<std::string, entry> entries_;
  std::uint64_t next_waiter_ = 0;
};

}  // namespace moat::acme::detail
