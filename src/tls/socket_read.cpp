// The socket's reading half: deadlines, the read path and active delivery (see
// socket_state.hpp for the shape of the data path).
#include <fmt/format.h>
#include <spdlog/logger.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <moat/log.hpp>
#include <utility>

#include "tls/data_path.hpp"
#include "tls/socket_state.hpp"

namespace moat::tls {

using asio::awaitable;
using asio::use_awaitable;
using namespace data_path;

// ---- Deadlines ----------------------------------------------------------------------------------

void socket::state::arm(clock::time_point deadline) {
  if (deadline == never || closed || timer_at <= deadline) return;
  timer_at = deadline;
  timer.expires_at(deadline);  // cancels the wait for a later time, which then does nothing
  timer.async_wait([self = shared_from_this(), deadline](boost::system::error_code ec) {
    self->on_timer(ec, deadline);
  });
}

void socket::state::on_timer(boost::system::error_code ec, clock::time_point fired_for) {
  if (ec == asio::error::operation_aborted || fired_for != timer_at) return;  // superseded
  timer_at = never;
  const auto now = clock::now();
  if (read_waiting && !read_timed_out && now >= read_deadline) {
    read_timed_out = true;
    read_cancel.emit(asio::cancellation_type::terminal);
  }
  if ((write_waiting && now >= write_deadline) || (turn_waiting && now >= turn_deadline)) {
    // A record may be half-written, or the turn never comes: the connection cannot go on.
    write_timed_out = true;
    close_transport();
    return;
  }
  auto next = never;
  if (read_waiting && !read_timed_out) next = read_deadline;
  if (write_waiting) next = std::min(next, write_deadline);
  if (turn_waiting) next = std::min(next, turn_deadline);
  arm(next);
}

// ---- Reading ------------------------------------------------------------------------------------

std::error_code socket::state::end_of_stream() {
  if (auto* t = tls()) {
    // The engine says how it ended: after close_notify, or truncated.
    t->engine().input_eof();
    if (!ended) (void)decrypt_buffered(opts.packet == framing::packet_mode::raw);
    if (!ended) ended = make_error_code(errc::truncated);
  } else {
    ended = make_error_code(errc::closed);
  }
  return ended;
}

// Decrypts every complete record the engine holds into the framing: straight into the
// decoder when it already has room for a record (large frames), else through the thread's
// record buffer, so that a connection of small messages never holds a record-sized buffer.
std::error_code socket::state::decrypt_buffered(bool raw_mode) {
  auto& e = tls()->engine();
  for (;;) {
    std::error_code ec;
    std::size_t n = 0;
    if (!raw_mode && dec.capacity() >= 2 * kRecordPlaintext) {
      const auto into = dec.prepare(kRecordPlaintext);
      (void)e.read(into, n, ec);
      dec.commit(n);
    } else {
      auto& b = buffers();
      (void)e.read({b.record.get(), kRecordPlaintext}, n, ec);
      if (n > 0) {
        if (raw_mode) {
          raw.insert(raw.end(), b.record.get(), b.record.get() + n);
        } else {
          dec.feed({b.record.get(), n});
        }
      }
    }
    if (ec) {
      ended = ec;
      return ended;
    }
    if (n == 0) return {};  // the rest is a partial record (or nothing)
  }
}

std::error_code socket::state::take_in(std::span<const std::uint8_t> bytes, bool raw_mode) {
  if (auto* t = tls()) {
    auto& e = t->engine();
    e.lend_input(bytes);
    const auto ec = decrypt_buffered(raw_mode);
    e.keep_input();  // a partial record: the engine keeps it (the lent buffer is reused)
    return ec;
  }
  if (raw_mode) {
    raw.insert(raw.end(), bytes.begin(), bytes.end());
  } else {
    dec.feed(bytes);
  }
  return {};
}

socket::state::fill_status socket::state::fill_now(bool raw_mode, std::error_code& ec) {
  if (ended) {
    ec = ended;
    return fill_status::failed;
  }
  auto* t = tls();
  // Records already here (a ticket or KeyUpdate may precede the data).
  if (t != nullptr && t->engine().has_pending_input()) {
    const std::size_t before = raw_mode ? raw.size() : dec.buffered();
    if ((ec = decrypt_buffered(raw_mode))) return fill_status::failed;
    if ((raw_mode ? raw.size() : dec.buffered()) != before) return fill_status::progressed;
  }
  if (!maybe_more) return fill_status::wait;
  // The last read filled its buffer: read on at once, as much as the scratch holds.
  auto& b = buffers();
  boost::system::error_code rec;
  const std::size_t n = tcp().read_some(asio::buffer(b.read.get(), b.read_size), rec);
  if (!rec) {
    maybe_more = n == thread_buffers::read_size;
    ec = take_in({b.read.get(), n}, raw_mode);
    return ec ? fill_status::failed : fill_status::progressed;
  }
  maybe_more = false;
  if (would_block(rec)) return fill_status::wait;
  ec = rec == asio::error::eof ? end_of_stream() : to_std(rec);
  return fill_status::failed;
}

awaitable<result<std::span<const std::uint8_t>>> socket::state::read_message(
    std::shared_ptr<state> self, std::size_t length, std::chrono::milliseconds timeout,
    bool passive) {
  // One coroutine frame for the whole read (an idle connection waits in it): the steps that
  // do not wait are plain functions.
  state& s = *self;
  if (passive) {
    if (!s.handshake_done) co_return make_error_code(errc::not_connected);
    if (s.opts.active.mode != framing::delivery::passive || s.active_running) {
      co_return make_error_code(errc::wrong_mode);
    }
    if (s.reading) co_return make_error_code(errc::operation_in_progress);
  }
  if (s.pending) {
    s.raw_last = std::move(*s.pending);
    s.pending.reset();
    co_return std::span<const std::uint8_t>(s.raw_last);
  }
  if (s.closed) {
    // A held-back reply that could not be written closed the connection: say why, once.
    if (s.write_failure) co_return std::exchange(s.write_failure, {});
    co_return make_error_code(errc::not_connected);
  }
  struct reading_flag {
    bool& f;
    explicit reading_flag(bool& flag) : f(flag) { f = true; }
    ~reading_flag() { f = false; }
    reading_flag(const reading_flag&) = delete;
    reading_flag& operator=(const reading_flag&) = delete;
  } flag(s.reading);
  const bool raw_mode = s.opts.packet == framing::packet_mode::raw;
  s.read_deadline = timeout < std::chrono::milliseconds::zero() ? never : clock::now() + timeout;
  for (;;) {
    if (++s.run_budget > kRunBudget) {
      s.run_budget = 0;
      co_await asio::post(s.tcp().get_executor(), use_awaitable);
    }
    if (raw_mode) {
      if (!s.raw.empty() && (length == 0 || s.raw.size() >= length)) {
        const std::size_t k = length == 0 ? s.raw.size() : length;
        s.raw_last.assign(s.raw.begin(), s.raw.begin() + static_cast<std::ptrdiff_t>(k));
        s.raw.erase(s.raw.begin(), s.raw.begin() + static_cast<std::ptrdiff_t>(k));
        co_return std::span<const std::uint8_t>(s.raw_last);
      }
    } else {
      std::error_code fec;
      if (auto f = s.dec.next(fec)) co_return *f;
      if (fec) {
        // A malformed or oversized frame: the stream can't be resynchronised. Close it; the
        // error says why (the listener logs it as the connection's end, rate-limited).
        s.close_transport();
        co_return fec;
      }
    }
    std::error_code ec;
    if (s.closed) {
      ec = make_error_code(errc::not_connected);
    } else {
      auto status = s.fill_now(raw_mode, ec);
      if (status == fill_status::wait) {
        // Replies deferred while requests were here go out before the reader waits.
        if (auto* t = s.tls(); t != nullptr && !t->engine().output().empty() && !s.sending) {
          std::error_code fec;
          if (!s.flush_now(fec)) {
            s.sending = true;
            s.write_deadline = s.opts.send_timeout.count() > 0 ? clock::now() + s.opts.send_timeout
                                                               : clock::time_point::max();
            fec = co_await s.flush();
            s.pass_send_turn();
          }
          if (fec) {
            s.closed = true;
            co_return fec;
          }
        }
        // Nothing more in the kernel: wait, holding no buffer but the small one the read
        // needs. The caller's cancellation (e.g. `recv() || timer`) and the read deadline
        // cancel the read; neither harms the connection.
        if (!raw_mode && s.dec.buffered() == 0) s.dec.shrink_to_fit();
        if (raw_mode && s.raw.empty()) std::vector<std::uint8_t>().swap(s.raw);
        if (auto* t = s.tls()) t->engine().shrink();
        s.run_budget = 0;
        s.read_waiting = true;
        s.read_timed_out = false;
        s.arm(s.read_deadline);
        const auto cs = co_await asio::this_coro::cancellation_state;
        std::optional<forward_cancellation> forward;
        if (cs.slot().is_connected()) {
          forward.emplace(cs.slot(),
                          [&s] { s.read_cancel.emit(asio::cancellation_type::terminal); });
        }
        // Without a deadline or a caller that can cancel, the read needs no cancellation slot
        // (binding one costs a handler allocation check per read).
        const bool cancellable = s.read_deadline != never || forward.has_value();
        const auto into = s.wait_buffer();
        auto [rec, n] = co_await s.tcp().async_read_some(
            asio::buffer(into.data(), into.size()),
            asio::bind_cancellation_slot(
                cancellable ? s.read_cancel.slot() : asio::cancellation_slot(), tuple_awaitable));
        forward.reset();
        s.read_waiting = false;
        if (!rec) {
          s.maybe_more = n == into.size();
          ec = s.take_in(into.first(n), raw_mode);
          status = ec ? fill_status::failed : fill_status::progressed;
        } else if (s.read_timed_out) {
          ec = make_error_code(errc::recv_timeout);
        } else if (rec == asio::error::eof) {
          ec = s.end_of_stream();
        } else {
          ec = to_std(rec);  // operation_aborted: the caller cancelled
        }
      }
      // Decrypting may have produced records to send (a KeyUpdate, an alert -- also the one
      // that says why the connection failed): the reader sends them unless a sender is busy,
      // whose flush takes them along.
      if (auto* t = s.tls(); t != nullptr && !t->engine().output().empty() && !s.sending) {
        s.sending = true;
        const auto sec = co_await s.flush();
        s.pass_send_turn();
        if (sec && !ec) ec = sec;
      }
      if (!ec) continue;
    }
    // What arrived before the end (or the error) is delivered first.
    if (raw_mode) {
      if (!s.raw.empty() && (length == 0 || s.raw.size() >= length)) continue;
    } else {
      std::error_code fec;
      if (auto f = s.dec.next(fec)) co_return *f;
    }
    // A timeout or the caller's cancellation leaves the connection as it was.
    if (ec != errc::recv_timeout && ec != std::errc::operation_canceled) s.closed = true;
    if (s.closed && s.write_failure) ec = std::exchange(s.write_failure, {});
    co_return ec;
  }
}

// ---- Active delivery ----------------------------------------------------------------------------

awaitable<void> socket::state::active_loop(std::shared_ptr<state> self) {
  self->active_running = true;
  try {
    co_await self->deliver();
  } catch (const std::exception& e) {
    self->handler_threw(e.what());
  } catch (...) {
    self->handler_threw("unknown exception");
  }
  self->active_running = false;
}

awaitable<void> socket::state::deliver() {
  while (!owner_gone && handler && opts.active.mode != framing::delivery::passive) {
    auto r = co_await read_message(shared_from_this(), 0, infinity, false);
    if (owner_gone) break;
    if (!r) {
      if (r.error() == std::error_code(errc::closed)) {
        if (handler->on_closed) handler->on_closed();
      } else if (handler->on_error) {
        handler->on_error(r.error());
      }
      break;
    }
    if (opts.active.mode == framing::delivery::passive) {
      pending.emplace(r->begin(), r->end());  // turned passive while we were reading
      break;
    }
    if (handler->on_data) handler->on_data(*r);
    if (opts.active.mode == framing::delivery::once) {
      opts.active.mode = framing::delivery::passive;
    } else if (opts.active.mode == framing::delivery::count && --opts.active.count == 0) {
      opts.active.mode = framing::delivery::passive;
      if (handler->on_passive) handler->on_passive();
    }
  }
}

// An active-mode callback threw: like an Erlang owner process that crashed, the connection
// ends -- loudly: the peer gets internal_error, the log one line.
void socket::state::handler_threw(const std::string& what) {
  boost::system::error_code pec;
  const auto peer = tcp().remote_endpoint(pec);
  // The context's logger (a plain TCP socket has no context: the default one).
  const auto log = ctx ? ctx->logger() : default_logger();
  log->error(
      "tls: the active-mode handler of the connection with {} threw: {}; closing it (alert "
      "sent: internal_error)",
      pec ? std::string("?") : fmt::format("{}:{}", peer.address().to_string(), peer.port()), what);
  if (auto* t = tls(); t != nullptr && !closed && handshake_done && !sending) {
    (void)t->engine().abort(make_error_code(errc::handler_failed));
    const auto out = t->engine().output();
    boost::system::error_code wec;
    tcp().write_some(asio::buffer(out.data(), out.size()), wec);  // best effort
    t->engine().consume_output(out.size());
  }
  close_transport();
}

void socket::state::start_active() {
  if (active_running || !handshake_done || closed) return;
  if (opts.active.mode == framing::delivery::passive) return;
  asio::co_spawn(tcp().get_executor(), active_loop(shared_from_this()), asio::detached);
}

}  // namespace moat::tls
