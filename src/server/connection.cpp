// One connection (Ranch's connection process): the PROXY header, the TLS handshake (none over
// plain TCP), the handler in its own try block, and one log line when it ends abnormally.
// Also the `connection` handle handlers see, and the event-handler style's loop.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/server/connection.hpp>
#include <moat/tls/detail/with_timeout.hpp>

#include "server/listener_impl.hpp"
#include "server/proxy_protocol.hpp"

namespace moat::server {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string suppressed_text(std::uint64_t n) {
  return n == 0 ? std::string() : fmt::format(" ({} more like this suppressed)", n);
}

// Logs a connection's abnormal end (rate-limited: a peer can provoke it).
void log_abnormal(listener::impl& l, const detail::connection_state& st, const std::string& why) {
  l.stats.connection_log.log(*l.log, spdlog::level::warn, [&](std::uint64_t suppressed) {
    return fmt::format("listener {}: connection {} from {}: {}{}", l.opts.name, st.id,
                       endpoint_text(st.peer), why, suppressed_text(suppressed));
  });
}

void log_handshake_failure(listener::impl& l, worker& w, const detail::connection_state& st,
                           std::error_code ec, std::uint8_t alert) {
  const auto reason = tls::reason_name(ec);
  l.stats.count_failure(reason);
  w.counters.handshake_failures.add();
  l.stats.handshake_log.log(*l.log, spdlog::level::warn, [&](std::uint64_t suppressed) {
    return fmt::format("listener {}: handshake with {} failed: {} [{}]; alert sent: {}{}",
                       l.opts.name, endpoint_text(st.peer), tls::format_error(ec), reason,
                       alert == 0 ? std::string("none") : tls::alert_name(alert),
                       suppressed_text(suppressed));
  });
}

// Reads the PROXY protocol header. Bytes after it (the start of the ClientHello) are returned
// through `rest` for the TLS engine.
awaitable<bool> read_proxy_header(listener::impl& l, tcp::socket& sock,
                                  detail::connection_state& st, std::vector<std::uint8_t>& rest) {
  std::array<std::uint8_t, proxy::max_header> buf{};
  std::size_t have = 0;
  const auto deadline = std::chrono::steady_clock::now() + l.opts.handshake_timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto r = co_await tls::detail::with_timeout(
        sock.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), tuple_awaitable),
        std::max(left, 0ms));
    if (!r) {
      log_abnormal(l, st, "PROXY header did not arrive within the handshake timeout");
      co_return false;
    }
    auto [ec, n] = *r;
    if (ec) {
      log_abnormal(l, st,
                   fmt::format("connection closed before its PROXY header ({})", ec.message()));
      co_return false;
    }
    have += n;
    auto p = proxy::parse(std::span<const std::uint8_t>(buf.data(), have));
    if (p.state == proxy::result::status::invalid ||
        (p.state == proxy::result::status::need_more && have == buf.size())) {
      log_abnormal(l, st, fmt::format("bad PROXY header: {}", p.reason));
      co_return false;
    }
    if (p.state == proxy::result::status::need_more) continue;
    if (l.opts.proxy == proxy_protocol::v1 && buf[0] != 'P') {
      log_abnormal(l, st, "PROXY v2 header, but the listener expects v1");
      co_return false;
    }
    if (l.opts.proxy == proxy_protocol::v2 && buf[0] == 'P') {
      log_abnormal(l, st, "PROXY v1 header, but the listener expects v2");
      co_return false;
    }
    rest.assign(buf.begin() + static_cast<std::ptrdiff_t>(p.header_length),
                buf.begin() + static_cast<std::ptrdiff_t>(have));
    if (p.source) st.peer = *p.source;
    co_return true;
  }
}

awaitable<void> run_events(const event_handler_factory& f, connection& c) {
  auto eh = f();
  if (!eh) throw std::runtime_error("the event handler factory returned no handler");
  co_await eh->on_open(c);
  for (;;) {
    auto m = co_await c.recv_view();
    if (!m) {
      const auto& ec = m.error();
      if (ec == tls::errc::closed || ec == tls::errc::recv_timeout ||
          ec == tls::errc::shutting_down) {
        co_await eh->on_closed(c);
      } else {
        co_await eh->on_error(c, ec);
      }
      co_return;
    }
    co_await eh->on_message(c, *m);
  }
}

}  // namespace

awaitable<void> listener::impl::run_connection(worker& w, tcp::socket sock) {
  auto st = std::make_shared<detail::connection_state>();
  st->owner = this;
  st->w = &w;
  st->id = next_id.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code pec;
  st->peer = sock.remote_endpoint(pec);
  w.conns.add(st);
  live.fetch_add(1, std::memory_order_relaxed);
  // Runs however the coroutine ends: returned, threw, or destroyed by stop() with its worker.
  struct cleanup {
    impl* self;
    worker& wk;
    std::uint64_t id;
    ~cleanup() {
      wk.conns.remove(id);
      self->live.fetch_sub(1, std::memory_order_relaxed);
      self->limiter.release();
      self->connection_ended();
    }
  } guard{this, w, st->id};

  // Bytes read with the PROXY header: the start of the ClientHello, or of the application's
  // data over plain TCP.
  std::vector<std::uint8_t> early;
  if (opts.proxy != proxy_protocol::none && !co_await read_proxy_header(*this, sock, *st, early)) {
    co_return;
  }
  if (!ctx) {
    st->sock.emplace(tls::socket::plain(std::move(sock), opts.socket, early));
  } else {
    st->sock.emplace(tls::socket::upgrade(std::move(sock), *ctx, {}, opts.socket));
    if (!early.empty()) {
      auto& engine = st->sock->tls_stream().engine();
      auto into = engine.prepare_input(early.size());
      std::copy(early.begin(), early.end(), into.begin());
      engine.commit_input(early.size());
    }
    if (auto ec = co_await st->sock->handshake(opts.handshake_timeout)) {
      // Cut short by stop() after the grace period: not the peer's failure.
      if (stopping && ec == std::errc::operation_canceled) co_return;
      log_handshake_failure(*this, w, *st, ec, st->sock->tls_stream().engine().alert_sent());
      co_return;
    }
    w.counters.handshakes.add();
  }
  w.conns.set_phase(*st, "established");

  connection conn(st);
  std::string failure_text;
  try {
    if (std::holds_alternative<coroutine_handler>(h)) {
      co_await std::get<coroutine_handler>(h)(conn);
    } else {
      co_await run_events(std::get<event_handler_factory>(h), conn);
    }
  } catch (const std::exception& e) {
    failure_text = e.what();
  } catch (...) {
    failure_text = "unknown exception";
  }
  w.conns.set_phase(*st, "closing");
  if (!failure_text.empty()) {
    // The handler failed: this connection only. The peer gets an alert, the log one line.
    w.counters.handler_failures.add();
    log->error("listener {}: handler for {} (connection {}) failed: {}; alert sent: {}", opts.name,
               endpoint_text(st->peer), st->id, failure_text,
               ctx ? tls::alert_name(tls::alert_for(tls::errc::handler_failed))
                   : std::string("none (plain TCP)"));
    co_await st->sock->abort(tls::errc::handler_failed);
    co_return;
  }
  if (st->end_reason) {
    log_abnormal(*this, *st,
                 fmt::format("ended: {} [{}]", tls::format_error(st->end_reason),
                             tls::reason_name(st->end_reason)));
  }
  if (st->sock->is_open()) co_await st->sock->close();
}

// ---- connection -------------------------------------------------------------------------

awaitable<tls::result<std::span<const std::uint8_t>>> connection::recv_view(
    std::chrono::milliseconds timeout, on_drain drain) {
  auto& st = *st_;
  auto* o = st.owner;
  if (timeout < 0ms && o->opts.idle_timeout > 0ms) timeout = o->opts.idle_timeout;
  tls::result<std::span<const std::uint8_t>> r = make_error_code(tls::errc::shutting_down);
  if (drain == on_drain::wait) {
    r = co_await st.sock->recv_view(0, timeout);
  } else {
    if (o->stopping) co_return r;
    // stop() sets `stopping`, then emits the signal on this connection's thread: a drain that
    // begins after the check above finds the signal in place.
    asio::cancellation_signal signal;
    st.drain_signal = &signal;
    struct unset {
      detail::connection_state& s;
      ~unset() { s.drain_signal = nullptr; }
    } guard{st};
    try {
      r = co_await asio::co_spawn(st.sock->get_executor(), st.sock->recv_view(0, timeout),
                                  asio::bind_cancellation_slot(signal.slot(), asio::use_awaitable));
    } catch (const boost::system::system_error&) {
      // Cancelled before the read began to wait: Asio throws at its next co_await.
      r = make_error_code(std::errc::operation_canceled);
    }
  }
  if (r) {
    st.w->counters.bytes_in.add(r->size());
  } else if (o->stopping && r.error() != tls::errc::closed) {
    co_return make_error_code(tls::errc::shutting_down);
  } else if (r.error() != tls::errc::closed && r.error() != tls::errc::recv_timeout) {
    st.end_reason = r.error();
  }
  co_return r;
}

awaitable<tls::result<std::vector<std::uint8_t>>> connection::recv(
    std::chrono::milliseconds timeout, on_drain drain) {
  auto r = co_await recv_view(timeout, drain);
  if (!r) co_return r.error();
  co_return std::vector<std::uint8_t>(r->begin(), r->end());
}

awaitable<std::error_code> connection::send(std::span<const std::uint8_t> data) {
  auto ec = co_await st_->sock->send(data);
  if (!ec) {
    st_->w->counters.bytes_out.add(data.size());
  } else if (!st_->end_reason && !st_->owner->stopping) {
    st_->end_reason = ec;  // logged once when the connection ends
  }
  co_return ec;
}

awaitable<std::error_code> connection::send(std::string_view data) {
  co_return co_await send(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

awaitable<void> connection::close() {
  co_await st_->sock->close();
}

const tcp::endpoint& connection::peer() const noexcept {
  return st_->peer;
}
const std::string& connection::listener_name() const noexcept {
  return st_->owner->opts.name;
}
std::uint64_t connection::id() const noexcept {
  return st_->id;
}
bool connection::stopping() const noexcept {
  return st_->owner->stopping.load();
}
tls::socket& connection::socket() noexcept {
  return *st_->sock;
}

awaitable<void> event_handler::on_open(connection&) {
  co_return;
}
awaitable<void> event_handler::on_closed(connection&) {
  co_return;
}
awaitable<void> event_handler::on_error(connection&, std::error_code) {
  co_return;
}

}  // namespace moat::server
