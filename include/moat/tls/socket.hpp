#pragma once
/// @file
/// The `ssl`-like socket API: listen, transport_accept, handshake, connect, send, recv,
/// close, shutdown, connection information, peer certificate, and getopts/setopts with
/// `{packet, N}` framing and active/passive delivery. C++20 coroutines on Asio.
///
/// Errors are values: operations return `std::error_code` or `tls::result<T>` (codes in
/// tls::errc, the alert category, framing::errc or the system category). Only configuration
/// mistakes throw (moat::config_error).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <moat/framing/framing.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/errors.hpp>
#include <moat/tls/stream.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::tls {

/// A value or the error that prevented it (Erlang's `{ok, V} | {error, Reason}`).
template <class T>
using result = boost::system::result<T, std::error_code>;

/// Waits forever (Erlang's `infinity`).
inline constexpr std::chrono::milliseconds infinity{-1};

/// Socket options (Erlang's `ssl:setopts/2` / `getopts/2`).
struct socket_options {
  framing::packet_mode packet = framing::packet_mode::raw;  ///< `{packet, N}`
  std::size_t packet_size = 0;    ///< max frame (0 = the mode's default limit)
  framing::active_mode active{};  ///< `{active, false | true | once | N}`
  bool nodelay = true;            ///< TCP_NODELAY
  bool keepalive = false;         ///< SO_KEEPALIVE
  int sndbuf = 0;                 ///< SO_SNDBUF (0 = system default)
  int recbuf = 0;                 ///< SO_RCVBUF (0 = system default)
  /// How long one send may wait for the peer to take its bytes (Erlang's send_timeout). When
  /// it passes, the connection is closed (a record may be half-written, so it cannot go on)
  /// and the send, and every send queued behind it, fails with errc::send_timeout or
  /// errc::not_connected. 0 = wait forever.
  std::chrono::milliseconds send_timeout{30000};
  /// The buffer a waiting read holds (bytes, at least 128): what arrives beyond it takes one
  /// more system call. Larger suits a connection of many small messages (e.g. distribution);
  /// every idle connection holds this much more.
  std::size_t wait_buffer = 128;
};

/// The messages of active delivery -- Erlang's `{ssl, S, Data}`, `{ssl_closed, S}`,
/// `{ssl_error, S, Reason}` and `{ssl_passive, S}`. Called on the socket's executor, one at
/// a time; while a callback runs nothing more is read, so a slow handler slows the peer
/// (TCP flow control) instead of growing memory.
struct active_handler {
  std::function<void(std::span<const std::uint8_t>)> on_data{};
  std::function<void()> on_closed{};
  std::function<void(std::error_code)> on_error{};
  std::function<void()> on_passive{};  ///< `{active, N}` ran out; the socket is passive now.
};

/// Which direction `shutdown` closes.
enum class shutdown_how { read, write, both };

/// A TLS connection. Movable handle; operations run on the socket's executor and are not
/// thread-safe (use one strand). Destroying the socket closes the TCP connection abruptly;
/// call close() first for a close_notify. A moved-from socket is empty: its operations fail
/// with errc::not_connected and its accessors report nothing (is_open() is false).
class socket {
 public:
  struct state;  // internal

  /// Connects over TCP, then performs the client handshake, both within `timeout`
  /// (Erlang's `ssl:connect/4`). The host name is sent as SNI and verified unless the
  /// context's options say otherwise.
  [[nodiscard]] static asio::awaitable<result<socket>> connect(
      asio::any_io_executor ex, std::string host, std::uint16_t port, const context& ctx,
      std::chrono::milliseconds timeout = infinity, socket_options opts = {});

  /// Wraps an already-connected TCP socket (STARTTLS) for the context's role; call
  /// handshake() next. `server_name` (client): SNI and the name verified.
  [[nodiscard]] static socket upgrade(asio::ip::tcp::socket tcp, const context& ctx,
                                      std::string server_name = {}, socket_options opts = {});

  /// The same framed socket over plain TCP, without TLS: framing, delivery modes,
  /// backpressure, the send queue and timeouts work alike (EPMD, plain-TCP distribution).
  /// Ready at once: handshake() is not needed (it returns success). TLS-only calls
  /// (connection_information, update_keys) return errc::wrong_mode. `received`: bytes
  /// already read from the connection (e.g. behind a PROXY header), delivered first.
  [[nodiscard]] static socket plain(asio::ip::tcp::socket tcp, socket_options opts = {},
                                    std::span<const std::uint8_t> received = {});
  /// Connects over plain TCP within `timeout`.
  [[nodiscard]] static asio::awaitable<result<socket>> connect_plain(
      asio::any_io_executor ex, std::string host, std::uint16_t port,
      std::chrono::milliseconds timeout = infinity, socket_options opts = {});

  /// The TLS handshake, within `timeout` (infinity = the context's handshake_timeout).
  /// On failure the peer has received the alert for the reason and the connection is closed.
  [[nodiscard]] asio::awaitable<std::error_code> handshake(
      std::chrono::milliseconds timeout = infinity);

  /// Sends one message (with the packet header of the current `packet` mode). Concurrent
  /// senders on one socket queue up in order (their messages never interleave) and wait
  /// without using CPU. Bounded by the `send_timeout` option.
  [[nodiscard]] asio::awaitable<std::error_code> send(std::span<const std::uint8_t> data);
  [[nodiscard]] asio::awaitable<std::error_code> send(std::string_view data);

  /// Passive mode: the next message (packet modes), or in raw mode `length` bytes exactly
  /// (0 = whatever is available). errc::closed at the peer's close. An owning copy of what
  /// recv_view returns.
  [[nodiscard]] asio::awaitable<result<std::vector<std::uint8_t>>> recv(
      std::size_t length = 0, std::chrono::milliseconds timeout = infinity);
  /// recv without a copy: a view of the message in the socket's buffer, valid until the next
  /// recv, recv_view, setopts or the socket's destruction.
  [[nodiscard]] asio::awaitable<result<std::span<const std::uint8_t>>> recv_view(
      std::size_t length = 0, std::chrono::milliseconds timeout = infinity);

  /// Sends close_notify (if the handshake was done; waiting at most `timeout` for the peer to
  /// take it) and closes the connection.
  asio::awaitable<void> close(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// Sends the fatal alert that `reason` maps to, if any (e.g. internal_error for
  /// errc::handler_failed; waiting at most 1 s), and closes the connection.
  asio::awaitable<void> abort(std::error_code reason);
  /// Closes one direction: write sends close_notify and half-closes TCP.
  [[nodiscard]] asio::awaitable<std::error_code> shutdown(shutdown_how how);
  /// TLS 1.3 KeyUpdate (Erlang's ssl:update_keys/2).
  [[nodiscard]] asio::awaitable<std::error_code> update_keys(bool request_peer);

  /// What the handshake negotiated; not_connected before it.
  [[nodiscard]] result<connection_info> connection_information() const;
  /// The peer's certificate (leaf), if it sent one.
  [[nodiscard]] std::optional<pki::certificate> peer_certificate() const;
  /// The peer's full chain, leaf first.
  [[nodiscard]] std::vector<pki::certificate> peer_certificates() const;
  [[nodiscard]] result<asio::ip::tcp::endpoint> peername() const;
  [[nodiscard]] result<asio::ip::tcp::endpoint> sockname() const;

  [[nodiscard]] const socket_options& getopts() const noexcept;
  /// Applies options; switching `active` on starts delivery to the handler. Returns
  /// errc::wrong_mode for active delivery without a handler (nothing is changed then), or
  /// the system's error for a socket option it could not set (the others are applied).
  std::error_code setopts(const socket_options& opts);
  /// The receiver of active delivery.
  void set_handler(active_handler h);

  [[nodiscard]] bool is_open() const noexcept;
  /// Whether this is a TLS socket (false for plain TCP and for a moved-from socket).
  [[nodiscard]] bool is_tls() const noexcept;
  /// The TLS stream underneath. Throws std::logic_error on a plain or moved-from socket.
  [[nodiscard]] stream<>& tls_stream();
  /// Throws std::logic_error on a moved-from socket.
  [[nodiscard]] asio::any_io_executor get_executor() const;

  socket(socket&&) noexcept;
  socket& operator=(socket&&) noexcept;
  ~socket();

 private:
  explicit socket(std::shared_ptr<state> st) noexcept;
  [[nodiscard]] state& checked() const;
  friend class listen_socket;
  std::shared_ptr<state> st_;
};

/// Options of a listening socket.
struct listen_options {
  int backlog = 1024;
  bool reuse_port = false;    ///< SO_REUSEPORT (one listener per core)
  socket_options accepted{};  ///< options given to each accepted socket
};

/// A listening TCP socket for TLS servers (Erlang's `ssl:listen/2`), or for plain TCP ones
/// (`gen_tcp:listen/2`). Movable; use from one strand.
class listen_socket {
 public:
  /// Binds and listens. Throws std::system_error whose message names the address.
  [[nodiscard]] static listen_socket listen(asio::any_io_executor ex,
                                            const asio::ip::tcp::endpoint& ep, const context& ctx,
                                            listen_options opts = {});
  /// Binds and listens for plain TCP: accepted sockets are socket::plain ones.
  [[nodiscard]] static listen_socket listen_plain(asio::any_io_executor ex,
                                                  const asio::ip::tcp::endpoint& ep,
                                                  listen_options opts = {});
  /// Accepts one TCP connection (no handshake yet: call handshake() on the result; a plain
  /// one is ready at once).
  [[nodiscard]] asio::awaitable<result<socket>> transport_accept();
  [[nodiscard]] asio::ip::tcp::endpoint local_endpoint() const;
  [[nodiscard]] asio::ip::tcp::acceptor& acceptor() noexcept { return acceptor_; }
  void close();

 private:
  listen_socket(asio::ip::tcp::acceptor a, std::optional<context> ctx, listen_options o)
      : acceptor_(std::move(a)), ctx_(std::move(ctx)), opts_(std::move(o)) {}
  static asio::ip::tcp::acceptor bind(asio::any_io_executor ex, const asio::ip::tcp::endpoint& ep,
                                      const listen_options& opts);
  asio::ip::tcp::acceptor acceptor_;
  std::optional<context> ctx_;  // none: plain TCP
  listen_options opts_;
};

}  // namespace moat::tls
