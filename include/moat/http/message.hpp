#pragma once
/// @file
/// The message types the http part's server and client share: Beast's messages with their
/// bodies as strings, and a helper to make a response.
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <moat/tls/socket.hpp>
#include <string>
#include <string_view>

namespace moat::http {

/// Header fields (Beast's container: case-insensitive names, repeated fields kept).
using fields = boost::beast::http::fields;
/// A request with its body as a string (what a server handler receives).
using request_message = boost::beast::http::request<boost::beast::http::string_body>;
/// A response with its body as a string.
using response = boost::beast::http::response<boost::beast::http::string_body>;
/// A value or the error that prevented it.
template <class T>
using result = tls::result<T>;

/// An HTTP/1.1 response with `status`, `body` and, when the body is not empty, the
/// Content-Type `content_type`. Pure; the caller owns the result.
[[nodiscard]] response make_response(boost::beast::http::status status, std::string body = {},
                                     std::string_view content_type = "text/plain; charset=utf-8");

}  // namespace moat::http
