#pragma once
// Internal: what a server's connections share -- the options, the routes and the log -- and
// the coroutine that serves one connection (server_connection.cpp).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <moat/detail/log_limiter.hpp>
#include <moat/http/server.hpp>
#include <moat/server/connection.hpp>

namespace spdlog {
class logger;
}

namespace moat::http {

/// Immutable once the server is made, but for the rate limits (thread-safe themselves); shared
/// by every connection on every worker.
struct server::state {
  server_options opts;
  router routes;
  std::shared_ptr<spdlog::logger> log;
  /// Requests refused (400, 408, 413, 431) and handlers that threw: a peer can provoke them.
  mutable moat::detail::log_limiter refused_log{20, std::chrono::seconds(1)};
  mutable moat::detail::log_limiter failure_log{20, std::chrono::seconds(1)};
};

namespace detail {
/// Serves one connection: reads requests, runs their handlers, writes the responses, until
/// the peer or a limit ends it.
boost::asio::awaitable<void> serve_connection(const server::state& s, moat::server::connection& c);
}  // namespace detail

}  // namespace moat::http
