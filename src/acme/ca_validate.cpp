// Validation of HTTP-01, TLS-ALPN-01 and DNS-01 challenges. Nothing the validated party sends
// is believed beyond the exact checks: a status 200 with the exact key authorization (trailing
// whitespace ignored), a negotiated "acme-tls/1" with one SAN and the critical acmeIdentifier
// holding SHA-256 of the key authorization, a TXT record equal to its base64url digest.
#include "acme/ca_validate.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <moat/pki/digest.hpp>
#include <moat/pki/encoding.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/errors.hpp>
#include <moat/tls/socket.hpp>

#include "acme/ca_problem.hpp"
#include "acme/ca_state.hpp"
#include "acme/headers.hpp"
#include "acme/tls_alpn_names.hpp"

namespace moat::acme::detail {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using steady = std::chrono::steady_clock;

namespace {

struct failure {
  errc code;
  std::string detail;
};
using outcome = std::optional<failure>;

std::chrono::milliseconds left(steady::time_point deadline) {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return d.count() > 0 ? d : std::chrono::milliseconds(1);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// The addresses to connect to for `host`, in order: an IP literal as it is, the addresses of
/// the hosts map's entry ("::1,127.0.0.1"), or every address the system resolver gives. A
/// validation tries them in turn until one connects -- a name with an IPv6 and an IPv4
/// address is reached on whichever listens, as public CAs do.
net::awaitable<std::vector<std::string>> resolve(const ca::state& st, std::string host) {
  boost::system::error_code ec;
  const auto a = net::ip::make_address(host, ec);
  if (!ec) co_return std::vector<std::string>{a.to_string()};
  std::vector<std::string> out;
  const auto it = st.opts.hosts.find(lower(host));
  if (it != st.opts.hosts.end()) {
    std::string_view rest = it->second;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      auto one = rest.substr(0, comma);
      while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
      while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
      if (!one.empty()) out.emplace_back(one);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (out.empty()) throw std::runtime_error("the hosts entry of " + host + " is empty");
    co_return out;
  }
  net::ip::tcp::resolver r(co_await net::this_coro::executor);
  auto results = co_await r.async_resolve(host, "", net::redirect_error(net::use_awaitable, ec));
  if (ec || results.empty()) throw std::runtime_error("cannot resolve " + host);
  for (const auto& e : results) {
    auto s = e.endpoint().address().to_string();
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  }
  co_return out;
}

failure connect_failure(std::error_code ec, std::string_view what) {
  if (ec.category() == tls::category()) {
    const auto e = static_cast<tls::errc>(ec.value());
    if (e != tls::errc::connect_timeout) {
      return {errc::tls, std::string(what) + ": TLS failed: " + ec.message()};
    }
  }
  return {errc::connection, std::string(what) + ": " + ec.message()};
}

struct url_target {
  bool https = false;
  std::string host;
  std::string path;
};

/// An absolute http(s) URL of a redirect; nullopt for another scheme, a user part or a port
/// other than the scheme's default (RFC 8555 section 10.2: only ports 80 and 443).
std::optional<url_target> redirect_target(std::string_view base_host, bool base_https,
                                          std::string_view location) {
  url_target t;
  if (location.starts_with("/")) {
    t.https = base_https;
    t.host = base_host;
    t.path = location;
    return t;
  }
  if (location.starts_with("http://")) {
    location.remove_prefix(7);
  } else if (location.starts_with("https://")) {
    t.https = true;
    location.remove_prefix(8);
  } else {
    return std::nullopt;
  }
  const auto slash = location.find('/');
  std::string_view authority = location.substr(0, slash);
  t.path = slash == std::string_view::npos ? "/" : std::string(location.substr(slash));
  if (authority.find('@') != std::string_view::npos || authority.empty()) return std::nullopt;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    t.host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
  } else {
    const auto colon = authority.find(':');
    t.host = authority.substr(0, colon);
    authority.remove_prefix(colon == std::string_view::npos ? authority.size() : colon);
  }
  if (!authority.empty()) {
    const std::string_view port = authority.substr(1);
    if (port != (t.https ? "443" : "80")) return std::nullopt;
  }
  return t;
}

net::awaitable<outcome> http01(const ca::state& st, identifier id, std::string token,
                               std::string key_authorization) {
  const auto deadline = steady::now() + st.opts.validation_timeout;
  url_target t{false, id.value, "/.well-known/acme-challenge/" + token};
  for (int redirects = 0;; ++redirects) {
    std::vector<std::string> addresses;
    try {
      addresses = co_await resolve(st, t.host);
    } catch (const std::exception& e) {
      co_return failure{errc::dns, e.what()};
    }
    const std::uint16_t port = t.https ? st.opts.tls_alpn01_port : st.opts.http01_port;
    const std::string where = (t.https ? "https://" : "http://") + t.host + t.path;
    tls::socket_options so;
    so.packet = framing::packet_mode::raw;
    so.send_timeout = left(deadline);
    tls::result<tls::socket> s = make_error_code(tls::errc::not_connected);
    if (t.https) {
      tls::options to;
      to.verify = tls::verify_mode::none;
      to.reuse_sessions = false;
      to.alpn = {"http/1.1"};
      boost::system::error_code ec;
      (void)net::ip::make_address(t.host, ec);
      if (ec) {
        to.server_name_indication = t.host;
      } else {
        to.disable_sni = true;
      }
      tls::context ctx(tls::role::client, to);
      for (const auto& address : addresses) {
        s = co_await tls::socket::connect(st.ex, address, port, ctx, left(deadline), so);
        if (s || left(deadline) <= std::chrono::milliseconds::zero()) break;
      }
    } else {
      for (const auto& address : addresses) {
        s = co_await tls::socket::connect_plain(st.ex, address, port, left(deadline), so);
        if (s || left(deadline) <= std::chrono::milliseconds::zero()) break;
      }
    }
    if (!s) co_return connect_failure(s.error(), where);
    std::string host_header = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
    const std::string req = "GET " + t.path + " HTTP/1.1\r\nHost: " + host_header +
                            "\r\nUser-Agent: moat-ca\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    if (auto ec = co_await s->send(req)) co_return connect_failure(ec, where);
    bhttp::response_parser<bhttp::string_body> p;
    p.header_limit(8 * 1024);
    p.body_limit(st.opts.http01_max_body);
    std::string buf;
    bool eof = false;
    while (!p.is_done()) {
      boost::beast::error_code pec;
      if (!buf.empty()) {
        const auto used = p.put(net::buffer(buf), pec);
        buf.erase(0, used);
        if (pec == bhttp::error::need_more) pec = {};
        if (pec) {
          co_return failure{errc::incorrect_response,
                            where + ": not a usable HTTP response (" + pec.message() + ")"};
        }
        if (p.is_done()) break;
        if (used > 0 && !buf.empty()) continue;
      }
      if (eof) {
        p.put_eof(pec);
        if (pec) co_return failure{errc::connection, where + ": the response was cut short"};
        break;
      }
      auto r = co_await s->recv(0, left(deadline));
      if (!r) {
        const auto e = r.error();
        if (e == make_error_code(tls::errc::closed) || e == make_error_code(tls::errc::truncated)) {
          eof = true;
          continue;
        }
        co_return connect_failure(e, where);
      }
      buf.append(reinterpret_cast<const char*>(r->data()), r->size());
      if (buf.size() > st.opts.http01_max_body + 16 * 1024) {
        co_return failure{errc::incorrect_response, where + ": the response is too large"};
      }
    }
    co_await s->close(std::chrono::milliseconds(100));
    const auto& res = p.get();
    const unsigned status = res.result_int();
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      if (redirects >= 10) co_return failure{errc::connection, where + ": too many redirects"};
      const auto loc = res.find(bhttp::field::location);
      std::optional<url_target> next;
      if (loc != res.end()) next = redirect_target(t.host, t.https, loc->value());
      if (!next) {
        co_return failure{errc::connection,
                          where +
                              ": redirect to an unusable location (only http and https on "
                              "their default ports)"};
      }
      t = *next;
      continue;
    }
    if (status != 200) {
      co_return failure{errc::unauthorized,
                        where + ": status " + std::to_string(status) + " instead of 200"};
    }
    std::string body = res.body();
    while (!body.empty() && (body.back() == ' ' || body.back() == '\n' || body.back() == '\r' ||
                             body.back() == '\t')) {
      body.pop_back();
    }
    if (body != key_authorization) {
      co_return failure{errc::incorrect_response,
                        where + ": the body is not the key authorization"};
    }
    co_return std::nullopt;
  }
}

net::awaitable<outcome> tls_alpn01(const ca::state& st, identifier id,
                                   std::string key_authorization) {
  const auto deadline = steady::now() + st.opts.validation_timeout;
  std::vector<std::string> addresses;
  try {
    addresses = co_await resolve(st, id.value);
  } catch (const std::exception& e) {
    co_return failure{errc::dns, e.what()};
  }
  const std::string where = "tls-alpn-01 " + id.value;
  tls::options to;
  to.verify = tls::verify_mode::none;
  to.reuse_sessions = false;
  to.alpn = {"acme-tls/1"};
  // Only the certificate's SAN and acmeIdentifier matter (RFC 8737 section 3); lego's has
  // keyUsage keyEncipherment alone, which Go's TLS stack (and Let's Encrypt) accept.
  to.insecure_allow_key_usage_violation = true;
  to.server_name_indication = validation_server_name(id);
  tls::context ctx(tls::role::client, to);
  tls::socket_options so;
  so.packet = framing::packet_mode::raw;
  tls::result<tls::socket> s = make_error_code(tls::errc::not_connected);
  for (const auto& address : addresses) {
    s = co_await tls::socket::connect(st.ex, address, st.opts.tls_alpn01_port, ctx, left(deadline),
                                      so);
    if (s || left(deadline) <= std::chrono::milliseconds::zero()) break;
  }
  if (!s) co_return connect_failure(s.error(), where);
  const auto info = s->connection_information();
  const auto cert = s->peer_certificate();
  co_await s->close(std::chrono::milliseconds(100));
  if (!info || info->alpn != "acme-tls/1") {
    co_return failure{errc::tls, where + ": the server did not negotiate acme-tls/1"};
  }
  if (!cert) co_return failure{errc::tls, where + ": no certificate"};
  const auto sans = cert->subject_alt_names();
  std::string expected;
  if (id.type == "ip") {
    boost::system::error_code ec;
    expected = "IP:" + net::ip::make_address(id.value, ec).to_string();
  } else {
    expected = "DNS:" + lower(id.value);
  }
  if (sans.size() != 1 || lower(sans.front()) != lower(expected)) {
    co_return failure{errc::incorrect_response,
                      where + ": the certificate must have exactly one SAN, " + expected};
  }
  const auto ext = cert->extension(acme_identifier_oid);
  if (!ext) {
    co_return failure{errc::incorrect_response,
                      where + ": the certificate has no acmeIdentifier extension"};
  }
  if (!ext->critical) {
    co_return failure{errc::incorrect_response, where + ": acmeIdentifier is not critical"};
  }
  const auto digest = pki::sha256(key_authorization);
  std::vector<std::uint8_t> want(2 + digest.size());
  want[0] = 0x04;  // OCTET STRING
  want[1] = static_cast<std::uint8_t>(digest.size());
  std::copy(digest.begin(), digest.end(), want.begin() + 2);
  if (ext->der != want) {
    co_return failure{errc::incorrect_response,
                      where + ": acmeIdentifier is not the digest of the key authorization"};
  }
  co_return std::nullopt;
}

net::awaitable<outcome> dns01(const ca::state& st, identifier id, std::string key_authorization) {
  const std::string name = "_acme-challenge." + lower(id.value) + ".";
  std::vector<std::string> records;
  try {
    records = co_await st.opts.dns01_lookup(name);
  } catch (const std::exception& e) {
    co_return failure{errc::dns, "TXT lookup of " + name + " failed: " + e.what()};
  }
  const std::string want = pki::base64url_encode(pki::sha256(key_authorization));
  for (const auto& r : records) {
    if (r == want) co_return std::nullopt;
  }
  co_return failure{errc::incorrect_response,
                    records.empty() ? "no TXT record at " + name
                                    : "no TXT record at " + name + " holds the expected digest"};
}

net::awaitable<void> run(std::shared_ptr<ca::state> st, std::string challenge_id) {
  identifier id;
  std::string type, token, key_authorization;
  {
    std::lock_guard lock(st->mu);
    const auto c = st->challenges.find(challenge_id);
    if (c == st->challenges.end()) co_return;
    const auto a = st->authzs.find(c->second.authz);
    if (a == st->authzs.end()) co_return;
    const auto acct = st->accounts.find(a->second.account);
    if (acct == st->accounts.end()) co_return;
    id = a->second.ident;
    type = c->second.type;
    token = c->second.token;
    key_authorization = token + "." + acct->second.thumbprint;
  }
  outcome result;
  try {
    if (type == "http-01") {
      result = co_await http01(*st, id, token, key_authorization);
    } else if (type == "tls-alpn-01") {
      result = co_await tls_alpn01(*st, id, key_authorization);
    } else {
      result = co_await dns01(*st, id, key_authorization);
    }
  } catch (const std::exception& e) {
    result = failure{errc::connection, type + " for " + id.value + ": " + e.what()};
  }
  std::lock_guard lock(st->mu);
  const auto c = st->challenges.find(challenge_id);
  if (c == st->challenges.end()) co_return;
  const auto a = st->authzs.find(c->second.authz);
  if (a == st->authzs.end()) co_return;
  if (auto w = st->validation_waiters.extract(a->first)) {
    for (auto& [waiter, wake] : w.mapped())
      wake();  // they read the outcome once the lock is released
  }
  const auto t = st->now();
  if (!result) {
    c->second.status = object_status::valid;
    c->second.validated = t;
    if (a->second.status == object_status::pending) {
      a->second.status = object_status::valid;
      a->second.expires = t + st->opts.valid_authorization_lifetime;
    }
    st->log->info("acme ca: {} validated {} {}", type, id.type, id.value);
  } else {
    c->second.status = object_status::invalid;
    c->second.error = make_problem(result->code, result->detail);
    c->second.error->subproblems.clear();
    if (a->second.status == object_status::pending) a->second.status = object_status::invalid;
    ++st->counters.validations_failed;
    st->log->info("acme ca: {} for {} failed: {}", type, id.value, result->detail);
  }
}

}  // namespace

void start_validation(std::shared_ptr<ca::state> st, std::string challenge_id) {
  // Posted, not dispatched: the caller holds the state's mutex, and co_spawn would run the
  // coroutine at once on a thread of the executor's (which takes that mutex).
  auto ex = st->ex;
  net::post(ex, [st = std::move(st), id = std::move(challenge_id)]() mutable {
    auto e = st->ex;
    net::co_spawn(e, run(std::move(st), std::move(id)), net::detached);
  });
}

}  // namespace moat::acme::detail
