#pragma once
// Internal: the client's URLs, without I/O -- what to connect to, the request target and the
// Host header of an absolute http:// or https:// URL, and where a redirect's Location
// points.

#include <cstdint>
#include <moat/http/message.hpp>
#include <string>
#include <string_view>

namespace moat::http::detail {

/// An absolute http or https URL, taken apart.
struct url_parts {
  bool secure = false;  ///< https
  /// The host to connect to, and the name sent as SNI and verified: lower case; an IPv6
  /// literal without its brackets.
  std::string host;
  std::uint16_t port = 0;   ///< given, or 80 / 443
  std::string host_header;  ///< the Host field: host (IPv6 in brackets) and ":port" unless default
  std::string target;       ///< path and query as sent ("/" for an empty path), no fragment
  std::string origin;       ///< "https://host:port": the key of the connection pool
  std::string text;         ///< the whole URL, normalised, without its fragment
};

/// Takes `url` apart. errc::invalid_url for anything but an absolute URL with a host (and no
/// user info) and a port from 1 to 65535; errc::unsupported_scheme for a scheme other than
/// http and https.
[[nodiscard]] result<url_parts> parse_url(std::string_view url);

/// Where a Location field sent in answer to `base` points (RFC 3986 section 5 resolution of a
/// relative reference): errc::invalid_url when it is no URI reference.
[[nodiscard]] result<url_parts> resolve_location(const url_parts& base, std::string_view location);

}  // namespace moat::http::detail
