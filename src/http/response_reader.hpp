#pragma once
// Internal: reads one HTTP/1.1 response from bytes, without I/O (the client's side of
// request_reader). Interim 1xx responses are skipped; a body that ends with the connection
// is finished by finish().

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

namespace moat::http::detail {

/// Reads the response to one request. Not thread-safe.
class response_reader {
 public:
  enum class status { need_more, complete, failed };

  /// `head`: the request was HEAD (the response has no body, whatever its fields say).
  response_reader(std::size_t header_limit, std::size_t body_limit, bool head);

  /// Adds bytes received and parses as far as they go.
  status feed(std::span<const std::uint8_t> bytes);
  /// The server closed the connection: complete if the body is delimited by the close,
  /// else failed with errc::closed_early.
  status finish();

  /// Whether any byte of the (final) response has arrived.
  [[nodiscard]] bool started() const noexcept { return started_; }
  /// errc::malformed_message, header_too_large, body_too_large or closed_early.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  /// Whether the connection may carry another request after this response: the response
  /// allows it and nothing came after it.
  [[nodiscard]] bool reusable() const;

  /// The complete response.
  [[nodiscard]] response take();

 private:
  using parser = boost::beast::http::response_parser<boost::beast::http::string_body>;
  void start();
  status parse();

  std::size_t header_limit_;
  std::size_t body_limit_;
  bool head_;
  std::optional<parser> parser_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool started_ = false;
  std::error_code error_;
};

}  // namespace moat::http::detail
