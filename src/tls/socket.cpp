// The ssl-like socket: framing and delivery modes over tls::stream.
#include <fmt/format.h>
#include <spdlog/logger.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <moat/error.hpp>
#include <moat/log.hpp>
#include <moat/tls/detail/waiter_queue.hpp>
#include <moat/tls/detail/with_timeout.hpp>
#include <moat/tls/socket.hpp>
#include <variant>

#include "tls/context_state.hpp"

namespace moat::tls {

using asio::awaitable;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
using detail::with_timeout;
namespace {
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;

std::error_code to_std(const boost::system::error_code& ec) {
  return ec;
}

// Resolves and connects within `timeout`.
awaitable<result<asio::ip::tcp::socket>> connect_tcp(asio::any_io_executor ex,
                                                     const std::string& host, std::uint16_t port,
                                                     std::chrono::milliseconds timeout) {
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(host, std::to_string(port), tuple_awaitable);
  if (rec) co_return to_std(rec);
  asio::ip::tcp::socket tcp(ex);
  auto r = co_await with_timeout(asio::async_connect(tcp, endpoints, tuple_awaitable), timeout);
  if (!r) co_return make_error_code(errc::connect_timeout);
  if (auto [cec, ep] = *r; cec) co_return to_std(cec);
  co_return tcp;
}

}  // namespace

struct socket::state : std::enable_shared_from_this<state> {
  // TLS, or plain TCP (EPMD, plain-TCP distribution): the same framing and delivery.
  std::variant<stream<>, asio::ip::tcp::socket> io;
  std::optional<context> ctx;  // TLS only
  socket_options opts;
  framing::decoder dec;
  std::vector<std::uint8_t> raw;                     // raw-mode buffer
  std::optional<std::vector<std::uint8_t>> pending;  // a frame read after active turned off
  active_handler handler;
  detail::waiter_queue send_waiters;  // senders queued behind the one sending
  std::vector<std::uint8_t> send_buf;
  bool handshake_done = false;
  bool closed = false;
  bool sending = false;
  bool reading = false;
  bool active_running = false;
  bool owner_gone = false;

  state(asio::ip::tcp::socket tcp, const context& c, std::string name, std::string key,
        socket_options o)
      : io(std::in_place_type<stream<>>, std::move(tcp), c, std::move(name), std::move(key)),
        ctx(c),
        opts(o),
        dec(framing::options{o.packet, o.packet_size}) {
    // A socket that cannot take its options here (e.g. the peer is already gone) fails its
    // handshake next, which reports why.
    (void)apply_socket_options();
  }

  // Plain TCP: nothing to negotiate, ready at once.
  state(asio::ip::tcp::socket tcp_socket, socket_options o)
      : io(std::in_place_type<asio::ip::tcp::socket>, std::move(tcp_socket)),
        opts(o),
        dec(framing::options{o.packet, o.packet_size}),
        handshake_done(true) {
    (void)apply_socket_options();
  }

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

  // The transport's I/O, TLS or plain; each returns the operation's own awaitable.
  [[nodiscard]] bool transport_buffered() const {
    const auto* t = tls();
    return t != nullptr && (t->engine().has_pending_input() || t->engine().at_eof());
  }
  awaitable<std::tuple<boost::system::error_code>> wait_input() {
    if (auto* t = tls()) return t->async_wait_input(tuple_awaitable);
    return tcp().async_wait(asio::ip::tcp::socket::wait_read, tuple_awaitable);
  }
  awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(asio::mutable_buffer b) {
    if (auto* t = tls()) return t->async_read_some(b, tuple_awaitable);
    return tcp().async_read_some(b, tuple_awaitable);
  }
  awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(asio::const_buffer b) {
    if (auto* t = tls()) return asio::async_write(*t, b, tuple_awaitable);
    return asio::async_write(tcp(), b, tuple_awaitable);
  }

  // The first failure, if any (all options are still tried).
  std::error_code apply_socket_options() {
    auto& s = tcp();
    boost::system::error_code first;
    auto set = [&](const auto& option) {
      boost::system::error_code ec;
      s.set_option(option, ec);
      if (ec && !first) first = ec;
    };
    set(asio::ip::tcp::no_delay(opts.nodelay));
    set(asio::socket_base::keep_alive(opts.keepalive));
    if (opts.sndbuf > 0) set(asio::socket_base::send_buffer_size(opts.sndbuf));
    if (opts.recbuf > 0) set(asio::socket_base::receive_buffer_size(opts.recbuf));
    return to_std(first);
  }

  // Closes the TCP connection at once; queued senders fail.
  void close_transport() noexcept {
    closed = true;
    boost::system::error_code ignored;
    tcp().close(ignored);
    send_waiters.notify_all(asio::error::not_connected);
  }

  // The sender that finishes hands the turn to the next one queued (or frees it).
  void pass_send_turn() {
    if (!send_waiters.notify_one()) sending = false;
  }

  // The next message in the current framing (or raw bytes).
  awaitable<result<std::vector<std::uint8_t>>> read_message(std::size_t length,
                                                            std::chrono::milliseconds timeout) {
    if (pending) {
      auto f = std::move(*pending);
      pending.reset();
      co_return f;
    }
    if (closed) co_return make_error_code(errc::not_connected);
    const bool raw_mode = opts.packet == framing::packet_mode::raw;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool readable = false;
    for (;;) {
      auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (timeout < std::chrono::milliseconds::zero()) {
        remaining = infinity;
      } else if (remaining.count() <= 0) {
        remaining = std::chrono::milliseconds(0);
      }
      const bool nothing_buffered = raw_mode ? raw.empty() : dec.buffered() == 0;
      if (nothing_buffered && !readable && !transport_buffered()) {
        // Idle: wait for bytes before taking a buffer, and give back the one we had, so a
        // connection waiting for its next message holds no read buffer.
        if (!raw_mode) dec.shrink_to_fit();
        auto w = co_await with_timeout(wait_input(), remaining);
        if (!w) co_return make_error_code(errc::recv_timeout);
        if (auto [wec] = *w; wec) {
          closed = true;
          co_return to_std(wec);
        }
        readable = true;  // plain TCP: the bytes are in the kernel; read them next
        continue;
      }
      readable = false;
      std::span<std::uint8_t> buf;
      if (raw_mode) {
        if (!raw.empty() && (length == 0 || raw.size() >= length)) {
          const std::size_t k = length == 0 ? raw.size() : length;
          std::vector<std::uint8_t> out(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(k));
          raw.erase(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(k));
          if (raw.empty()) std::vector<std::uint8_t>().swap(raw);
          co_return out;
        }
        const std::size_t want =
            length == 0 ? kReadChunk : std::min(kReadChunk, length - raw.size());
        const std::size_t old = raw.size();
        raw.resize(old + want);
        buf = {raw.data() + old, want};
      } else {
        std::error_code ec;
        if (auto f = dec.next(ec)) co_return std::vector<std::uint8_t>(f->begin(), f->end());
        if (ec) {
          // A malformed or oversized frame: the stream can't be resynchronised. Close it; the
          // error says why (the listener logs it as the connection's end, rate-limited).
          close_transport();
          co_return ec;
        }
        // One TLS record at a time; the buffer is given back when the connection goes idle.
        buf = dec.prepare(kReadChunk);
      }
      auto r = co_await with_timeout(read_some(asio::buffer(buf.data(), buf.size())), remaining);
      std::size_t n = 0;
      boost::system::error_code bec;
      if (r) std::tie(bec, n) = *r;
      if (raw_mode) {
        raw.resize(raw.size() - buf.size() + n);
      } else {
        dec.commit(n);
      }
      if (!r) co_return make_error_code(errc::recv_timeout);
      if (bec) {
        if (raw_mode && !raw.empty() && length == 0) continue;  // deliver what we have first
        closed = true;
        if (bec == asio::error::eof) co_return make_error_code(errc::closed);
        co_return to_std(bec);
      }
      if (n > 0 && tls() != nullptr) tls()->engine().shrink();
    }
  }

  // Active delivery: read and hand messages to the handler until the mode turns passive.
  static awaitable<void> active_loop(std::shared_ptr<state> self) {
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

  awaitable<void> deliver() {
    while (!owner_gone && opts.active.mode != framing::delivery::passive) {
      auto r = co_await read_message(0, infinity);
      if (owner_gone) break;
      if (!r) {
        if (r.error() == std::error_code(errc::closed)) {
          if (handler.on_closed) handler.on_closed();
        } else if (handler.on_error) {
          handler.on_error(r.error());
        }
        break;
      }
      if (opts.active.mode == framing::delivery::passive) {
        pending = std::move(*r);  // turned passive while we were reading
        break;
      }
      if (handler.on_data) handler.on_data(*r);
      if (opts.active.mode == framing::delivery::once) {
        opts.active.mode = framing::delivery::passive;
      } else if (opts.active.mode == framing::delivery::count && --opts.active.count == 0) {
        opts.active.mode = framing::delivery::passive;
        if (handler.on_passive) handler.on_passive();
      }
    }
  }

  // An active-mode callback threw: like an Erlang owner process that crashed, the
  // connection ends -- loudly: the peer gets internal_error, the log one line.
  void handler_threw(const std::string& what) {
    boost::system::error_code pec;
    const auto peer = tcp().remote_endpoint(pec);
    // The context's logger (a plain TCP socket has no context: the default one).
    const auto log = ctx ? ctx->logger() : default_logger();
    log->error(
        "tls: the active-mode handler of the connection with {} threw: {}; closing it (alert "
        "sent: internal_error)",
        pec ? std::string("?") : fmt::format("{}:{}", peer.address().to_string(), peer.port()),
        what);
    if (auto* t = tls(); t != nullptr && !closed && handshake_done && !sending) {
      (void)t->engine().abort(make_error_code(errc::handler_failed));
      const auto out = t->engine().output();
      boost::system::error_code wec;
      tcp().write_some(asio::buffer(out.data(), out.size()), wec);  // best effort
      t->engine().consume_output(out.size());
    }
    close_transport();
  }

  void start_active() {
    if (active_running || !handshake_done || closed) return;
    if (opts.active.mode == framing::delivery::passive) return;
    asio::co_spawn(tcp().get_executor(), active_loop(shared_from_this()), asio::detached);
  }
};

socket::socket(std::shared_ptr<state> st) noexcept : st_(std::move(st)) {}
socket::socket(socket&&) noexcept = default;
socket& socket::operator=(socket&& other) noexcept {
  if (this != &other) {
    if (st_) {
      st_->owner_gone = true;
      st_->close_transport();
    }
    st_ = std::move(other.st_);
  }
  return *this;
}
socket::~socket() {
  if (st_) {
    st_->owner_gone = true;
    st_->close_transport();
  }
}

awaitable<result<socket>> socket::connect(asio::any_io_executor ex, std::string host,
                                          std::uint16_t port, const context& ctx,
                                          std::chrono::milliseconds timeout, socket_options opts) {
  const auto start = std::chrono::steady_clock::now();
  auto connected = co_await connect_tcp(ex, host, port, timeout);
  if (!connected) co_return connected.error();
  auto tcp = std::move(*connected);
  // The state, not opts(): opts() copies every option (callbacks included) per call.
  const auto cfg = ctx.state();
  const auto& o = cfg->opts;
  std::string name = o.server_name_indication.empty() ? host : o.server_name_indication;
  auto st =
      std::make_shared<state>(std::move(tcp), ctx, name, fmt::format("{}:{}", name, port), opts);
  socket s(std::move(st));
  auto left = timeout;
  if (timeout >= std::chrono::milliseconds::zero()) {
    left = std::max(std::chrono::milliseconds(1),
                    timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - start));
  }
  if (auto ec = co_await s.handshake(left)) co_return ec;
  co_return std::move(s);
}

socket socket::upgrade(asio::ip::tcp::socket tcp, const context& ctx, std::string server_name,
                       socket_options opts) {
  std::string key;
  if (ctx.side() == role::client && !server_name.empty()) {
    boost::system::error_code ec;
    auto ep = tcp.remote_endpoint(ec);
    if (!ec) key = fmt::format("{}:{}", server_name, ep.port());
  }
  return socket(
      std::make_shared<state>(std::move(tcp), ctx, std::move(server_name), std::move(key), opts));
}

socket socket::plain(asio::ip::tcp::socket tcp, socket_options opts) {
  return socket(std::make_shared<state>(std::move(tcp), opts));
}

awaitable<result<socket>> socket::connect_plain(asio::any_io_executor ex, std::string host,
                                                std::uint16_t port,
                                                std::chrono::milliseconds timeout,
                                                socket_options opts) {
  auto tcp = co_await connect_tcp(ex, host, port, timeout);
  if (!tcp) co_return tcp.error();
  co_return plain(std::move(*tcp), opts);
}

awaitable<std::error_code> socket::handshake(std::chrono::milliseconds timeout) {
  auto st = st_;
  if (!st || st->closed) co_return make_error_code(errc::not_connected);
  if (st->tls() == nullptr) co_return std::error_code{};  // plain TCP: nothing to negotiate
  if (timeout < std::chrono::milliseconds::zero()) {
    timeout = st->ctx->state()->opts.handshake_timeout;
  }
  auto r = co_await with_timeout(st->tls()->async_handshake(tuple_awaitable), timeout);
  std::error_code ec;
  if (!r) {
    ec = make_error_code(errc::handshake_timeout);
  } else if (auto [hec] = *r; hec) {
    ec = hec == asio::error::eof ? make_error_code(errc::closed) : to_std(hec);
  }
  if (ec) {
    st->close_transport();
    co_return ec;
  }
  st->handshake_done = true;
  st->tls()->engine().shrink();
  st->start_active();
  co_return std::error_code{};
}

awaitable<std::error_code> socket::send(std::string_view data) {
  co_return co_await send(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

awaitable<std::error_code> socket::send(std::span<const std::uint8_t> data) {
  auto st = st_;
  if (!st || st->closed || !st->handshake_done) co_return make_error_code(errc::not_connected);
  // One message at a time, so concurrent senders never interleave records. A sender that
  // finds the socket busy queues up and is handed the turn when the one before it is done.
  if (st->sending) {
    auto [wec] =
        co_await detail::async_wait_in(st->send_waiters, st->tcp().get_executor(), tuple_awaitable);
    if (wec) co_return make_error_code(errc::not_connected);
    if (st->closed) {
      st->pass_send_turn();
      co_return make_error_code(errc::not_connected);
    }
  }
  st->sending = true;
  std::error_code ec;
  std::vector<std::uint8_t>& buf = st->send_buf;
  buf.clear();
  ec = framing::encode(framing::options{st->opts.packet, st->opts.packet_size}, data, buf);
  if (!ec) {
    const auto limit = st->opts.send_timeout.count() > 0 ? st->opts.send_timeout : infinity;
    auto r = co_await with_timeout(st->write_all(asio::buffer(buf)), limit);
    if (!r) {
      // A record may be half-written: the stream cannot go on, so it is closed.
      st->close_transport();
      ec = make_error_code(errc::send_timeout);
    } else if (auto [wec, n] = *r; wec) {
      ec = to_std(wec);
    }
  }
  if (buf.capacity() > 64 * 1024) std::vector<std::uint8_t>().swap(buf);
  st->pass_send_turn();
  co_return ec;
}

awaitable<result<std::vector<std::uint8_t>>> socket::recv(std::size_t length,
                                                          std::chrono::milliseconds timeout) {
  auto st = st_;
  if (!st || !st->handshake_done) co_return make_error_code(errc::not_connected);
  if (st->opts.active.mode != framing::delivery::passive || st->active_running) {
    co_return make_error_code(errc::wrong_mode);
  }
  if (st->reading) co_return make_error_code(errc::operation_in_progress);
  st->reading = true;
  auto r = co_await st->read_message(length, timeout);
  st->reading = false;
  co_return r;
}

awaitable<void> socket::close(std::chrono::milliseconds timeout) {
  auto st = st_;
  if (!st) co_return;
  if (!st->closed && st->handshake_done && st->tls() != nullptr) {
    co_await with_timeout(st->tls()->async_shutdown(tuple_awaitable), timeout);
  }
  st->close_transport();
}

awaitable<void> socket::abort(std::error_code reason) {
  auto st = st_;
  if (!st) co_return;
  if (!st->closed && st->tls() != nullptr && st->tcp().is_open()) {
    co_await with_timeout(st->tls()->async_abort(reason, tuple_awaitable), std::chrono::seconds(1));
  }
  st->close_transport();
}

awaitable<std::error_code> socket::shutdown(shutdown_how how) {
  auto st = st_;
  if (!st || st->closed) co_return make_error_code(errc::not_connected);
  boost::system::error_code ec;
  if (how != shutdown_how::read && st->handshake_done && st->tls() != nullptr) {
    auto [sec] = co_await st->tls()->async_shutdown(tuple_awaitable);
    if (sec) co_return to_std(sec);
  }
  const auto what = how == shutdown_how::read    ? asio::socket_base::shutdown_receive
                    : how == shutdown_how::write ? asio::socket_base::shutdown_send
                                                 : asio::socket_base::shutdown_both;
  st->tcp().shutdown(what, ec);
  co_return to_std(ec);
}

awaitable<std::error_code> socket::update_keys(bool request_peer) {
  auto st = st_;
  if (!st || st->closed || !st->handshake_done) co_return make_error_code(errc::not_connected);
  if (st->tls() == nullptr) co_return make_error_code(errc::wrong_mode);
  auto [ec] = co_await st->tls()->async_key_update(request_peer, tuple_awaitable);
  co_return to_std(ec);
}

result<connection_info> socket::connection_information() const {
  if (!st_ || !st_->handshake_done) return make_error_code(errc::not_connected);
  if (st_->tls() == nullptr) return make_error_code(errc::wrong_mode);
  return st_->tls()->engine().info();
}

std::optional<pki::certificate> socket::peer_certificate() const {
  auto chain = peer_certificates();
  if (chain.empty()) return std::nullopt;
  return chain.front();
}

std::vector<pki::certificate> socket::peer_certificates() const {
  if (!st_ || !st_->handshake_done) return {};
  if (st_->tls() == nullptr) return {};
  return st_->tls()->engine().peer_certificates();
}

result<asio::ip::tcp::endpoint> socket::peername() const {
  if (!st_) return make_error_code(errc::not_connected);
  boost::system::error_code ec;
  auto ep = st_->tcp().remote_endpoint(ec);
  if (ec) return to_std(ec);
  return ep;
}

result<asio::ip::tcp::endpoint> socket::sockname() const {
  if (!st_) return make_error_code(errc::not_connected);
  boost::system::error_code ec;
  auto ep = st_->tcp().local_endpoint(ec);
  if (ec) return to_std(ec);
  return ep;
}

const socket_options& socket::getopts() const noexcept {
  static const socket_options none{};
  return st_ ? st_->opts : none;
}

std::error_code socket::setopts(const socket_options& o) {
  if (!st_) return make_error_code(errc::not_connected);
  if (o.active.mode != framing::delivery::passive && !st_->handler.on_data) {
    return make_error_code(errc::wrong_mode);
  }
  auto& st = *st_;
  if (o.packet != st.opts.packet || o.packet_size != st.opts.packet_size) {
    // Bytes already buffered stay: hand them to the new decoder.
    std::vector<std::uint8_t> carry;
    carry.swap(st.raw);
    st.dec = framing::decoder(framing::options{o.packet, o.packet_size});
    if (!carry.empty()) {
      if (o.packet == framing::packet_mode::raw) {
        st.raw = std::move(carry);
      } else {
        st.dec.feed(carry);
      }
    }
  }
  st.opts = o;
  const auto ec = st.apply_socket_options();
  st.start_active();
  return ec;
}

void socket::set_handler(active_handler h) {
  if (st_) st_->handler = std::move(h);
}
bool socket::is_open() const noexcept {
  return st_ && !st_->closed && st_->tcp().is_open();
}
socket::state& socket::checked() const {
  if (!st_) throw std::logic_error("moat::tls::socket: used after it was moved from");
  return *st_;
}
stream<>& socket::tls_stream() {
  auto* t = checked().tls();
  if (t == nullptr)
    throw std::logic_error("moat::tls::socket: a plain TCP socket has no TLS stream");
  return *t;
}
bool socket::is_tls() const noexcept {
  return st_ && st_->tls() != nullptr;
}
asio::any_io_executor socket::get_executor() const {
  return checked().tcp().get_executor();
}

listen_socket listen_socket::listen(asio::any_io_executor ex, const asio::ip::tcp::endpoint& ep,
                                    const context& ctx, listen_options opts) {
  if (ctx.side() != role::server) {
    throw config_error("listen", make_error_code(errc::invalid_option),
                       "the context was built for the client role");
  }
  asio::ip::tcp::acceptor a(ex);
  boost::system::error_code ec;
  auto check = [&](const char* what) {
    if (ec) {
      throw std::system_error(to_std(ec), fmt::format("listen on {}:{}: {}",
                                                      ep.address().to_string(), ep.port(), what));
    }
  };
  a.open(ep.protocol(), ec);
  check("open");
  a.set_option(asio::socket_base::reuse_address(true), ec);
  if (opts.reuse_port) {
    const int one = 1;
    if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      ec.assign(errno, boost::system::system_category());
      check("SO_REUSEPORT");
    }
  }
  if (ep.address().is_v6()) a.set_option(asio::ip::v6_only(true), ec);
  a.bind(ep, ec);
  check("bind");
  a.listen(opts.backlog, ec);
  check("listen");
  return listen_socket(std::move(a), ctx, std::move(opts));
}

awaitable<result<socket>> listen_socket::transport_accept() {
  auto [ec, tcp] = co_await acceptor_.async_accept(tuple_awaitable);
  if (ec) co_return to_std(ec);
  co_return socket(std::make_shared<socket::state>(std::move(tcp), ctx_, std::string{},
                                                   std::string{}, opts_.accepted));
}

asio::ip::tcp::endpoint listen_socket::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void listen_socket::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

}  // namespace moat::tls
