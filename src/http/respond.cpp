// The server's response rules (see respond.hpp).
#include "http/respond.hpp"

#include <boost/beast/core/string.hpp>
#include <moat/http/errors.hpp>

#include "http/wire.hpp"

namespace moat::http::detail {

namespace bhttp = boost::beast::http;

namespace {
bool has_token(boost::beast::string_view list, boost::beast::string_view token) {
  return bhttp::token_list(list).exists(token);
}
}  // namespace

void finish_response(response& res, const request_message& req, bool keep_alive) {
  res.version(11);
  if (res.find(bhttp::field::server) == res.end()) res.set(bhttp::field::server, "moat");
  if (res.find(bhttp::field::date) == res.end()) res.set(bhttp::field::date, http_date_now());
  res.erase(bhttp::field::transfer_encoding);
  const auto code = res.result_int();
  if ((code >= 100 && code < 200) || code == 204 || code == 304) {
    res.body().clear();
    res.erase(bhttp::field::content_length);
  } else if (req.method() != bhttp::verb::head ||
             res.find(bhttp::field::content_length) == res.end()) {
    res.content_length(res.body().size());
  }
  res.erase(bhttp::field::connection);
  if (!keep_alive) {
    res.set(bhttp::field::connection, "close");
  } else if (req.version() < 11) {
    res.set(bhttp::field::connection, "keep-alive");
  }
}

bool asks_to_close(const response& res) {
  return has_token(res[bhttp::field::connection], "close");
}

bhttp::status refusal_status(std::error_code why) {
  if (why == errc::header_too_large) return bhttp::status::request_header_fields_too_large;
  if (why == errc::body_too_large) return bhttp::status::payload_too_large;
  if (why == errc::timeout) return bhttp::status::request_timeout;
  return bhttp::status::bad_request;
}

response refusal(std::error_code why) {
  const auto status = refusal_status(why);
  const auto reason = bhttp::obsolete_reason(status);
  auto res = make_response(status, std::string(reason.data(), reason.size()) + "\n");
  res.set(bhttp::field::server, "moat");
  res.set(bhttp::field::date, http_date_now());
  res.content_length(res.body().size());
  res.set(bhttp::field::connection, "close");
  return res;
}

}  // namespace moat::http::detail
