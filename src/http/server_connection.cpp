// One HTTP connection: a thin coroutine around the I/O-free request reader. It reads a
// request within the phase's deadline (keep-alive wait, head, body), runs its handler,
// writes the response with one send, and goes on with the next request -- pipelined ones are
// already in the reader -- until the client, a limit, an error or the drain ends it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <moat/http/errors.hpp>

#include "http/request_reader.hpp"
#include "http/respond.hpp"
#include "http/server_state.hpp"
#include "http/target.hpp"
#include "http/wire.hpp"

namespace moat::http::detail {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::awaitable;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using moat::server::connection;
using moat::server::on_drain;

namespace {

// After a response that ends the connection, the client may still be sending (a body the
// server refused, pipelined requests): closing with unread bytes would make the kernel reset
// the connection, and the client might lose the response. So the server half-closes, reads
// and drops what still comes for a moment, then closes.
constexpr auto linger_time = 2s;
constexpr std::size_t linger_bytes = 1024 * 1024;

std::string peer_text(const connection& c) {
  const auto& ep = c.peer();
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

std::string suppressed_text(std::uint64_t n) {
  return n == 0 ? std::string() : fmt::format(" ({} more like this suppressed)", n);
}

awaitable<void> linger_close(connection& c) {
  if (!c.socket().is_open()) co_return;
  if (!co_await c.socket().shutdown(tls::shutdown_how::write)) {
    const auto until = clock::now() + linger_time;
    std::size_t dropped = 0;
    while (dropped < linger_bytes) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
      if (left <= 0ms) break;
      auto r = co_await c.recv_view(left);
      if (!r) break;
      dropped += r->size();
    }
  }
  co_await c.close();
}

// Answers a request that could not be read (400, 408, 413, 431) and closes.
awaitable<void> refuse(const server::state& s, connection& c, std::error_code why) {
  s.refused_log.log(*s.log, spdlog::level::warn, [&](std::uint64_t suppressed) {
    return fmt::format("http server {}: request from {} refused with {}: {} [{}]{}",
                       s.opts.listener.name, peer_text(c),
                       static_cast<unsigned>(refusal_status(why)), why.message(),
                       reason_name(static_cast<errc>(why.value())), suppressed_text(suppressed));
  });
  std::string out;
  serialize(refusal(why), true, out);
  if (!co_await c.send(out)) co_await linger_close(c);
}

// The deadlines of the request being read.
struct phase_clock {
  clock::time_point head_deadline{};
  clock::time_point body_deadline{};
  bool head_set = false;
  bool body_set = false;
};

}  // namespace

awaitable<void> serve_connection(const server::state& s, connection& c) {
  const auto& o = s.opts;
  const auto began = clock::now();
  const bool secure = c.socket().is_tls();
  request_reader reader({o.max_header_bytes, o.max_body_bytes});
  std::size_t served = 0;
  auto idle_since = began;
  std::string out;
  for (;;) {
    // ---- One request, within the deadline of the phase it is in ----
    auto st = reader.parse();
    phase_clock phase;
    bool continued = false;
    while (st == request_reader::status::need_more) {
      const auto now = clock::now();
      clock::time_point deadline;
      auto drain = on_drain::wait;
      if (!reader.started()) {
        // Waiting for a request: the first within the head's time, the next ones within the
        // keep-alive time. Nothing is lost if the drain ends this wait.
        if (c.stopping()) co_return;
        deadline = served == 0 ? began + o.header_timeout : idle_since + o.keep_alive_timeout;
        drain = on_drain::interrupt;
      } else if (!reader.header_done()) {
        if (!phase.head_set) {
          phase.head_deadline = served == 0 ? began + o.header_timeout : now + o.header_timeout;
          phase.head_set = true;
        }
        deadline = phase.head_deadline;
      } else {
        if (!phase.body_set) {
          phase.body_deadline = now + o.body_timeout;
          phase.body_set = true;
        }
        deadline = phase.body_deadline;
        if (!continued && reader.expects_continue()) {
          continued = true;
          if (co_await c.send(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"))) co_return;
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      tls::result<std::span<const std::uint8_t>> r = make_error_code(tls::errc::recv_timeout);
      if (left > 0ms) r = co_await c.recv_view(left, drain);
      if (!r) {
        // A request cut short by the clock is answered; anything else ends quietly (the
        // listener logs transport failures).
        if (r.error() == tls::errc::recv_timeout && reader.started()) {
          co_await refuse(s, c, errc::timeout);
        }
        co_return;
      }
      st = reader.feed(*r);
    }
    if (st == request_reader::status::failed) {
      co_await refuse(s, c, reader.error());
      co_return;
    }
    const auto req = reader.take();
    ++served;
    auto target = analyse_target(req);
    if (!target) {
      co_await refuse(s, c, target.error());
      co_return;
    }

    // ---- The handler ----
    bool keep_alive = req.keep_alive() && served < o.max_requests_per_connection;
    const incoming in{req, target->path, target->query, c.peer(), secure, target->host};
    response res;
    std::string failure;
    try {
      res = co_await s.routes.dispatch(in);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (!failure.empty()) {
      s.failure_log.log(*s.log, spdlog::level::err, [&](std::uint64_t suppressed) {
        return fmt::format("http server {}: handler for {} {} from {} failed: {}; answered 500{}",
                           o.listener.name, std::string_view(req.method_string()), target->path,
                           peer_text(c), failure, suppressed_text(suppressed));
      });
      res = make_response(bhttp::status::internal_server_error, "internal server error\n");
      keep_alive = false;
    }
    // A drain that began meanwhile ends the connection after this answer.
    keep_alive = keep_alive && !asks_to_close(res) && !c.stopping();

    // ---- The response, with one send ----
    finish_response(res, req, keep_alive);
    out.clear();
    serialize(res, req.method() != bhttp::verb::head, out);
    if (co_await c.send(out)) co_return;
    if (!keep_alive) {
      co_await linger_close(c);
      co_return;
    }
    idle_since = clock::now();
    if (out.capacity() > 64 * 1024) std::string().swap(out);
  }
}

}  // namespace moat::http::detail
