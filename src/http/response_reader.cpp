// The I/O-free response reader (see response_reader.hpp).
#include "http/response_reader.hpp"

#include <boost/beast/http/error.hpp>
#include <limits>

namespace moat::http::detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

response_reader::response_reader(std::size_t header_limit, std::size_t body_limit, bool head)
    : header_limit_(header_limit), body_limit_(body_limit), head_(head) {
  start();
}

void response_reader::start() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(header_limit_, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(static_cast<std::uint64_t>(body_limit_));
  parser_->eager(true);
  if (head_) parser_->skip(true);
}

response_reader::status response_reader::feed(std::span<const std::uint8_t> bytes) {
  if (error_) return status::failed;
  if (!bytes.empty()) started_ = true;
  buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return parse();
}

response_reader::status response_reader::parse() {
  for (;;) {
    while (pos_ < buf_.size() && !parser_->is_done()) {
      beast::error_code ec;
      const auto n = parser_->put(boost::asio::buffer(buf_.data() + pos_, buf_.size() - pos_), ec);
      pos_ += n;
      if (ec == bhttp::error::need_more) break;
      if (ec) {
        error_ = ec == bhttp::error::header_limit ? errc::header_too_large
                 : ec == bhttp::error::body_limit ? errc::body_too_large
                                                  : errc::malformed_message;
        return status::failed;
      }
      if (n == 0) break;
    }
    if (!parser_->is_done()) return status::need_more;
    const auto code = parser_->get().result_int();
    if (code == 101) {  // nothing asked to switch protocols
      error_ = errc::malformed_message;
      return status::failed;
    }
    if (code < 100 || code >= 200) return status::complete;
    // An interim response (100 Continue, 103 Early Hints): the final one follows.
    start();
    started_ = pos_ < buf_.size();
  }
}

response_reader::status response_reader::finish() {
  if (error_) return status::failed;
  if (parser_->is_done()) return status::complete;
  if (started_ && parser_->is_header_done()) {
    beast::error_code ec;
    parser_->put_eof(ec);
    if (!ec && parser_->is_done()) return status::complete;
  }
  error_ = errc::closed_early;
  return status::failed;
}

bool response_reader::reusable() const {
  return parser_->is_done() && parser_->keep_alive() && pos_ == buf_.size();
}

response response_reader::take() {
  return parser_->release();
}

}  // namespace moat::http::detail
