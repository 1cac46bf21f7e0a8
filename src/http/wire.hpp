#pragma once
// Internal: messages to bytes, each into one buffer (a response goes out with one send), and
// the Date header's text. No I/O.

#include <chrono>
#include <moat/http/message.hpp>
#include <string>

namespace moat::http::detail {

/// Appends `m` as it goes on the wire; without its body when `with_body` is false (a
/// response to HEAD). The message's fields are written as they are.
void serialize(const response& m, bool with_body, std::string& out);
void serialize(const request_message& m, std::string& out);

/// An IMF-fixdate (RFC 9110 section 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
[[nodiscard]] std::string http_date(std::chrono::system_clock::time_point t);
/// http_date(now), computed at most once a second per thread.
[[nodiscard]] const std::string& http_date_now();

}  // namespace moat::http::detail
