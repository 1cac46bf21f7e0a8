#pragma once
// Internal: reads HTTP/1.1 requests from bytes, without I/O. The server's connections feed it
// what they receive; the fuzz target feeds it anything. It holds the bytes not yet parsed
// (the rest of the current request, and pipelined requests behind it) and parses them under
// explicit limits: the head and a Content-Length body with Beast's request_parser, a chunked
// body with chunked_decoder (whose verdict, unlike Beast's, never depends on the pieces).

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <moat/http/errors.hpp>
#include <moat/http/message.hpp>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "http/chunked_decoder.hpp"

namespace moat::http::detail {

/// The limits of one request.
struct request_limits {
  std::size_t header_bytes = 16 * 1024;  ///< request line and headers
  std::size_t body_bytes = 1024 * 1024;  ///< body (decoded, when chunked)
};

/// Parses requests one after another from the bytes given to it. Not thread-safe (one
/// connection's).
class request_reader {
 public:
  enum class status {
    need_more,  ///< the current request is incomplete: feed more bytes
    complete,   ///< a request is ready: take() it
    failed,     ///< the bytes are not an acceptable request: error() says why; stop reading
  };

  explicit request_reader(request_limits limits);

  /// Adds bytes received and parses as far as they go.
  status feed(std::span<const std::uint8_t> bytes);
  /// Parses the bytes already held (after take(): a pipelined request may be complete).
  status parse();

  /// Whether any byte of the current request has arrived (empty lines before a request
  /// do not count).
  [[nodiscard]] bool started() const noexcept { return started_; }
  /// Whether the current request's line and headers are complete.
  [[nodiscard]] bool header_done() const noexcept;
  /// Whether the head asked for "Expect: 100-continue" and its body is still to come.
  [[nodiscard]] bool expects_continue() const;
  /// Why parsing failed: errc::malformed_message, header_too_large or body_too_large.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  /// Bytes held and not yet parsed.
  [[nodiscard]] std::size_t buffered() const noexcept { return buf_.size() - pos_; }

  /// The complete request (after `complete`); the reader then starts on the next one.
  [[nodiscard]] request_message take();

 private:
  using parser = boost::beast::http::request_parser<boost::beast::http::string_body>;
  void start_next();
  void compact();
  [[nodiscard]] bool done() const;
  status parse_chunked();

  request_limits limits_;
  std::optional<parser> parser_;
  std::optional<chunked_decoder> chunked_;  // the current request's body is chunked
  bool chunked_done_ = false;
  std::string buf_;       // received, not yet consumed by the parser (from pos_)
  std::size_t pos_ = 0;   // parsed up to here
  std::size_t scan_ = 0;  // the head's end is not before here (a search resumes there)
  bool started_ = false;
  std::error_code error_;
};

}  // namespace moat::http::detail
