// The I/O-free request reader (see request_reader.hpp).
#include "http/request_reader.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <limits>

namespace moat::http::detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {
std::error_code classify(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit) return errc::header_too_large;
  if (ec == bhttp::error::body_limit) return errc::body_too_large;
  return errc::malformed_message;
}
// The only transfer coding a server takes is one "chunked" (RFC 9112 section 6.1). Anything
// else -- several fields, a list, an unknown coding -- is where two parsers on the way may
// read two different bodies (request smuggling), so it is refused.
// An HTTP/1.0 request has no transfer codings (RFC 9112 section 6.1: faulty framing).
bool acceptable_transfer_encoding(const request_message& m) {
  const auto n = m.count(bhttp::field::transfer_encoding);
  if (n == 0) return true;
  if (n > 1 || m.version() < 11) return false;
  auto v = m[bhttp::field::transfer_encoding];
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return beast::iequals(v, beast::string_view("chunked"));
}

}  // namespace

request_reader::request_reader(request_limits limits) : limits_(limits) {
  start_next();
}

void request_reader::start_next() {
  parser_.emplace();
  // Beast counts the header limit in 32 bits; a larger limit is no limit worth having.
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits_.header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(static_cast<std::uint64_t>(limits_.body_bytes));
  parser_->eager(true);
  chunked_.reset();
  chunked_done_ = false;
  started_ = false;
  scan_ = 0;
}

void request_reader::compact() {
  // Consumed bytes go once they are the larger part (amortised linear).
  if (pos_ == buf_.size()) {
    buf_.clear();
    scan_ = pos_ = 0;
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    scan_ = scan_ > pos_ ? scan_ - pos_ : 0;
    pos_ = 0;
  }
}

request_reader::status request_reader::feed(std::span<const std::uint8_t> bytes) {
  if (error_) return status::failed;
  buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return parse();
}

bool request_reader::done() const {
  return chunked_ ? chunked_done_ : parser_->is_done();
}

request_reader::status request_reader::parse_chunked() {
  std::size_t consumed = 0;
  const auto st =
      chunked_->decode(std::string_view(buf_).substr(pos_), consumed, parser_->get().body());
  pos_ += consumed;
  if (st == chunked_decoder::status::failed) {
    error_ = chunked_->error();
    return status::failed;
  }
  chunked_done_ = st == chunked_decoder::status::done;
  compact();
  return chunked_done_ ? status::complete : status::need_more;
}

request_reader::status request_reader::parse() {
  if (error_) return status::failed;
  if (done()) return status::complete;
  if (!started_) {
    // RFC 9112 section 2.2: empty lines before a request line are ignored.
    while (pos_ < buf_.size() && (buf_[pos_] == '\r' || buf_[pos_] == '\n')) ++pos_;
    if (pos_ == buf_.size()) {
      compact();
      return status::need_more;
    }
    started_ = true;
  }
  if (!parser_->is_header_done()) {
    // Beast is given the head only once all of it is here, and the head alone. Given part of
    // a head, it answers "need more" or "malformed" depending on where the pieces were cut
    // (it looks for the head's end before it looks at the start line again), and given the
    // start of the body with it, it may judge the body before the head; given the whole head
    // and nothing else, it always decides alike.
    const auto end = buf_.find("\r\n\r\n", std::max(scan_, pos_));
    if (end == std::string::npos) {
      if (buf_.size() - pos_ >= limits_.header_bytes) {
        error_ = errc::header_too_large;
        return status::failed;
      }
      scan_ = buf_.size() < 3 ? 0 : buf_.size() - 3;
      compact();
      return status::need_more;
    }
    const std::size_t head = end + 4 - pos_;
    if (head > limits_.header_bytes) {
      error_ = errc::header_too_large;
      return status::failed;
    }
    beast::error_code ec;
    pos_ += parser_->put(boost::asio::buffer(buf_.data() + pos_, head), ec);
    if (ec && ec != bhttp::error::need_more) {
      error_ = classify(ec);
      return status::failed;
    }
    // A whole head that Beast could not finish waits for a version or a field that its end
    // has already ruled out ("GET / x\r\n\r\n").
    if (!parser_->is_header_done() || !acceptable_transfer_encoding(parser_->get())) {
      error_ = errc::malformed_message;
      return status::failed;
    }
    // A chunked body is framed here, not by Beast (see chunked_decoder.hpp). Its framing may
    // take as many bytes as the head and the body together.
    if (parser_->chunked()) {
      const auto sum = limits_.header_bytes + limits_.body_bytes;
      chunked_.emplace(limits_.body_bytes,
                       sum < limits_.body_bytes ? std::numeric_limits<std::size_t>::max() : sum);
    }
  }
  if (chunked_) return parse_chunked();
  while (pos_ < buf_.size() && !parser_->is_done()) {
    beast::error_code ec;
    const auto n = parser_->put(boost::asio::buffer(buf_.data() + pos_, buf_.size() - pos_), ec);
    pos_ += n;
    if (ec == bhttp::error::need_more) break;
    if (ec) {
      error_ = classify(ec);
      return status::failed;
    }
    if (n == 0) break;
  }
  compact();
  return parser_->is_done() ? status::complete : status::need_more;
}

bool request_reader::header_done() const noexcept {
  return parser_->is_header_done();
}

bool request_reader::expects_continue() const {
  if (!parser_->is_header_done() || done()) return false;
  const auto& req = parser_->get();
  return req.version() >= 11 &&
         beast::iequals(req[bhttp::field::expect], beast::string_view("100-continue"));
}

request_message request_reader::take() {
  auto msg = parser_->release();
  start_next();
  compact();
  return msg;
}

}  // namespace moat::http::detail
