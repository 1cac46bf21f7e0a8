// The client's URL handling (see url.hpp), on Boost.URL.
#include "http/url.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <moat/http/errors.hpp>

namespace moat::http::detail {

namespace urls = boost::urls;

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return r;
}

result<url_parts> take_apart(urls::url_view v) {
  const std::error_code bad = errc::invalid_url;
  url_parts p;
  if (!v.has_scheme()) return bad;
  const auto scheme = v.scheme_id();
  if (scheme != urls::scheme::http && scheme != urls::scheme::https) {
    return std::error_code(errc::unsupported_scheme);
  }
  p.secure = scheme == urls::scheme::https;
  if (!v.has_authority() || v.has_userinfo()) return bad;
  std::string bracketed;
  switch (v.host_type()) {
    case urls::host_type::ipv4:
    case urls::host_type::name:
      if (v.encoded_host().empty()) return bad;
      p.host = lower(v.host());
      bracketed = p.host;
      break;
    case urls::host_type::ipv6:
      p.host = lower(v.host_address());
      bracketed = "[" + p.host + "]";
      break;
    default:  // IPvFuture, none
      return bad;
  }
  if (p.host.find_first_of(std::string_view("\0 /?#@", 6)) != std::string::npos) return bad;
  const std::uint16_t default_port = p.secure ? 443 : 80;
  p.port = default_port;
  if (v.has_port() && !v.port().empty()) {
    const auto digits = v.port();
    if (digits.size() > 5) return bad;
    unsigned long n = 0;
    for (char c : digits) n = n * 10 + static_cast<unsigned long>(c - '0');
    if (n == 0 || n > 65535) return bad;
    p.port = static_cast<std::uint16_t>(n);
  }
  p.host_header = p.port == default_port ? bracketed : fmt::format("{}:{}", bracketed, p.port);
  const auto path = v.encoded_path();
  // A path after an authority starts with '/' (RFC 3986 section 3.3); Boost.URL 1.81 takes
  // "http://h:80p/x" as port 80 and the path "p/x".
  if (!path.empty() && path.front() != '/') return bad;
  p.target = path.empty() ? std::string("/") : std::string(path.data(), path.size());
  if (v.has_query()) {
    const auto q = v.encoded_query();
    p.target += '?';
    p.target.append(q.data(), q.size());
  }
  p.origin = fmt::format("{}://{}:{}", p.secure ? "https" : "http", bracketed, p.port);
  p.text = fmt::format("{}://{}{}", p.secure ? "https" : "http", p.host_header, p.target);
  return p;
}

}  // namespace

result<url_parts> parse_url(std::string_view url) {
  auto v = urls::parse_uri(url);
  if (!v) return std::error_code(errc::invalid_url);
  return take_apart(*v);
}

result<url_parts> resolve_location(const url_parts& base, std::string_view location) {
  auto ref = urls::parse_uri_reference(location);
  auto b = urls::parse_uri(base.text);
  if (!ref || !b) return std::error_code(errc::invalid_url);
  urls::url dest;
  if (!urls::resolve(*b, *ref, dest)) return std::error_code(errc::invalid_url);
  dest.remove_fragment();
  return take_apart(dest);
}

}  // namespace moat::http::detail
