#pragma once
// Helpers of the EPMD tests: a real `epmd` on a free port, and waiting for a condition on the
// EPMD's names list.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>

#include "moat/dist/epmd.hpp"
#include "support/support.hpp"

namespace moat::dist::testing {

namespace asio = boost::asio;

/// A real `epmd -port P` (P free a moment ago), killed on destruction.
struct real_epmd {
  std::uint16_t port = test::free_port();
  std::unique_ptr<test::child_process> proc;

  explicit real_epmd(bool relaxed = false) {
    std::vector<std::string> argv = {"epmd", "-port", std::to_string(port)};
    if (relaxed) argv.emplace_back("-relaxed_command_check");
    proc = std::make_unique<test::child_process>(argv);
  }
  [[nodiscard]] bool ready() { return proc->wait_for_port(port); }
};

/// The names EPMD on 127.0.0.1:port lists (empty on error, which the test then sees).
inline asio::awaitable<std::vector<epmd_name>> names_at(std::uint16_t port) {
  query_options o;
  o.epmd_port = port;
  auto r = co_await names(co_await asio::this_coro::executor, "127.0.0.1", o);
  co_return r ? std::move(*r) : std::vector<epmd_name>{};
}

inline bool lists(const std::vector<epmd_name>& v, const std::string& name) {
  for (const auto& n : v) {
    if (n.name == name) return true;
  }
  return false;
}

/// Polls the EPMD's names until `name` is listed (`listed`) or not, within a scaled deadline.
inline asio::awaitable<bool> eventually_listed(std::uint16_t port, std::string name, bool listed) {
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(std::chrono::seconds(10));
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto v = co_await names_at(port);
    if (lists(v, name) == listed) co_return true;
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return false;
}

}  // namespace moat::dist::testing
