// The request target and Host checks (see target.hpp).
#include "http/target.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <moat/http/errors.hpp>

namespace moat::http::detail {

namespace bhttp = boost::beast::http;
namespace urls = boost::urls;

namespace {

// The host of an authority as a server reports it: lower case, brackets kept for IP literals.
// False when it is not acceptable (user info, percent-escapes).
bool host_of(const urls::authority_view& a, std::string& out) {
  if (a.has_userinfo()) return false;
  const auto h = a.encoded_host();
  if (h.find('%') != std::string_view::npos) return false;
  out.assign(h.data(), h.size());
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return true;
}

bool take_path(urls::url_view v, request_target& t) {
  urls::url u(v);
  u.normalize_path();
  auto p = u.encoded_path();
  t.encoded_path.assign(p.data(), p.size());
  if (t.encoded_path.empty()) t.encoded_path = "/";
  // (Boost.URL 1.81 takes "http://h:80p/x" as port "80" and the path "p/x".)
  if (t.encoded_path.front() != '/') return false;
  t.path = urls::pct_string_view(t.encoded_path).decode();
  if (t.path.find('\0') != std::string::npos) return false;
  if (v.has_query()) {
    auto q = v.encoded_query();
    t.query.assign(q.data(), q.size());
  }
  return true;
}

}  // namespace

result<request_target> analyse_target(const request_message& m) {
  const std::error_code bad = errc::malformed_message;
  request_target t;
  const std::string_view target(m.target().data(), m.target().size());
  bool host_from_target = false;
  if (!target.empty() && target.front() == '/') {
    auto r = urls::parse_origin_form(target);
    if (!r || !take_path(*r, t)) return bad;
  } else if (target == "*" && m.method() == bhttp::verb::options) {
    t.path = t.encoded_path = "*";
  } else {
    auto r = urls::parse_absolute_uri(target);
    if (!r || !r->has_authority()) return bad;
    const auto scheme = r->scheme_id();
    if (scheme != urls::scheme::http && scheme != urls::scheme::https) return bad;
    if (!host_of(r->authority(), t.host) || t.host.empty() || !take_path(*r, t)) return bad;
    host_from_target = true;
  }
  // Exactly one Host in HTTP/1.1 (RFC 9112 section 3.2); an HTTP/1.0 request may have none.
  const auto hosts = m.count(bhttp::field::host);
  if (hosts > 1 || (hosts == 0 && m.version() >= 11)) return bad;
  if (hosts == 1 && !host_from_target) {
    const auto value = m[bhttp::field::host];
    if (!value.empty()) {
      auto a = urls::parse_authority(std::string_view(value.data(), value.size()));
      if (!a || !host_of(*a, t.host) || t.host.empty()) return bad;
    }
  }
  return t;
}

}  // namespace moat::http::detail
