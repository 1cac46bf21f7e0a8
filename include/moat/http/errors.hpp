#pragma once
/// @file
/// Error codes of the http part (category "moat.http"), shared by the server and the client.
///
/// Transport failures keep their own codes (tls::errc, the system category); these are the
/// HTTP-level reasons. Each compares equal to a portable `std::errc` condition where one fits
/// (e.g. `errc::timeout == std::errc::timed_out`), and each has a distinct message.
#include <string_view>
#include <system_error>
#include <type_traits>

namespace moat::http {

/// Why an HTTP exchange failed.
enum class errc {
  invalid_url = 1,     ///< not an absolute http:// or https:// URL with a host
  unsupported_scheme,  ///< a scheme other than http and https
  malformed_message,   ///< the peer sent something that is not HTTP/1.1 (400 on a server)
  header_too_large,    ///< the start line and headers exceed the limit (431 on a server)
  body_too_large,      ///< the body exceeds the limit (413 on a server)
  too_many_redirects,  ///< a client followed more redirects than allowed (or a loop)
  timeout,             ///< the request or response did not complete in time (408 on a server)
  closed_early,        ///< the peer closed the connection before the message was complete
};

/// The `std::error_category` of `errc` (name "moat.http"). Thread-safety: a singleton.
[[nodiscard]] const std::error_category& category() noexcept;

/// Makes a `std::error_code` in `http::category()` (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// A short stable name of the code, e.g. "body_too_large" (for logs and metrics labels).
[[nodiscard]] std::string_view reason_name(errc e) noexcept;

}  // namespace moat::http

template <>
struct std::is_error_code_enum<moat::http::errc> : std::true_type {};
