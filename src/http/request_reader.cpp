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
  started_ = false;
}

void request_reader::compact() {
  // Consumed bytes go once they are the larger part (amortised linear).
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

request_reader::status request_reader::feed(std::span<const std::uint8_t> bytes) {
  if (error_) return status::failed;
  buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return parse();
}

request_reader::status request_reader::parse() {
  if (error_) return status::failed;
  if (parser_->is_done()) return status::complete;
  if (!started_) {
    // RFC 9112 section 2.2: empty lines before a request line are ignored.
    while (pos_ < buf_.size() && (buf_[pos_] == '\r' || buf_[pos_] == '\n')) ++pos_;
    if (pos_ == buf_.size()) {
      compact();
      return status::need_more;
    }
    started_ = true;
  }
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
  if (!parser_->is_header_done() || parser_->is_done()) return false;
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
