// The client's connection pool (see pool.hpp).
#include "http/pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace moat::http::detail {

namespace {

boost::asio::awaitable<void> close_politely(tls::socket s) {
  co_await s.close(std::chrono::milliseconds(100));
}

}  // namespace

void connection_pool::retire(tls::socket s) {
  if (!s.is_open()) return;
  auto ex = s.get_executor();
  boost::asio::co_spawn(ex, close_politely(std::move(s)), boost::asio::detached);
}

void connection_pool::clear() {
  for (auto& [origin, q] : idle_) {
    for (auto& p : q) retire(std::move(p.sock));
  }
  idle_.clear();
}

std::optional<tls::socket> connection_pool::take(const std::string& origin) {
  auto it = idle_.find(origin);
  if (it == idle_.end()) return std::nullopt;
  auto& q = it->second;
  const auto now = clock::now();
  std::optional<tls::socket> found;
  while (!q.empty()) {
    parked p = std::move(q.back());
    q.pop_back();
    if (now - p.since <= idle_timeout_ && p.sock.is_open()) {
      found.emplace(std::move(p.sock));
      break;
    }
    retire(std::move(p.sock));
  }
  // What is left is older than what was taken: drop what has expired.
  while (!q.empty() && now - q.front().since > idle_timeout_) {
    retire(std::move(q.front().sock));
    q.pop_front();
  }
  if (q.empty()) idle_.erase(it);
  return found;
}

void connection_pool::give_back(const std::string& origin, tls::socket s) {
  const auto now = clock::now();
  // Expired connections of every origin go (an origin may never be asked for again).
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& q = it->second;
    while (!q.empty() && now - q.front().since > idle_timeout_) {
      retire(std::move(q.front().sock));
      q.pop_front();
    }
    it = q.empty() ? idle_.erase(it) : std::next(it);
  }
  if (max_idle_ == 0 || !s.is_open()) return;
  auto& q = idle_[origin];
  q.push_back(parked{std::move(s), now});
  while (q.size() > max_idle_) {
    retire(std::move(q.front().sock));
    q.pop_front();
  }
}

std::size_t connection_pool::size() const {
  std::size_t n = 0;
  for (const auto& [origin, q] : idle_) n += q.size();
  return n;
}

}  // namespace moat::http::detail
