#pragma once
/// @file
/// `tls::stream<NextLayer>`: a TLS stream over any Asio AsyncStream (a TCP socket,
/// `beast::tcp_stream` with its own timeouts, ...) that is itself an AsyncStream, so Beast and
/// any Asio composed operation run over it unchanged. A thin driver of the I/O-free
/// `detail::engine`: it does the I/O the engine asks for and nothing else.

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <concepts>
#include <exception>
#include <memory>
#include <moat/tls/context.hpp>
#include <moat/tls/detail/engine.hpp>
#include <moat/tls/errors.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace moat::tls {

namespace asio = boost::asio;

namespace detail {
/// A next layer that can say when it is readable and then be read without blocking (an Asio
/// stream socket): the stream then waits for readiness before it takes a read buffer, so an
/// idle connection holds none. Any other AsyncReadStream is read with async_read_some.
template <class T>
concept readiness_socket = requires(T& t, boost::system::error_code& ec) {
  t.non_blocking(true, ec);
  { t.available(ec) } -> std::convertible_to<std::size_t>;
  t.read_some(asio::mutable_buffer(), ec);
  T::wait_read;
};
}  // namespace detail

/// A TLS stream. Like asio::ssl::stream: at most one read-side operation (handshake, read)
/// and one write-side operation (write, shutdown) outstanding at a time, from one strand.
/// Not thread-safe. End of stream after the peer's close_notify completes reads with
/// `asio::error::eof`; a TCP close without close_notify with `tls::errc::truncated`.
/// Cancelling an operation (per-operation cancellation, e.g. a timeout) while it waits for
/// the peer leaves the stream intact; cancelling it while it writes records closes the TCP
/// connection, since the peer may have received part of a record.
/// A server handshake whose context has a certificate selector (options::select_certificate)
/// runs it on this stream's executor once the ClientHello has arrived; cancelling the
/// handshake meanwhile cancels what the selector waits for, and the handshake completes with
/// `operation_aborted` when the selector has returned.
template <class NextLayer = asio::ip::tcp::socket>
class stream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename next_layer_type::executor_type;

  /// Takes ownership of a connected next layer (e.g. a TCP socket or a beast::tcp_stream).
  /// @param server_name client: SNI and the name verified (empty: no name check).
  /// @param session_key client: key into the context's session cache ("host:port").
  stream(next_layer_type next, const context& ctx, std::string server_name = {},
         std::string session_key = {})
      : socket_(std::move(next)),
        engine_(
            std::make_unique<detail::engine>(ctx, std::move(server_name), std::move(session_key))),
        write_wait_(socket_.get_executor()) {
    if constexpr (detail::readiness_socket<next_layer_type>) {
      // Reads are done synchronously once the socket is readable (see io_op). A socket that
      // is not open fails its first operation instead.
      boost::system::error_code ignored;
      socket_.non_blocking(true, ignored);
    }
  }

  [[nodiscard]] executor_type get_executor() noexcept { return socket_.get_executor(); }
  [[nodiscard]] next_layer_type& next_layer() noexcept { return socket_; }
  [[nodiscard]] const next_layer_type& next_layer() const noexcept { return socket_; }
  [[nodiscard]] detail::engine& engine() noexcept { return *engine_; }
  [[nodiscard]] const detail::engine& engine() const noexcept { return *engine_; }

  /// Gives back the buffers an idle stream does not need (e.g. after the handshake, whose
  /// flights are larger than anything that follows).
  void shrink() noexcept {
    std::vector<std::uint8_t>().swap(write_buf_);
    engine_->shrink();
  }

  /// Performs the TLS handshake. Completion: void(boost::system::error_code).
  template <class Token>
  auto async_handshake(Token&& token) {
    return run<void(boost::system::error_code)>(handshake_step{}, std::forward<Token>(token));
  }

  /// Reads some decrypted bytes. Completion: void(boost::system::error_code, std::size_t).
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    asio::mutable_buffer buf = first_non_empty(buffers);
    return run<void(boost::system::error_code, std::size_t)>(
        [buf](detail::engine& e, std::error_code& ec, std::size_t& n) {
          if (buf.size() == 0) {
            ec.clear();
            return detail::want::nothing;
          }
          return e.read({static_cast<std::uint8_t*>(buf.data()), buf.size()}, n, ec);
        },
        std::forward<Token>(token));
  }

  /// Completes when a read can make progress without waiting: received bytes are buffered
  /// (or the peer closed), without taking a read buffer from the caller. Lets a reader
  /// allocate its buffer only once data is there, so idle connections hold none.
  /// Completion: void(boost::system::error_code).
  template <class Token>
  auto async_wait_input(Token&& token) {
    return run<void(boost::system::error_code)>(
        [](detail::engine& e, std::error_code& ec, std::size_t&) {
          ec.clear();
          return e.has_pending_input() || e.at_eof() ? detail::want::nothing
                                                     : detail::want::input_and_retry;
        },
        std::forward<Token>(token));
  }

  /// Encrypts and sends some bytes (at most one TLS record).
  /// Completion: void(boost::system::error_code, std::size_t).
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    asio::const_buffer buf = first_non_empty(buffers);
    return run<void(boost::system::error_code, std::size_t)>(
        [buf](detail::engine& e, std::error_code& ec, std::size_t& n) {
          if (buf.size() == 0) {
            ec.clear();
            return detail::want::nothing;
          }
          return e.write({static_cast<const std::uint8_t*>(buf.data()), buf.size()}, n, ec);
        },
        std::forward<Token>(token));
  }

  /// Sends close_notify (closes the write side). Completion: void(boost::system::error_code).
  template <class Token>
  auto async_shutdown(Token&& token) {
    return run<void(boost::system::error_code)>(
        [](detail::engine& e, std::error_code& ec, std::size_t&) { return e.shutdown(ec); },
        std::forward<Token>(token));
  }

  /// Sends a fatal alert for `reason` (if it maps to one), e.g. after a handshake timeout or
  /// a handler failure. Completion: void(boost::system::error_code).
  template <class Token>
  auto async_abort(std::error_code reason, Token&& token) {
    return run<void(boost::system::error_code)>(
        [reason](detail::engine& e, std::error_code& ec, std::size_t&) {
          ec.clear();
          return e.abort(reason);
        },
        std::forward<Token>(token));
  }

  /// TLS 1.3 KeyUpdate. Completion: void(boost::system::error_code).
  template <class Token>
  auto async_key_update(bool request_peer, Token&& token) {
    return run<void(boost::system::error_code)>(
        [request_peer](detail::engine& e, std::error_code& ec, std::size_t&) {
          return e.key_update(request_peer, ec);
        },
        std::forward<Token>(token));
  }

 private:
  template <class Buffers>
  static auto first_non_empty(const Buffers& buffers) {
    auto it = asio::buffer_sequence_begin(buffers);
    const auto end = asio::buffer_sequence_end(buffers);
    using buffer_type = std::decay_t<decltype(*it)>;
    for (; it != end; ++it) {
      buffer_type b(*it);
      if (b.size() != 0) {
        if constexpr (std::is_convertible_v<buffer_type, asio::mutable_buffer>) {
          return asio::mutable_buffer(b);
        } else {
          return asio::const_buffer(b);
        }
      }
    }
    if constexpr (std::is_convertible_v<buffer_type, asio::mutable_buffer>) {
      return asio::mutable_buffer();
    } else {
      return asio::const_buffer();
    }
  }

  // The handshake's engine step: the only one that may want a certificate chosen.
  struct handshake_step {
    static constexpr bool selects_certificate = true;
    detail::want operator()(detail::engine& e, std::error_code& ec, std::size_t&) const {
      return e.handshake(ec);
    }
  };

  // The loop shared by every operation: run the engine step, do the I/O it wants, repeat.
  template <class Op, bool WithBytes>
  struct io_op {
    io_op(stream* st, Op o) : s(st), op(std::move(o)) {}
    stream* s;
    Op op;
    enum class phase { start, run, reading, writing, waiting, selecting, done } ph = phase::start;
    detail::want want = detail::want::nothing;
    std::error_code ec;
    std::size_t bytes = 0;
    bool waited = false;  // an asynchronous step has completed (we are not in the initiator)

    std::size_t got_ = 0;  // bytes the last async_read_some delivered (generic next layer)

    template <class Self>
    void operator()(Self& self, boost::system::error_code io_ec = {}, std::size_t n = 0) {
      if (ph != phase::start) waited = true;
      got_ = n;
      for (;;) {
        switch (ph) {
          case phase::start:
            ph = phase::run;
            [[fallthrough]];
          case phase::run:
            want = op(*s->engine_, ec, bytes);
            if constexpr (requires { Op::selects_certificate; }) {
              if (want == detail::want::certificate) {
                if (start_selection(self)) return;
                continue;  // the selector failed at once; the engine refuses the hello
              }
            }
            if (want == detail::want::input_and_retry) {
              ph = phase::reading;
              if constexpr (detail::readiness_socket<next_layer_type>) {
                // Wait for readability first and only then take a buffer, so an idle
                // connection holds no read buffer.
                s->socket_.async_wait(next_layer_type::wait_read, std::move(self));
              } else {
                auto in = s->engine_->prepare_input(kReadChunk);
                s->socket_.async_read_some(as_buffer(in), std::move(self));
              }
              return;
            }
            if (want == detail::want::nothing) {
              // Never complete inside the initiating call; once the operation has waited
              // for I/O, we are in a completion handler and may complete directly.
              if (waited) return complete(self, {});
              ph = phase::done;
              asio::post(s->socket_.get_executor(), std::move(self));
              return;
            }
            [[fallthrough]];  // output or output_and_retry
          case phase::waiting:
            if (ph == phase::waiting && io_ec && io_ec != asio::error::operation_aborted) {
              return complete(self, io_ec);
            }
            if (s->engine_->output().empty()) {
              // Another operation already wrote our bytes out with its own.
              if (want == detail::want::output) return complete(self, {});
              ph = phase::run;
              continue;
            }
            if (s->writing_) {
              ph = phase::waiting;
              s->write_wait_.async_wait(std::move(self));
              return;
            }
            s->writing_ = true;
            s->write_wait_.expires_at(asio::steady_timer::time_point::max());
            s->engine_->take_output(s->write_buf_);
            ph = phase::writing;
            asio::async_write(s->socket_, asio::buffer(s->write_buf_), std::move(self));
            return;
          case phase::writing:
            s->writing_ = false;
            s->write_wait_.cancel();
            if (io_ec) {
              // The engine's records are lost or half-written (the write failed or was
              // cancelled, e.g. by a timeout): the stream cannot go on, so it is closed -- a
              // stream is either intact or closed, never open and desynchronised.
              s->close_next_layer();
              return complete(self, io_ec);
            }
            if (want == detail::want::output) return complete(self, {});
            ph = phase::run;
            continue;
          case phase::reading: {
            if constexpr (detail::readiness_socket<next_layer_type>) {
              if (io_ec) return complete(self, io_ec);
              const std::size_t avail =
                  std::clamp<std::size_t>(s->socket_.available(io_ec), kMinRead, kReadChunk);
              auto buf = s->engine_->prepare_input(avail);
              const std::size_t got = s->socket_.read_some(as_buffer(buf), io_ec);
              s->engine_->commit_input(got);
              if (io_ec == asio::error::would_block || io_ec == asio::error::try_again) {
                s->socket_.async_wait(next_layer_type::wait_read, std::move(self));
                return;
              }
            } else {
              s->engine_->commit_input(got_);
            }
            if (io_ec == asio::error::eof) {
              s->engine_->input_eof();
            } else if (io_ec) {
              return complete(self, io_ec);
            }
            ph = phase::run;
            continue;
          }
          case phase::selecting:  // not reached: the selection completes below
          case phase::done:
            return complete(self, {});
        }
      }
    }

    // Runs the context's certificate selector on the ClientHello; its result comes back to
    // the overload below. False when it failed before it could start.
    template <class Self>
    bool start_selection(Self& self) {
      detail::engine& e = *s->engine_;
      asio::awaitable<std::optional<certificate_set>> selection;
      try {
        selection = e.selector()(e.hello());
        if (!selection.valid()) throw std::logic_error("the selector returned no awaitable");
      } catch (...) {
        e.fail_certificate(std::current_exception());
        return false;
      }
      ph = phase::selecting;
      asio::co_spawn(s->socket_.get_executor(), std::move(selection), std::move(self));
      return true;
    }

    // The certificate selector has returned (or thrown).
    template <class Self>
    void operator()(Self& self, std::exception_ptr failure, std::optional<certificate_set> chosen) {
      waited = true;
      if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none) {
        // The handshake was cancelled (e.g. its timeout) while the selector ran. The engine
        // still waits for a certificate: a new handshake call runs the selector again.
        return complete(self, asio::error::operation_aborted);
      }
      if (failure) {
        s->engine_->fail_certificate(failure);
      } else {
        s->engine_->use_certificate(std::move(chosen));
      }
      ph = phase::run;
      (*this)(self);
    }

    template <class Self>
    void complete(Self& self, boost::system::error_code io_ec) {
      boost::system::error_code out = io_ec ? io_ec : boost::system::error_code(ec);
      if (!io_ec && ec == std::error_code(tls::errc::closed)) out = asio::error::eof;
      if constexpr (WithBytes) {
        self.complete(out, bytes);
      } else {
        self.complete(out);
      }
    }

    static asio::mutable_buffer as_buffer(std::span<std::uint8_t> s) {
      return {s.data(), s.size()};
    }
  };

  // Closes the next layer (after a write was cut short).
  void close_next_layer() noexcept {
    if constexpr (requires(next_layer_type & n, boost::system::error_code & e) { n.close(e); }) {
      boost::system::error_code ignored;
      socket_.close(ignored);
    } else {
      try {
        socket_.close();
      } catch (...) {  // NOLINT(bugprone-empty-catch): closing is best effort here
      }
    }
  }

  template <class Signature, class Op, class Token>
  auto run(Op op, Token&& token) {
    constexpr bool with_bytes =
        std::is_same_v<Signature, void(boost::system::error_code, std::size_t)>;
    return asio::async_compose<Token, Signature>(io_op<Op, with_bytes>(this, std::move(op)), token,
                                                 socket_);
  }

  static constexpr std::size_t kReadChunk = 17 * 1024;
  static constexpr std::size_t kMinRead = 4096;

  next_layer_type socket_;
  std::unique_ptr<detail::engine> engine_;
  asio::steady_timer write_wait_;
  std::vector<std::uint8_t> write_buf_;
  bool writing_ = false;
};

}  // namespace moat::tls
