// The acceptor (Ranch's ranch_acceptor): one loop per listening socket per worker. It passes
// the gate (closed while suspended), accepts, and only then takes a connection slot, so an
// idle acceptor holds none and no client waits in a backlog while a slot is free. While it
// waits for a slot it accepts nothing more: that is the backpressure.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/listener_impl.hpp"

namespace moat::server {

namespace asio = boost::asio;
using asio::awaitable;
using namespace std::chrono_literals;

namespace {
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

bool is_resource_exhaustion(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}

std::string suppressed_text(std::uint64_t n) {
  return n == 0 ? std::string() : fmt::format(" ({} more like this suppressed)", n);
}
}  // namespace

awaitable<void> listener::impl::accept_loop(worker& w, std::size_t index) {
  auto& acceptor = w.listening[index].acceptor();
  const auto ex = w.io->get_executor();
  const std::string where = endpoint_text(bound[index]);
  auto backoff = 100ms;
  while (!stopping) {
    if (auto [gec] = co_await gate.async_pass(ex, tuple_awaitable); gec) break;  // closed
    auto [ec, sock] = co_await acceptor.async_accept(tuple_awaitable);
    if (ec) {
      if (stopping) break;
      if (ec == asio::error::operation_aborted) continue;  // suspend() cancels accepts
      if (is_resource_exhaustion(ec)) {
        // Not a crash: wait for descriptors to free up. Clients stay in the backlog.
        const std::string why = ec.message();
        stats.accept_log.log(*log, spdlog::level::warn, [&](std::uint64_t suppressed) {
          return fmt::format("listener {}: accept on {} failed: {}; backing off {} ms{}", opts.name,
                             where, why, backoff.count(), suppressed_text(suppressed));
        });
        asio::steady_timer pause(ex, backoff);
        co_await pause.async_wait(tuple_awaitable);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 2s);
        continue;
      }
      if (ec == asio::error::connection_aborted) {  // the client gave up first
        log->debug("listener {}: accept on {}: {}", opts.name, where, ec.message());
        continue;
      }
      if (note_restart(fmt::format("accept on {} failed: {}", where, ec.message()))) break;
      continue;
    }
    backoff = 100ms;
    w.counters.accepted.add();
    // The limit is exact: the connection starts only with a slot.
    if (auto [lec] = co_await limiter.async_acquire(ex, tuple_awaitable); lec || stopping) {
      if (!lec) limiter.release();
      boost::system::error_code ignored;
      sock.close(ignored);  // accepted just as the listener began to drain: refused
      break;
    }
    asio::co_spawn(ex, run_connection(w, std::move(sock)), asio::detached);
  }
}

}  // namespace moat::server
