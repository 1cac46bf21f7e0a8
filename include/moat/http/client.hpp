#pragma once
/// @file
/// A small HTTPS/HTTP/1.1 client: enough for ACME and for tests. Connections are reused per
/// origin (scheme, host, port), every exchange is bounded in time and size, and TLS verifies
/// the server's chain and host name unless told otherwise (through tls::options).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <moat/http/errors.hpp>
#include <moat/http/message.hpp>
#include <moat/tls/options.hpp>
#include <moat/tls/socket.hpp>
#include <string>

namespace spdlog {
class logger;
}

namespace moat::http {

// fields, response and result<T> are defined in message.hpp.

/// Client options. Defaults are safe: verification on, bounded sizes and times.
struct client_options {
  /// TLS for https:// URLs: the server's chain and host name are verified against the
  /// system's trust store unless `cacertfile` / `cacerts` name other trust anchors. The
  /// client offers ALPN "http/1.1" when `alpn` is empty. Checked when the client is made
  /// (moat::config_error).
  tls::options tls{};
  /// TCP connect and TLS handshake of a new connection.
  std::chrono::milliseconds connect_timeout{10000};
  /// One exchange on a connection: writing the request and reading the whole response.
  std::chrono::milliseconds request_timeout{30000};
  /// Limit of a response's status line and headers (errc::header_too_large).
  std::size_t max_header_bytes = 16 * 1024;
  /// Limit of a response's body (errc::body_too_large).
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  /// Redirects (301, 302, 303, 307, 308) followed for GET and HEAD requests; other methods,
  /// and 0 here, return the 3xx response as it is. More than this: errc::too_many_redirects.
  unsigned max_redirects = 5;
  /// Idle connections kept per origin for reuse; 0 = a new connection per request.
  std::size_t max_idle_per_origin = 4;
  /// An idle connection older than this is closed instead of reused.
  std::chrono::milliseconds idle_timeout{30000};
  /// The User-Agent header sent when the request has none.
  std::string user_agent = "moat";
  /// Where the client logs (connection failures at debug level); null = moat::default_logger().
  std::shared_ptr<spdlog::logger> logger;
};

/// One request.
struct request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  /// Absolute URL: http://host[:port]/path?query or https://...
  std::string url;
  /// Extra header fields. Host, User-Agent (unless given) and Content-Length are set by the
  /// client.
  fields headers{};
  std::string body{};
};

/// An HTTP/1.1 client bound to one executor.
///
/// Thread-safety: use from the client's executor only (one strand). Several requests may be
/// in flight at once (from several coroutines): each uses its own connection, reusing idle
/// ones of the same origin. The client must outlive its requests.
class client {
 public:
  /// Checks the TLS options (throws moat::config_error naming the bad option).
  explicit client(boost::asio::any_io_executor ex, client_options opts = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends `req` and reads the response, following redirects as `max_redirects` allows.
  /// A reused connection that turns out closed by the server is retried once on a new one
  /// (for idempotent methods, and for any method when nothing of the response arrived).
  /// Errors: errc (invalid_url, unsupported_scheme, malformed_message, header_too_large,
  /// body_too_large, too_many_redirects, timeout, closed_early), tls::errc for connecting and
  /// the handshake (connect_timeout, unknown_ca, hostname_mismatch, ...), or a system error
  /// (connection refused, host not found).
  [[nodiscard]] boost::asio::awaitable<result<response>> send(request req);
  /// GET `url`.
  [[nodiscard]] boost::asio::awaitable<result<response>> get(std::string url, fields headers = {});
  /// POST `body` to `url` with `content_type`.
  [[nodiscard]] boost::asio::awaitable<result<response>> post(std::string url,
                                                              std::string content_type,
                                                              std::string body,
                                                              fields headers = {});
  /// Closes the idle connections kept for reuse.
  void close_idle();
  /// The options in use.
  [[nodiscard]] const client_options& options() const noexcept;
  /// The executor the client runs on.
  [[nodiscard]] boost::asio::any_io_executor get_executor() const noexcept;

  struct impl;  // internal

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace moat::http
