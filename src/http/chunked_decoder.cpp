// The I/O-free chunked body decoder (see chunked_decoder.hpp).
#include "http/chunked_decoder.hpp"

#include <moat/http/errors.hpp>

namespace moat::http::detail {

namespace {

// RFC 9110 section 5.6.2: tchar.
bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_ws(unsigned char c) {
  return c == ' ' || c == '\t';
}
// VCHAR, and obs-text (RFC 9110 section 5.5).
bool is_visible(unsigned char c) {
  return (c >= 0x21 && c <= 0x7E) || c >= 0x80;
}

// Reads one token at `at`; false when there is none.
bool take_token(std::string_view s, std::size_t& at) {
  const auto start = at;
  while (at < s.size() && is_tchar(static_cast<unsigned char>(s[at]))) ++at;
  return at > start;
}

// Reads one quoted-string (RFC 9110 section 5.6.4) starting at the DQUOTE at `at`.
bool take_quoted(std::string_view s, std::size_t& at) {
  for (++at; at < s.size(); ++at) {
    const auto c = static_cast<unsigned char>(s[at]);
    if (c == '"') {
      ++at;
      return true;
    }
    if (c == '\\') {
      if (++at == s.size()) return false;
      const auto q = static_cast<unsigned char>(s[at]);
      if (!is_ws(q) && !is_visible(q)) return false;
    } else if (!is_ws(c) && !is_visible(c)) {  // qdtext: no control characters
      return false;
    }
  }
  return false;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), to the end.
bool valid_extensions(std::string_view s, std::size_t at) {
  const auto skip_ws = [&](std::size_t i) {
    while (i < s.size() && is_ws(static_cast<unsigned char>(s[i]))) ++i;
    return i;
  };
  while (at < s.size()) {
    at = skip_ws(at);
    if (at == s.size() || s[at] != ';') return false;  // also: whitespace before the CRLF
    at = skip_ws(at + 1);
    if (!take_token(s, at)) return false;
    const auto after_name = at;
    at = skip_ws(at);
    if (at < s.size() && s[at] == '=') {
      at = skip_ws(at + 1);
      if (at < s.size() && s[at] == '"') {
        if (!take_quoted(s, at)) return false;
      } else if (!take_token(s, at)) {
        return false;
      }
    } else {
      at = after_name;
    }
  }
  return true;
}

}  // namespace

chunked_decoder::status chunked_decoder::fail(std::error_code e) {
  error_ = e;
  return status::failed;
}

chunked_decoder::status chunked_decoder::take_line(std::string_view in, std::string_view& line,
                                                   std::size_t& length) {
  const auto lf = in.find('\n', scanned_);
  if (lf == std::string_view::npos) {
    // Not judged before its end: only measured (its end would make it longer still).
    if (in.size() > framing_limit_ - framing_) return fail(errc::body_too_large);
    scanned_ = in.size();
    return status::need_more;
  }
  length = lf + 1;
  if (length > framing_limit_ - framing_) return fail(errc::body_too_large);
  framing_ += length;
  scanned_ = 0;
  if (lf == 0 || in[lf - 1] != '\r') return fail(errc::malformed_message);  // a bare LF
  line = in.substr(0, lf - 1);
  return status::done;
}

chunked_decoder::status chunked_decoder::on_size_line(std::string_view line) {
  // chunk-size = 1*HEXDIG; the value saturates past what the limit leaves.
  const std::size_t room = body_limit_ - body_;
  std::size_t size = 0;
  bool too_large = false;
  std::size_t at = 0;
  for (; at < line.size(); ++at) {
    const int h = hex_value(static_cast<unsigned char>(line[at]));
    if (h < 0) break;
    if (!too_large) {
      size = size * 16 + static_cast<std::size_t>(h);
      too_large = size > room;
    }
  }
  if (at == 0 || !valid_extensions(line, at)) return fail(errc::malformed_message);
  if (too_large) return fail(errc::body_too_large);
  remaining_ = size;
  state_ = size == 0 ? state::trailer_line : state::data;
  return status::need_more;
}

bool chunked_decoder::valid_trailer_line(std::string_view line) {
  // field-line = field-name ":" OWS field-value OWS (no obsolete line folding).
  std::size_t at = 0;
  if (!take_token(line, at) || at == line.size() || line[at] != ':') return false;
  for (++at; at < line.size(); ++at) {
    const auto c = static_cast<unsigned char>(line[at]);
    if (!is_ws(c) && !is_visible(c)) return false;
  }
  return true;
}

chunked_decoder::status chunked_decoder::decode(std::string_view in, std::size_t& consumed,
                                                std::string& body) {
  consumed = 0;
  if (error_) return status::failed;
  while (state_ != state::done) {
    const auto rest = in.substr(consumed);
    switch (state_) {
      case state::size_line:
      case state::trailer_line: {
        std::string_view line;
        std::size_t length = 0;
        if (const auto st = take_line(rest, line, length); st != status::done) return st;
        consumed += length;
        if (state_ == state::size_line) {
          if (on_size_line(line) == status::failed) return status::failed;
        } else if (line.empty()) {
          state_ = state::done;
        } else if (!valid_trailer_line(line)) {
          return fail(errc::malformed_message);
        }
        break;
      }
      case state::data: {
        if (rest.empty()) return status::need_more;
        const auto n = std::min(remaining_, rest.size());
        body.append(rest.data(), n);
        body_ += n;
        remaining_ -= n;
        consumed += n;
        if (remaining_ == 0) state_ = state::data_end;
        break;
      }
      case state::data_end:
        if (rest.size() < 2) return status::need_more;
        if (framing_limit_ - framing_ < 2) return fail(errc::body_too_large);
        framing_ += 2;
        if (rest[0] != '\r' || rest[1] != '\n') return fail(errc::malformed_message);
        consumed += 2;
        state_ = state::size_line;
        break;
      case state::done:
        break;
    }
  }
  return status::done;
}

}  // namespace moat::http::detail
