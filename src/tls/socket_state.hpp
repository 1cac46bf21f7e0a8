#pragma once
// Internal: what stands behind a tls::socket -- the transport (TLS or plain TCP), the framing,
// the delivery mode, and the data path (socket_read.cpp, socket_write.cpp).
//
// The data path, and why it is shaped so:
// - Reads: a connection waiting for bytes has one asynchronous read outstanding into a small
//   buffer of its own (`wait_buf`), so Asio's reactor reads speculatively and never re-arms
//   epoll, and an idle connection holds no large buffer. When that read fills `wait_buf`,
//   the rest is read at once, synchronously, into the thread's scratch buffer (up to 64 KiB
//   per read). The engine decrypts straight from whichever buffer holds the bytes; only a
//   partial record is copied, into the engine's own buffer.
// - Frames reach the caller as views into the decoder, valid until the next read.
// - Writes: a frame's records (header and body together) are encrypted into the thread's
//   scratch buffer and written with one system call; only when the kernel does not take them
//   all does the rest move to the connection, and the sender wait for the socket. A reply
//   sent while more requests are already here is held back and written with the next ones
//   (one write per burst of pipelined requests), never longer than until the reader would
//   wait or the burst yields.
// - Deadlines: one timer per connection serves both directions and is moved only when it
//   fires: starting an operation just records its deadline.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <moat/framing/framing.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/detail/waiter_queue.hpp>
#include <moat/tls/socket.hpp>
#include <moat/tls/stream.hpp>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace moat::tls {

struct socket::state : std::enable_shared_from_this<state> {
  using clock = std::chrono::steady_clock;
  static constexpr auto never = clock::time_point::max();

  // TLS, or plain TCP (EPMD, plain-TCP distribution): the same framing and delivery.
  std::variant<stream<>, asio::ip::tcp::socket> io;
  std::optional<context> ctx;  // TLS only
  socket_options opts;
  framing::decoder dec;
  std::vector<std::uint8_t> raw;       // raw mode: bytes received and not yet returned
  std::vector<std::uint8_t> raw_last;  // raw mode: what the last recv_view returned
  std::optional<std::vector<std::uint8_t>> pending;  // a frame read after active turned off
  std::unique_ptr<active_handler> handler;           // active delivery only (four std::functions)
  detail::waiter_queue send_waiters;                 // senders queued behind the one sending
  std::vector<std::uint8_t> inflight;                // output the kernel has not taken yet
  std::array<std::uint8_t, 128> wait_buf{};  // the target of the read a waiting reader holds
  std::vector<std::uint8_t> wait_big;        // instead, when opts.wait_buffer is larger
  [[nodiscard]] std::span<std::uint8_t> wait_buffer() noexcept {
    if (!wait_big.empty()) return wait_big;
    return wait_buf;
  }

  // Deadlines (see on_timer).
  asio::steady_timer timer;
  clock::time_point timer_at = never;  // when the armed timer fires (never: not armed)
  clock::time_point read_deadline = never;
  clock::time_point write_deadline = never;  // a sender waiting for the kernel to take bytes
  clock::time_point turn_deadline = never;   // close/abort waiting for the send turn
  asio::cancellation_signal read_cancel;
  std::error_code ended;          // why the stream ended (returned by every later read)
  std::error_code write_failure;  // why a held-back reply could not be written (defer_flush)

  unsigned run_budget = 0;  // frames returned without waiting since the last yield
  bool read_waiting = false;
  bool write_waiting = false;
  bool turn_waiting = false;
  bool read_timed_out = false;
  bool write_timed_out = false;
  bool maybe_more = false;
  bool flush_posted = false;  // a deferred flush is posted (defer_flush)  // the last read filled
                              // its buffer: more may be in the kernel
  bool handshake_done = false;
  bool closed = false;
  bool sending = false;
  bool reading = false;
  bool active_running = false;
  bool owner_gone = false;

  state(asio::ip::tcp::socket tcp, const context& c, std::string name, std::string key,
        socket_options o);
  state(asio::ip::tcp::socket tcp, socket_options o);  // plain TCP: ready at once

  [[nodiscard]] stream<>* tls() noexcept { return std::get_if<stream<>>(&io); }
  [[nodiscard]] const stream<>* tls() const noexcept { return std::get_if<stream<>>(&io); }
  [[nodiscard]] asio::ip::tcp::socket& tcp() noexcept {
    if (auto* t = tls()) return t->next_layer();
    return std::get<asio::ip::tcp::socket>(io);
  }
  [[nodiscard]] const asio::ip::tcp::socket& tcp() const noexcept {
    if (const auto* t = tls()) return t->next_layer();
    return std::get<asio::ip::tcp::socket>(io);
  }

  // The first failure, if any (all options are still tried).
  std::error_code apply_socket_options();
  // Closes the TCP connection at once; queued senders fail.
  void close_transport() noexcept;
  // The sender that finishes hands the turn to the next one queued (or frees it).
  void pass_send_turn();
  // Waits for the send turn: senders without a deadline (theirs starts once they have it),
  // close, abort and key updates within `deadline` (then the connection is closed).
  asio::awaitable<std::error_code> take_send_turn(clock::time_point deadline = never);

  // ---- The data path (socket_read.cpp, socket_write.cpp) ----
  // The next message in the current framing, as a view valid until the next read; raw mode
  // with `length` > 0: exactly that many bytes. `passive`: a recv call (checks the mode).
  static asio::awaitable<result<std::span<const std::uint8_t>>> read_message(
      std::shared_ptr<state> self, std::size_t length, std::chrono::milliseconds timeout,
      bool passive);
  // One frame out: header and payload encrypted together, written with one system call.
  asio::awaitable<std::error_code> send_message(std::span<const std::uint8_t> data);
  // Writes out what the engine has produced (the caller holds the send turn).
  asio::awaitable<std::error_code> flush();
  // The same without waiting: true when all is written (or it failed: `ec`, and the
  // connection is closed), false when the kernel is full.
  bool flush_now(std::error_code& ec);
  // Whether a reply may wait to go out with the next ones (more requests are here), and the
  // posted flush that bounds how long it waits.
  [[nodiscard]] bool may_defer_flush() const;
  void defer_flush();
  // TLS: an engine step that only produces output (close_notify, an alert, KeyUpdate), sent
  // under the send turn within `timeout`.
  template <class Step>
  asio::awaitable<std::error_code> send_control(Step step, std::chrono::milliseconds timeout);

  // Active delivery: read and hand messages to the handler until the mode turns passive.
  static asio::awaitable<void> active_loop(std::shared_ptr<state> self);
  asio::awaitable<void> deliver();
  void handler_threw(const std::string& what);
  void start_active();

 private:
  // Without waiting: decrypts what the engine holds, or reads what the kernel has (when the
  // last read filled its buffer), into the decoder or `raw`.
  enum class fill_status { progressed, wait, failed };
  fill_status fill_now(bool raw_mode, std::error_code& ec);
  // Feeds bytes just read to the framing, through the engine for TLS.
  std::error_code take_in(std::span<const std::uint8_t> bytes, bool raw_mode);
  std::error_code decrypt_buffered(bool raw_mode);
  std::span<std::uint8_t> plain_prepare(bool raw_mode, std::size_t n);
  void plain_commit(bool raw_mode, std::size_t prepared, std::size_t n);
  // The transport ended: the error every later read returns (closed after close_notify).
  std::error_code end_of_stream();
  // Encrypts one frame into the engine's output.
  std::error_code encrypt(std::span<const std::uint8_t> header, std::span<const std::uint8_t> data);
  // The shared timer (see the file comment).
  void arm(clock::time_point deadline);
  void on_timer(boost::system::error_code ec, clock::time_point fired_for);
  // Writes `inflight` out; the write deadline or the caller's cancellation close the
  // connection (a record may be half-written).
  asio::awaitable<boost::system::error_code> write_inflight();
};

}  // namespace moat::tls
