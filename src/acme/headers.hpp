#pragma once
// Internal: what the client reads from the CA's response headers, without I/O.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::acme::detail {

/// Retry-After (RFC 9110 section 10.2.3): delta-seconds or an HTTP-date, relative to `now`.
/// nullopt if absent or unreadable; a date in the past is 0 s; capped at one year.
[[nodiscard]] std::optional<std::chrono::seconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

/// The targets of `Link` header values with relation `rel` (RFC 8288), in order, e.g.
/// `<https://ca/cert/1/alt>;rel="alternate"`. `values` are the Link fields as received (a
/// field may hold several comma-separated links).
[[nodiscard]] std::vector<std::string> parse_links(const std::vector<std::string_view>& values,
                                                   std::string_view rel);

/// The media type of a Content-Type value, lower-cased, without parameters
/// ("Application/JSON; charset=utf-8" → "application/json").
[[nodiscard]] std::string media_type(std::string_view content_type);

/// Resolves a possibly relative reference (Location, Link) against the request's URL.
[[nodiscard]] std::string resolve_url(std::string_view base, std::string_view ref);

}  // namespace moat::acme::detail
