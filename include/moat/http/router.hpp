#pragma once
/// @file
/// Routes: which handler answers a request, by method and path. Exact paths first, then the
/// longest matching prefix; 404 for a path nothing serves, 405 (with Allow) for a method an
/// exact path does not serve.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <moat/http/message.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat::http {

/// A request as a handler sees it. Borrowed: every view stays valid until the handler's
/// coroutine returns, not after.
struct incoming {
  const request_message& message;  ///< method, target, headers and body as received
  std::string_view path;           ///< the target's path, percent-decoded, without the query
  std::string_view query;          ///< the raw query string without '?', empty if none
  boost::asio::ip::tcp::endpoint
      peer;             ///< the client (the PROXY header's, if the listener uses one)
  bool secure = false;  ///< arrived over TLS
  /// The Host header's host part, without the port (for an absolute-form target, the
  /// target's host). An IPv6 literal keeps its brackets ("[::1]"). Empty only for an HTTP/1.0
  /// request without Host.
  std::string_view host;
};

/// A handler: the response to one request. It runs on the connection's thread; it may
/// suspend (co_await) as long as it likes, and other connections go on meanwhile. Throwing
/// answers 500 and closes the connection (logged once). The server sets Content-Length, Date,
/// Server and Connection, and drops the body of a response to HEAD.
using route_handler = std::function<boost::asio::awaitable<response>(const incoming&)>;

/// A route table. Build it, then give it to a server (which copies it).
/// Thread-safety: `add` and `add_prefix` are not thread-safe; once built, `dispatch` and
/// `match` may be called from every thread at once (the handlers themselves must then be
/// callable concurrently).
class router {
 public:
  /// Serves `method` on exactly `path` (which starts with '/', compared with the decoded
  /// path). A GET route also answers HEAD unless a HEAD route is given. Throws
  /// moat::config_error for a path not starting with '/', an empty handler or a route
  /// already registered.
  router& add(boost::beast::http::verb method, std::string path, route_handler h);
  /// Serves every method on the paths that start with `prefix` (which starts with '/'). The
  /// longest matching prefix wins; an exact path registered with `add` comes first (and a
  /// method it does not serve is a 405, not a prefix match). Throws moat::config_error like
  /// add().
  router& add_prefix(std::string prefix, route_handler h);

  /// What serves a request (I/O-free; for the server and for tests).
  struct match_result {
    const route_handler* handler = nullptr;  ///< null: `status` says why
    boost::beast::http::status status = boost::beast::http::status::ok;  ///< 404 or 405
    std::string allow;  ///< for 405: the methods the path serves, e.g. "GET, HEAD, POST"
  };
  [[nodiscard]] match_result match(boost::beast::http::verb method, std::string_view path) const;

  /// Runs the handler that serves `in`, or answers 404/405.
  [[nodiscard]] boost::asio::awaitable<response> dispatch(const incoming& in) const;

 private:
  std::map<std::string, std::map<boost::beast::http::verb, route_handler>, std::less<>> exact_;
  std::vector<std::pair<std::string, route_handler>> prefixes_;  // longest first
};

/// The redirect server of an HTTP port (seed 4): every request is answered 301 (GET, HEAD)
/// or 308 (any other method, which must be repeated as it was) to
/// `https://<host>[:https_port]<path>[?<query>]`, the path and query kept as they were sent,
/// the port omitted when it is 443. A request without a host (HTTP/1.0 without Host) gets
/// 400. Mount it on a plain server (`server_options::tls` empty).
[[nodiscard]] router https_redirect(std::uint16_t https_port = 443);

}  // namespace moat::http
