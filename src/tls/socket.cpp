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
#include "tls/socket_state.hpp"

namespace moat::tls {

using asio::awaitable;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
using detail::with_timeout;
namespace {
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

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

socket::state::state(asio::ip::tcp::socket tcp_socket, const context& c, std::string name,
                     std::string key, socket_options o)
    : io(std::in_place_type<stream<>>, std::move(tcp_socket), c, std::move(name), std::move(key)),
      ctx(c),
      opts(o),
      dec(framing::options{o.packet, o.packet_size}),
      timer(tcp().get_executor()) {
  // A socket that cannot take its options here (e.g. the peer is already gone) fails its
  // handshake next, which reports why.
  (void)apply_socket_options();
}

socket::state::state(asio::ip::tcp::socket tcp_socket, socket_options o)
    : io(std::in_place_type<asio::ip::tcp::socket>, std::move(tcp_socket)),
      opts(o),
      dec(framing::options{o.packet, o.packet_size}),
      timer(tcp().get_executor()),
      handshake_done(true) {
  // The data path reads and writes synchronously until the kernel says "would block".
  boost::system::error_code ignored;
  tcp().non_blocking(true, ignored);
  (void)apply_socket_options();
}

std::error_code socket::state::apply_socket_options() {
  // The waiting read's buffer (not while a read holds it: then at the next option change).
  const std::size_t want = opts.wait_buffer > wait_buf.size() ? opts.wait_buffer : 0;
  if (!read_waiting && want != wait_big.size()) std::vector<std::uint8_t>(want).swap(wait_big);
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

void socket::state::close_transport() noexcept {
  closed = true;
  boost::system::error_code ignored;
  tcp().close(ignored);
  timer.cancel();
  timer_at = never;
  send_waiters.notify_all(asio::error::not_connected);
}

void socket::state::pass_send_turn() {
  if (!send_waiters.notify_one()) sending = false;
}

// close_notify, an alert or a KeyUpdate: produced under the send turn, after the messages
// queued before it, and written out within `timeout`.
template <class Step>
awaitable<std::error_code> socket::state::send_control(Step step,
                                                       std::chrono::milliseconds timeout) {
  auto* t = tls();
  if (t == nullptr || closed) co_return make_error_code(errc::not_connected);
  const auto deadline =
      timeout < std::chrono::milliseconds::zero() ? never : clock::now() + timeout;
  if (auto ec = co_await take_send_turn(deadline)) co_return ec;
  std::error_code ec;
  step(t->engine(), ec);
  write_deadline = deadline;
  if (!ec) ec = co_await flush();
  pass_send_turn();
  co_return ec;
}

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

socket socket::plain(asio::ip::tcp::socket tcp, socket_options opts,
                     std::span<const std::uint8_t> received) {
  auto st = std::make_shared<state>(std::move(tcp), opts);
  if (!received.empty()) {
    if (opts.packet == framing::packet_mode::raw) {
      st->raw.assign(received.begin(), received.end());
    } else {
      st->dec.feed(received);
    }
  }
  return socket(std::move(st));
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
  st->tls()->shrink();
  st->start_active();
  co_return std::error_code{};
}

awaitable<std::error_code> socket::send(std::string_view data) {
  co_return co_await send(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

awaitable<std::error_code> socket::send(std::span<const std::uint8_t> data) {
  auto st = st_;
  if (!st) co_return make_error_code(errc::not_connected);
  co_return co_await st->send_message(data);
}

awaitable<result<std::span<const std::uint8_t>>> socket::recv_view(
    std::size_t length, std::chrono::milliseconds timeout) {
  if (!st_)
    return []() -> awaitable<result<std::span<const std::uint8_t>>> {
      co_return make_error_code(errc::not_connected);
    }();
  return state::read_message(st_, length, timeout, true);  // no frame of its own
}

awaitable<result<std::vector<std::uint8_t>>> socket::recv(std::size_t length,
                                                          std::chrono::milliseconds timeout) {
  auto r = co_await recv_view(length, timeout);
  if (!r) co_return r.error();
  co_return std::vector<std::uint8_t>(r->begin(), r->end());
}

awaitable<void> socket::close(std::chrono::milliseconds timeout) {
  auto st = st_;
  if (!st) co_return;
  if (!st->closed && st->handshake_done && st->tls() != nullptr) {
    (void)co_await st->send_control([](detail::engine& e, std::error_code& ec) { e.shutdown(ec); },
                                    timeout);
  }
  st->close_transport();
}

awaitable<void> socket::abort(std::error_code reason) {
  auto st = st_;
  if (!st) co_return;
  if (!st->closed && st->tls() != nullptr && st->tcp().is_open()) {
    if (st->handshake_done) {
      (void)co_await st->send_control(
          [reason](detail::engine& e, std::error_code&) { e.abort(reason); },
          std::chrono::seconds(1));
    } else {
      co_await with_timeout(st->tls()->async_abort(reason, tuple_awaitable),
                            std::chrono::seconds(1));
    }
  }
  st->close_transport();
}

awaitable<std::error_code> socket::shutdown(shutdown_how how) {
  auto st = st_;
  if (!st || st->closed) co_return make_error_code(errc::not_connected);
  if (how != shutdown_how::read && st->handshake_done && st->tls() != nullptr) {
    if (auto sec = co_await st->send_control(
            [](detail::engine& e, std::error_code& ec) { e.shutdown(ec); }, infinity)) {
      co_return sec;
    }
  }
  const auto what = how == shutdown_how::read    ? asio::socket_base::shutdown_receive
                    : how == shutdown_how::write ? asio::socket_base::shutdown_send
                                                 : asio::socket_base::shutdown_both;
  boost::system::error_code ec;
  st->tcp().shutdown(what, ec);
  co_return to_std(ec);
}

awaitable<std::error_code> socket::update_keys(bool request_peer) {
  auto st = st_;
  if (!st || st->closed || !st->handshake_done) co_return make_error_code(errc::not_connected);
  if (st->tls() == nullptr) co_return make_error_code(errc::wrong_mode);
  co_return co_await st->send_control(
      [request_peer](detail::engine& e, std::error_code& ec) { e.key_update(request_peer, ec); },
      infinity);
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
  if (o.active.mode != framing::delivery::passive && (!st_->handler || !st_->handler->on_data)) {
    return make_error_code(errc::wrong_mode);
  }
  auto& st = *st_;
  if (o.packet != st.opts.packet || o.packet_size != st.opts.packet_size) {
    // Bytes already buffered stay: hand them to the new decoder.
    std::vector<std::uint8_t> carry;
    carry.swap(st.raw);
    const auto framed = st.dec.buffered_bytes();
    carry.insert(carry.end(), framed.begin(), framed.end());
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
  if (st_) st_->handler = std::make_unique<active_handler>(std::move(h));
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

asio::ip::tcp::acceptor listen_socket::bind(asio::any_io_executor ex,
                                            const asio::ip::tcp::endpoint& ep,
                                            const listen_options& opts) {
  asio::ip::tcp::acceptor a(std::move(ex));
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
  return a;
}

listen_socket listen_socket::listen(asio::any_io_executor ex, const asio::ip::tcp::endpoint& ep,
                                    const context& ctx, listen_options opts) {
  if (ctx.side() != role::server) {
    throw config_error("listen", make_error_code(errc::invalid_option),
                       "the context was built for the client role");
  }
  auto a = bind(std::move(ex), ep, opts);
  return listen_socket(std::move(a), ctx, std::move(opts));
}

listen_socket listen_socket::listen_plain(asio::any_io_executor ex,
                                          const asio::ip::tcp::endpoint& ep, listen_options opts) {
  auto a = bind(std::move(ex), ep, opts);
  return listen_socket(std::move(a), std::nullopt, std::move(opts));
}

awaitable<result<socket>> listen_socket::transport_accept() {
  auto [ec, tcp] = co_await acceptor_.async_accept(tuple_awaitable);
  if (ec) co_return to_std(ec);
  if (!ctx_) co_return socket::plain(std::move(tcp), opts_.accepted);
  co_return socket(std::make_shared<socket::state>(std::move(tcp), *ctx_, std::string{},
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
