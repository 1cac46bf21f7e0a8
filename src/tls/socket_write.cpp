// The socket's writing half: encryption into the thread's buffer, one write per frame (or per
// burst of pipelined replies), and the send turn (see socket_state.hpp).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <moat/tls/detail/waiter_queue.hpp>

#include "tls/data_path.hpp"
#include "tls/socket_state.hpp"

namespace moat::tls {

using asio::awaitable;
using asio::use_awaitable;
using namespace data_path;

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

}  // namespace moat::tls
