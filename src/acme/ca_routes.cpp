// The CA's dispatch: which resource a request is for, the checks every POST passes (content
// type, JWS, url, nonce, kid or jwk, signature), the problem documents, and the resources
// served by GET (directory, newNonce, renewalInfo, CRL).
#include "acme/ca_routes.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <moat/pki/digest.hpp>

#include "acme/ca_issue.hpp"
#include "acme/ca_problem.hpp"
#include "acme/parse.hpp"

namespace moat::acme::detail {

namespace net = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using bhttp::verb;

json::object post_context::payload_object() const {
  if (jws.payload_b64.empty()) throw ca_failure(errc::malformed, "this request needs a payload");
  try {
    return parse_object(jws.payload);
  } catch (const bad_document& e) {
    throw ca_failure(errc::malformed, std::string("the payload is not a JSON object: ") + e.what());
  }
}

http::response json_response(int status, const json::object& body) {
  http::response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = json::serialize(body);
  return res;
}

namespace {

http::response problem_response(const ca_failure& f) {
  http::response res{static_cast<bhttp::status>(f.status()), 11};
  res.set(bhttp::field::content_type, "application/problem+json");
  res.body() = problem_json(f);
  for (const auto& [name, value] : f.headers) res.insert(name, value);
  return res;
}

bool reject_nonce_anyway(double rate) {
  if (rate <= 0.0) return false;
  const auto b = pki::random_bytes(4);
  const std::uint32_t v = (std::uint32_t{b[0]} << 24U) | (std::uint32_t{b[1]} << 16U) |
                          (std::uint32_t{b[2]} << 8U) | std::uint32_t{b[3]};
  return static_cast<double>(v) / 4294967296.0 < rate;
}

http::response directory(const ca::state& st, const std::string& base) {
  json::object d;
  d["newNonce"] = base + "/new-nonce";
  d["newAccount"] = base + "/new-account";
  d["newOrder"] = base + "/new-order";
  d["revokeCert"] = base + "/revoke-cert";
  d["keyChange"] = base + "/key-change";
  d["renewalInfo"] = base + "/renewal-info";
  json::object meta;
  json::object profiles;
  for (const auto& p : st.opts.profiles) profiles[p.name] = p.description;
  meta["profiles"] = std::move(profiles);
  if (!st.opts.terms_of_service.empty()) meta["termsOfService"] = st.opts.terms_of_service;
  if (!st.opts.website.empty()) meta["website"] = st.opts.website;
  if (st.opts.external_account_required) meta["externalAccountRequired"] = true;
  d["meta"] = std::move(meta);
  return json_response(200, d);
}

http::response renewal_info(ca::state& st, std::string_view id) {
  const auto it = st.cert_by_ari.find(std::string(id));
  if (it == st.cert_by_ari.end()) {
    throw ca_failure(errc::malformed, "no certificate with this ARI certificate ID", 404);
  }
  const auto& c = st.certs.at(it->second);
  const auto life = c.not_after - c.not_before;
  sys_time start = c.not_before + life * 2 / 3;
  sys_time end = c.not_before + life * 5 / 6;
  if (c.renew_now || c.revoked) {
    // A window that has ended: "renew immediately" (RFC 9773 section 4.2). One still open
    // would let a client wait for a random time inside it.
    end = c.renew_now ? *c.renew_now : c.revoked_at;
    start = end - std::chrono::hours(1);
  }
  json::object w;
  w["start"] = format_time(start);
  w["end"] = format_time(end);
  json::object o;
  o["suggestedWindow"] = std::move(w);
  auto res = json_response(200, o);
  res.set(bhttp::field::retry_after, std::to_string(st.opts.renewal_info_retry_after.count()));
  return res;
}

std::string origin_of(const ca::state& st, const http::incoming& in) {
  if (!st.base_url.empty()) return st.base_url;
  const auto host = in.message.find(bhttp::field::host);
  const std::string h = host != in.message.end() ? std::string(host->value()) : std::string();
  return (in.secure ? "https://" : "http://") + h;
}

/// The POST checks common to every resource; the handler for the resource then runs.
http::response handle_post(ca::state& st, const http::incoming& in, const std::string& base,
                           const std::string& resource) {
  check_content_type(in.message[bhttp::field::content_type]);
  post_context c{.st = st,
                 .base = base,
                 .url = base + "/" + resource,
                 .resource = resource,
                 .jws = parse_jws(in.message.body()),
                 .account = nullptr,
                 .now = st.now()};
  key_mode mode = key_mode::kid;
  if (resource == "new-account") mode = key_mode::jwk;
  if (resource == "revoke-cert") mode = key_mode::kid_or_jwk;
  check_header(c.jws, c.url, mode);
  if (!st.nonces.consume(c.jws.nonce) || reject_nonce_anyway(st.opts.nonce_reject_rate)) {
    throw ca_failure(errc::bad_nonce, "the nonce is unknown, used, or expired");
  }
  if (!c.jws.kid.empty()) {
    const std::string acct_prefix = base + "/acct/";
    if (!c.jws.kid.starts_with(acct_prefix)) {
      throw ca_failure(errc::account_does_not_exist, "\"kid\" is not an account URL of this CA");
    }
    const auto it = st.accounts.find(c.jws.kid.substr(acct_prefix.size()));
    if (it == st.accounts.end()) {
      throw ca_failure(errc::account_does_not_exist, "no account " + c.jws.kid);
    }
    verify_signature(c.jws, it->second.spki);
    if (it->second.status != object_status::valid) {
      throw ca_failure(errc::unauthorized,
                       "the account is " + std::string(to_string(it->second.status)));
    }
    c.account = &it->second;
  } else {
    verify_signature(c.jws, c.jws.jwk_spki);
  }
  st.collect_garbage(c.now);
  const std::string_view r = resource;
  if (r == "new-account") return new_account(c);
  if (r == "new-order") return new_order(c);
  if (r == "revoke-cert") return revoke_cert(c);
  if (r == "key-change") return key_change(c);
  if (r.starts_with("acct/")) return account_resource(c, r.substr(5));
  if (r.starts_with("order/")) return order_resource(c, r.substr(6));
  if (r.starts_with("authz/")) return authz_resource(c, r.substr(6));
  if (r.starts_with("chall/")) return challenge_resource(c, r.substr(6));
  if (r.starts_with("cert/")) return certificate_resource(c, r.substr(5));
  throw ca_failure(errc::malformed, "no such resource", 404);
}

http::response handle(ca::state& st, const http::incoming& in, std::string& base) {
  std::lock_guard lock(st.mu);
  base = origin_of(st, in) + st.prefix;
  std::string_view rest = in.path;
  rest.remove_prefix(std::min(rest.size(), st.prefix.size() + 1));
  const std::string resource(rest);
  const verb m = in.message.method();
  const bool get = m == verb::get || m == verb::head;
  if (resource == "directory") {
    if (!get) throw ca_failure(errc::malformed, "the directory is read with GET", 405);
    return directory(st, base);
  }
  if (resource == "new-nonce") {
    if (!get) throw ca_failure(errc::malformed, "newNonce is read with HEAD or GET", 405);
    http::response res{m == verb::head ? bhttp::status::ok : bhttp::status::no_content, 11};
    res.set(bhttp::field::cache_control, "no-store");
    return res;
  }
  if (resource.starts_with("renewal-info/")) {
    if (!get) throw ca_failure(errc::malformed, "renewalInfo is read with GET", 405);
    return renewal_info(st, std::string_view(resource).substr(13));
  }
  if (resource == "crl") {
    if (!get) throw ca_failure(errc::malformed, "the CRL is read with GET", 405);
    http::response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/pkix-crl");
    const auto der = make_crl(st);
    res.body().assign(der.begin(), der.end());
    return res;
  }
  if (m != verb::post) {
    throw ca_failure(errc::malformed, "ACME resources are read with POST-as-GET (RFC 8555 6.3)",
                     405);
  }
  return handle_post(st, in, base, resource);
}

// The authorization a POST to authz/ID, chall/ID or order/ID is about while one of its
// challenges is being validated (none otherwise). Call with mu held.
std::optional<std::string> validating_authz(const ca::state& st, const http::incoming& in) {
  if (in.message.method() != verb::post) return std::nullopt;
  std::string_view r = in.path;
  if (r.size() <= st.prefix.size() + 1) return std::nullopt;
  r.remove_prefix(st.prefix.size() + 1);
  std::vector<std::string> candidates;
  if (r.starts_with("authz/")) {
    candidates.emplace_back(r.substr(6));
  } else if (r.starts_with("chall/")) {
    const auto c = st.challenges.find(std::string(r.substr(6)));
    if (c != st.challenges.end()) candidates.push_back(c->second.authz);
  } else if (r.starts_with("order/")) {
    const auto o = st.orders.find(std::string(r.substr(6)));
    if (o != st.orders.end()) candidates = o->second.authzs;
  }
  for (const auto& id : candidates) {
    const auto a = st.authzs.find(id);
    if (a == st.authzs.end() || a->second.status != object_status::pending) continue;
    for (const auto& ch : a->second.challenges) {
      const auto c = st.challenges.find(ch);
      if (c != st.challenges.end() && c->second.status == object_status::processing) return id;
    }
  }
  return std::nullopt;
}

// A poll that arrives while its validation runs waits for the outcome, at most the
// Retry-After it would otherwise be told, so that it answers "valid" or "invalid" at once
// instead of "pending, come back in a second". The request is not read (nor its nonce used)
// before.
// A waiting poll's entry in the state's waiters, removed when the poll ends -- also when its
// coroutine is destroyed without resuming (its server stopped): the validation never wakes a
// timer, or posts to an executor, that is gone.
struct waiter_entry {
  std::shared_ptr<ca::state> st;
  std::string authz;
  std::uint64_t id = 0;
  waiter_entry() = default;
  waiter_entry(const waiter_entry&) = delete;
  waiter_entry& operator=(const waiter_entry&) = delete;
  ~waiter_entry() {
    if (!st) return;
    std::lock_guard lock(st->mu);
    const auto it = st->validation_waiters.find(authz);
    if (it == st->validation_waiters.end()) return;
    it->second.erase(id);
    if (it->second.empty()) st->validation_waiters.erase(it);
  }
};

net::awaitable<void> await_validation(const std::shared_ptr<ca::state>& st,
                                      const http::incoming& in) {
  const auto ex = co_await net::this_coro::executor;
  auto timer = std::make_shared<net::steady_timer>(ex, st->opts.retry_after);
  waiter_entry entry;
  {
    std::lock_guard lock(st->mu);
    const auto authz = validating_authz(*st, in);
    if (!authz) co_return;
    const std::uint64_t id = ++st->last_waiter_id;
    st->validation_waiters[*authz].emplace(id, [ex, w = std::weak_ptr<net::steady_timer>(timer)] {
      net::post(ex, [w] {
        if (auto t = w.lock()) t->cancel();
      });
    });
    entry.st = st;
    entry.authz = *authz;
    entry.id = id;
  }
  boost::system::error_code ec;
  co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
}

}  // namespace

http::route_handler make_route(std::shared_ptr<ca::state> st) {
  return [st](const http::incoming& in) -> net::awaitable<http::response> {
    co_await await_validation(st, in);
    std::string base;
    http::response res;
    try {
      res = handle(*st, in, base);
    } catch (const ca_failure& f) {
      st->log->debug("acme ca: {} {} refused: {}: {}", std::string(in.message.method_string()),
                     std::string(in.path), reason_name(f.code()), f.what());
      res = problem_response(f);
      if (f.status() == 405) res.set(bhttp::field::allow, "POST");
    } catch (const std::exception& e) {
      st->log->warn("acme ca: {} {} failed: {}", std::string(in.message.method_string()),
                    std::string(in.path), e.what());
      res = problem_response(ca_failure(errc::server_internal, "internal error", 500));
    }
    const verb m = in.message.method();
    {
      std::lock_guard lock(st->mu);
      if (base.empty()) base = origin_of(*st, in) + st->prefix;
      if (m == verb::post || in.path.ends_with("/new-nonce")) {
        res.set("Replay-Nonce", st->nonces.issue());
      }
    }
    res.insert(bhttp::field::link, "<" + base + "/directory>;rel=\"index\"");
    res.prepare_payload();
    co_return res;
  };
}

}  // namespace moat::acme::detail
