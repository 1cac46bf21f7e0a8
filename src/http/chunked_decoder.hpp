#pragma once
// Internal: decodes a chunked request body (RFC 9112 section 7.1) from bytes, without I/O.
//
// The request reader hands the body of a chunked request to it instead of to Beast: Beast
// 1.81 judges a bad chunk extension by where TCP cut the bytes (its chunk-header parser keeps
// a resume offset across "need more"), so the same invalid body could be answered 400, 413 or
// a timeout. This decoder judges each chunk-size line and trailer line only once the whole
// line is here, and checks its limits before the syntax, so its verdict is a function of the
// bytes alone:
// - a line is judged when its LF has arrived; a line without one is only measured;
// - the chunk data may not pass `body_limit` (decoded bytes);
// - the framing (chunk-size lines with their extensions, the CRLF after each chunk's data,
//   the trailer section) may not pass `framing_limit` bytes, so a peer cannot make the
//   server hold or scan an unbounded line;
// - anything else than the grammar -- a bare LF, whitespace before the CRLF with no
//   extension, a control character in an extension, a malformed trailer field -- is
//   malformed.
// Extensions are checked and ignored, and trailer fields are checked and discarded (RFC 9112
// section 7.1.2 lets a recipient discard them).

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace moat::http::detail {

class chunked_decoder {
 public:
  enum class status {
    need_more,  ///< the body is incomplete: call again with more bytes
    done,       ///< the body ended (the last chunk and the trailer section were read)
    failed,     ///< the bytes are not an acceptable chunked body: error() says why
  };

  chunked_decoder(std::size_t body_limit, std::size_t framing_limit)
      : body_limit_(body_limit), framing_limit_(framing_limit) {}

  /// Decodes from the start of `in` as far as it goes, appending chunk data to `body`, and
  /// sets `consumed` to the bytes of `in` used up (a partial line is left for the next call,
  /// which must start with it).
  status decode(std::string_view in, std::size_t& consumed, std::string& body);

  /// Why decoding failed: errc::malformed_message or errc::body_too_large.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

 private:
  enum class state { size_line, data, data_end, trailer_line, done };
  // The line at the start of `in`, without its CRLF, once its LF is here; sets `length` to the
  // whole line's bytes. Fails when the line passes the framing limit.
  status take_line(std::string_view in, std::string_view& line, std::size_t& length);
  status fail(std::error_code e);
  status on_size_line(std::string_view line);
  static bool valid_trailer_line(std::string_view line);

  std::size_t body_limit_;
  std::size_t framing_limit_;
  std::size_t body_ = 0;       // chunk data decoded so far
  std::size_t framing_ = 0;    // framing bytes read so far
  std::size_t remaining_ = 0;  // data left in the current chunk
  std::size_t scanned_ = 0;    // bytes of the pending line already searched for its LF
  state state_ = state::size_line;
  std::error_code error_;
};

}  // namespace moat::http::detail
