// The socket's data path: reads, writes and deadlines (see socket_state.hpp for the shape).
#include <fmt/format.h>
#include <spdlog/logger.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <utility>
#include <moat/log.hpp>

#include "tls/socket_state.hpp"

namespace moat::tls {

using asio::awaitable;
using asio::use_awaitable;

namespace {
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);
constexpr std::size_t kRecordPlaintext = 16384;
// Frames a reader returns in a row without waiting before it lets the others on its thread
// run: a peer that keeps the socket full must not starve the connections beside it.
constexpr unsigned kRunBudget = 16;
// Plaintext encrypted before the records are written out (bounds a large message's output).
constexpr std::size_t kEncryptBatch = 4 * kRecordPlaintext;
// Output held back while more requests are waiting to be answered (see may_defer_flush).
constexpr std::size_t kDeferLimit = 64 * 1024;

std::error_code to_std(const boost::system::error_code& ec) {
  return ec;
}

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// A thread's buffers, borrowed by one connection at a time and only between two suspension
// points (a coroutine may resume on another thread: fetch them again after every co_await).
struct thread_buffers {
  static constexpr std::size_t read_size = 64 * 1024;
  std::unique_ptr<std::uint8_t[]> read = std::make_unique_for_overwrite<std::uint8_t[]>(read_size);
  std::unique_ptr<std::uint8_t[]> record =
      std::make_unique_for_overwrite<std::uint8_t[]>(kRecordPlaintext);
  std::vector<std::uint8_t> write;  // lent to an engine as its output buffer
};

thread_buffers& buffers() {
  thread_local thread_buffers b;
  return b;
}

// While it lives, the calling coroutine's cancellation (e.g. `op || timer`) runs `f`.
class forward_cancellation {
 public:
  template <class F>
  forward_cancellation(asio::cancellation_slot slot, F f) : slot_(slot) {
    if (slot_.is_connected()) slot_.assign([f](asio::cancellation_type) { f(); });
  }
  ~forward_cancellation() {
    if (slot_.is_connected()) slot_.clear();
  }
  forward_cancellation(const forward_cancellation&) = delete;
  forward_cancellation& operator=(const forward_cancellation&) = delete;

 private:
  asio::cancellation_slot slot_;
};

}  // namespace

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
        auto [rec, n] = co_await s.tcp().async_read_some(
            asio::buffer(s.wait_buf),
            asio::bind_cancellation_slot(
                cancellable ? s.read_cancel.slot() : asio::cancellation_slot(), tuple_awaitable));
        forward.reset();
        s.read_waiting = false;
        if (!rec) {
          s.maybe_more = n == s.wait_buf.size();
          ec = s.take_in({s.wait_buf.data(), n}, raw_mode);
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

// ---- Writing ------------------------------------------------------------------------------------

awaitable<boost::system::error_code> socket::state::write_inflight() {
  const auto cs = co_await asio::this_coro::cancellation_state;
  forward_cancellation forward(cs.slot(), [this] { close_transport(); });
  write_waiting = true;
  write_timed_out = false;
  arm(write_deadline);
  auto [ec, n] = co_await asio::async_write(tcp(), asio::buffer(inflight), tuple_awaitable);
  write_waiting = false;
  co_return ec;
}

bool socket::state::flush_now(std::error_code& ec) {
  ec.clear();
  auto* t = tls();
  if (t == nullptr) return inflight.empty();
  auto& e = t->engine();
  for (;;) {
    const auto out = e.output();
    if (out.empty()) return true;
    boost::system::error_code wec;
    const std::size_t n = tcp().write_some(asio::buffer(out.data(), out.size()), wec);
    e.consume_output(n);
    if (!wec) continue;
    if (would_block(wec)) return false;
    close_transport();
    ec = to_std(wec);
    return true;
  }
}

awaitable<std::error_code> socket::state::flush() {
  auto* t = tls();
  for (;;) {
    if (closed) co_return make_error_code(errc::not_connected);
    if (inflight.empty()) {
      std::error_code ec;
      if (flush_now(ec)) co_return ec;
      t->engine().take_output(inflight);  // the kernel is full: the rest waits in the connection
    }
    const auto ec = co_await write_inflight();
    // Give the storage back to the thread (or free it): an idle connection holds none.
    auto& spare = buffers().write;
    inflight.clear();
    if (spare.capacity() < inflight.capacity()) spare.swap(inflight);
    std::vector<std::uint8_t>().swap(inflight);
    if (ec) {
      const bool timed_out = write_timed_out;
      close_transport();
      co_return timed_out ? make_error_code(errc::send_timeout) : to_std(ec);
    }
  }
}

bool socket::state::may_defer_flush() const {
  // More requests are already here (decoded, still encrypted, or left in the kernel): the
  // handler comes back for them without waiting, and its replies go out together -- at the
  // latest when the reader would wait, or when this burst yields (defer_flush posts a flush).
  const auto* t = tls();
  if (t == nullptr || !send_waiters.empty()) return false;
  if (t->engine().output().size() >= kDeferLimit) return false;
  return dec.buffered() > 0 || maybe_more || t->engine().has_pending_input();
}

void socket::state::defer_flush() {
  if (flush_posted) return;
  flush_posted = true;
  asio::post(tcp().get_executor(), [self = shared_from_this()] {
    self->flush_posted = false;
    auto* t = self->tls();
    if (self->closed || self->sending || t == nullptr || t->engine().output().empty()) return;
    std::error_code ec;
    if (self->flush_now(ec)) {
      // Written -- or failed, and the connection is closed: the next read reports why.
      if (ec && !self->write_failure) self->write_failure = ec;
      return;
    }
    // The kernel is full: a flush that waits, under the send turn.
    self->sending = true;
    asio::co_spawn(
        self->tcp().get_executor(),
        [self]() -> awaitable<void> {
          self->write_deadline = self->opts.send_timeout.count() > 0
                                     ? clock::now() + self->opts.send_timeout
                                     : clock::time_point::max();
          if (auto fec = co_await self->flush(); fec && !self->write_failure) {
            self->write_failure = fec;  // the next read reports why the connection closed
          }
          self->pass_send_turn();
        },
        asio::detached);
  });
}

std::error_code socket::state::encrypt(std::span<const std::uint8_t> header,
                                       std::span<const std::uint8_t> data) {
  auto& e = tls()->engine();
  std::error_code ec;
  std::size_t n = 0;
  if (!header.empty()) {
    // The header travels in the first record with the payload's first bytes.
    auto& b = buffers();
    const std::size_t first = std::min(data.size(), kRecordPlaintext - header.size());
    std::memcpy(b.record.get(), header.data(), header.size());
    if (first > 0) std::memcpy(b.record.get() + header.size(), data.data(), first);
    (void)e.write({b.record.get(), header.size() + first}, n, ec);
    if (ec) return ec;
    data = data.subspan(first);
  }
  while (!data.empty()) {
    (void)e.write(data, n, ec);
    if (ec) return ec;
    data = data.subspan(n);
  }
  return {};
}

awaitable<std::error_code> socket::state::send_message(std::span<const std::uint8_t> data) {
  if (closed || !handshake_done) co_return make_error_code(errc::not_connected);
  if (auto ec = co_await take_send_turn()) co_return ec;
  const framing::options fo{opts.packet, opts.packet_size};
  std::array<std::uint8_t, framing::max_header_size> hdr{};
  std::error_code ec = framing::write_header(fo, data.size(), hdr);
  const std::span<const std::uint8_t> header(hdr.data(), framing::header_size(opts.packet));
  write_deadline =
      opts.send_timeout.count() > 0 ? clock::now() + opts.send_timeout : clock::time_point::max();
  if (ec) {
    // Nothing sent: the message does not fit the packet mode.
  } else if (auto* t = tls()) {
    auto& e = t->engine();
    e.swap_output_storage(buffers().write);
    bool first = true;
    while (!ec && (first || !data.empty())) {
      // Batches end on record boundaries: the header shares the first record.
      const auto batch =
          data.first(std::min(data.size(), kEncryptBatch - (first ? header.size() : 0)));
      ec = encrypt(first ? header : std::span<const std::uint8_t>(), batch);
      first = false;
      data = data.subspan(batch.size());
      if (ec) break;
      if (data.empty() && may_defer_flush()) {
        defer_flush();  // a reply while more requests are here: written with the next ones
      } else {
        ec = co_await flush();
      }
    }
    if (!closed) t->engine().swap_output_storage(buffers().write);
  } else {
    // Plain TCP: header and payload in one gathered write.
    const std::array<asio::const_buffer, 2> bufs{asio::buffer(header.data(), header.size()),
                                                 asio::buffer(data.data(), data.size())};
    boost::system::error_code wec;
    const std::size_t n = data.size() + header.size() == 0 ? 0 : tcp().write_some(bufs, wec);
    if (wec && !would_block(wec)) {
      close_transport();
      ec = to_std(wec);
    } else if (n < header.size() + data.size()) {
      std::size_t skip = n;  // what the kernel took
      for (const auto part : {header, data}) {
        const std::size_t k = std::min(skip, part.size());
        inflight.insert(inflight.end(), part.begin() + static_cast<std::ptrdiff_t>(k), part.end());
        skip -= k;
      }
      ec = co_await flush();
    }
  }
  pass_send_turn();
  co_return ec;
}

awaitable<std::error_code> socket::state::take_send_turn(clock::time_point deadline) {
  if (!sending) {
    sending = true;
    co_return std::error_code{};
  }
  // One message at a time, so concurrent senders never interleave records. A sender that
  // finds the socket busy queues up and is handed the turn when the one before it is done.
  turn_deadline = deadline;
  turn_waiting = deadline != never;
  arm(deadline);
  auto [wec] = co_await detail::async_wait_in(send_waiters, tcp().get_executor(), tuple_awaitable);
  turn_waiting = false;
  turn_deadline = never;
  if (wec) co_return make_error_code(errc::not_connected);
  if (closed) {
    pass_send_turn();
    co_return make_error_code(errc::not_connected);
  }
  co_return std::error_code{};
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
