#pragma once
// Internal: the server's rules for what goes out, without I/O -- the headers every response
// gets, and the response to a request that could not be read.

#include <moat/http/message.hpp>
#include <system_error>

namespace moat::http::detail {

/// Makes `res` ready to be written as the answer to `req`: HTTP/1.1; Server and Date unless
/// the handler set them; Content-Length for the body (none and no body for 1xx, 204 and
/// 304; a response to HEAD keeps the handler's Content-Length if it gave one); no
/// Transfer-Encoding (the body is all here); Connection: close unless `keep_alive`, and
/// Connection: keep-alive for an HTTP/1.0 client that keeps the connection.
void finish_response(response& res, const request_message& req, bool keep_alive);

/// Whether the handler asked to close the connection after `res` (Connection: close).
[[nodiscard]] bool asks_to_close(const response& res);

/// The status that answers a request refused for `why` (an http::errc): 400 malformed, 408
/// timeout, 413 body too large, 431 header too large.
[[nodiscard]] boost::beast::http::status refusal_status(std::error_code why);

/// The complete response to a refused request (with Connection: close).
[[nodiscard]] response refusal(std::error_code why);

}  // namespace moat::http::detail
