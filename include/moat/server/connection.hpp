#pragma once
/// @file
/// One accepted, handshaken connection as a handler sees it.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <moat/tls/socket.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::server {

namespace detail {
struct connection_state;
}

/// What a waiting recv does when the listener starts draining (stop()).
enum class on_drain {
  /// Goes on waiting: for the data, its timeout, or the end of the grace period.
  wait,
  /// Returns tls::errc::shutting_down at once -- for a connection between two messages that
  /// has nothing left to finish (an HTTP connection waiting for its next request). Also
  /// returned at once by a recv that starts once the listener is draining.
  interrupt,
};

/// A connection owned by the listener: the handler borrows it for the connection's life.
/// Used from the connection's own executor (one strand); not thread-safe.
class connection {
 public:
  explicit connection(std::shared_ptr<detail::connection_state> st) noexcept : st_(std::move(st)) {}

  /// The next message (in the listener's packet mode). Without a timeout the listener's
  /// idle timeout applies (errc::recv_timeout). errc::closed when the peer is done, and when
  /// the listener is shutting down and this connection has outlived the grace period.
  /// `drain`: whether the start of a drain ends the wait (see on_drain).
  [[nodiscard]] boost::asio::awaitable<tls::result<std::vector<std::uint8_t>>> recv(
      std::chrono::milliseconds timeout = tls::infinity, on_drain drain = on_drain::wait);
  /// recv without a copy: a view of the message in the connection's buffer, valid until the
  /// next recv or recv_view (or the handler's return).
  [[nodiscard]] boost::asio::awaitable<tls::result<std::span<const std::uint8_t>>> recv_view(
      std::chrono::milliseconds timeout = tls::infinity, on_drain drain = on_drain::wait);
  /// Sends one message.
  [[nodiscard]] boost::asio::awaitable<std::error_code> send(std::span<const std::uint8_t> data);
  [[nodiscard]] boost::asio::awaitable<std::error_code> send(std::string_view data);
  /// Sends close_notify and closes (normal end: not logged).
  boost::asio::awaitable<void> close();

  /// The client (as the PROXY header says, when the listener uses the PROXY protocol).
  [[nodiscard]] const boost::asio::ip::tcp::endpoint& peer() const noexcept;
  /// The listener's name (for logs).
  [[nodiscard]] const std::string& listener_name() const noexcept;
  /// A number unique within the listener.
  [[nodiscard]] std::uint64_t id() const noexcept;
  /// True once the listener is draining: finish the current exchange and close.
  [[nodiscard]] bool stopping() const noexcept;
  /// The TLS socket itself (connection information, peer certificate, setopts, ...).
  [[nodiscard]] tls::socket& socket() noexcept;

 private:
  std::shared_ptr<detail::connection_state> st_;
};

/// The event-handler style: the recipe's GenServer with its three socket messages. One
/// object per connection (made by the factory given to the listener), so per-connection state
/// lives in its members. Each callback is a coroutine; the next message is not read until it
/// returns (backpressure). An exception from any of them takes down this connection only.
class event_handler {
 public:
  virtual ~event_handler() = default;
  /// After the handshake.
  virtual boost::asio::awaitable<void> on_open(connection& c);
  /// `{ssl, Socket, Data}`: one message.
  virtual boost::asio::awaitable<void> on_message(connection& c,
                                                  std::span<const std::uint8_t> msg) = 0;
  /// `{ssl_closed, Socket}`: the peer closed (or the listener stopped the connection).
  virtual boost::asio::awaitable<void> on_closed(connection& c);
  /// `{ssl_error, Socket, Reason}`: the connection failed.
  virtual boost::asio::awaitable<void> on_error(connection& c, std::error_code ec);
};

}  // namespace moat::server
