// The client's conversation with the CA: the directory, the nonce pool, signed POSTs with
// badNonce retries, and the checks every answer goes through before anything reads it.
#include <spdlog/spdlog.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <moat/log.hpp>
#include <moat/pki/encoding.hpp>

#include "acme/client_impl.hpp"
#include "acme/headers.hpp"
#include "acme/jws.hpp"
#include "acme/parse.hpp"

namespace moat::acme {

namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t max_pooled_nonces = 32;

pki::private_key key_or_fresh(const pki::private_key& k) {
  return k.empty() ? pki::private_key::generate(pki::key_type::ecdsa_p256) : k;
}

}  // namespace

std::vector<std::string_view> header_values(const http::response& res, std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& f : res) {
    if (boost::beast::iequals(f.name_string(), name)) out.emplace_back(f.value());
  }
  return out;
}

namespace {

/// RFC 8555 section 6.1: every ACME exchange is over HTTPS; a URL the CA hands out that is not
/// (a Location, a Link, an order's finalize or certificate URL) is refused, not followed.
std::optional<error> refuse_insecure(const std::string& context, const std::string& url) {
  if (url.rfind("https://", 0) == 0) return std::nullopt;
  return error(errc::bad_response, context,
               "the CA gave a URL that is not https: '" + url.substr(0, 200) + "'");
}

}  // namespace

client::impl::impl(net::any_io_executor e, client_options o)
    : ex(e),
      opts(std::move(o)),
      http(e, opts.http),
      log(opts.logger ? opts.logger : moat::default_logger()),
      key(key_or_fresh(opts.account_key)) {}

net::awaitable<void> client::impl::sleep(std::chrono::steady_clock::duration d) {
  net::steady_timer t(ex, d);
  boost::system::error_code ec;
  co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
}

result<reply> client::impl::check(const std::string& context, const std::string& url,
                                  http::response res, body_kind kind) const {
  const int status = static_cast<int>(res.result_int());
  const auto now = std::chrono::system_clock::now();
  std::optional<std::chrono::seconds> retry_after;
  if (const auto it = res.find(bhttp::field::retry_after); it != res.end()) {
    retry_after = detail::parse_retry_after(it->value(), now);
  }
  const std::string type = detail::media_type(res[bhttp::field::content_type]);
  if (status >= 400) {
    if (type == "application/problem+json" || type == "application/json") {
      try {
        auto p = detail::parse_problem(detail::parse_object(res.body()), status);
        const errc code = problem_code(p.type);
        error e(code, context, {}, std::move(p), retry_after);
        e.set_http_status(status);
        return e;
      } catch (const detail::bad_document&) {
        // Fall through: an error status whose body is not a problem document.
      }
    }
    error e(errc::http_status, context, "HTTP " + std::to_string(status) + " from " + url,
            std::nullopt, retry_after);
    e.set_http_status(status);
    return e;
  }
  if (status < 200 || status >= 300) {
    return error(errc::bad_response, context,
                 "unexpected HTTP " + std::to_string(status) + " from " + url);
  }
  reply r;
  r.status = status;
  r.retry_after = retry_after;
  if (const auto it = res.find(bhttp::field::location); it != res.end()) {
    r.location = detail::resolve_url(url, it->value());
  }
  switch (kind) {
    case body_kind::json:
      if (type != "application/json") {
        return error(
            errc::bad_response, context,
            "the answer's Content-Type is '" + type.substr(0, 80) + "', not application/json");
      }
      try {
        r.json = detail::parse_object(res.body());
      } catch (const detail::bad_document& e) {
        return error(errc::bad_response, context, e.what());
      }
      break;
    case body_kind::pem_chain:
      if (type != "application/pem-certificate-chain") {
        return error(errc::bad_response, context,
                     "the certificate's Content-Type is '" + type.substr(0, 80) +
                         "', not application/pem-certificate-chain");
      }
      break;
    case body_kind::none:
      break;
  }
  r.res = std::move(res);
  return r;
}

net::awaitable<result<directory>> client::impl::get_directory() {
  if (dir) co_return *dir;
  auto r = co_await get("directory " + opts.directory_url, opts.directory_url, body_kind::json);
  if (!r) co_return r.error();
  try {
    dir = detail::parse_directory(r->json);
  } catch (const detail::bad_document& e) {
    co_return error(errc::bad_response, "directory " + opts.directory_url, e.what());
  }
  // Relative URLs in a directory are resolved against it.
  for (std::string* u : {&dir->new_nonce, &dir->new_account, &dir->new_order, &dir->new_authz,
                         &dir->revoke_cert, &dir->key_change, &dir->renewal_info}) {
    if (!u->empty()) *u = detail::resolve_url(opts.directory_url, *u);
  }
  co_return *dir;
}

void client::impl::keep_nonce(const http::response& res) {
  const auto it = res.find("Replay-Nonce");
  if (it == res.end()) return;
  const std::string_view v = it->value();
  // RFC 8555 section 6.5.1: a nonce is base64url; an invalid one is ignored.
  if (v.empty() || v.size() > 256 || !pki::base64url_decode(v)) return;
  nonces.emplace_back(v);
  while (nonces.size() > max_pooled_nonces) nonces.pop_front();
}

net::awaitable<result<std::string>> client::impl::take_nonce(const std::string& context) {
  // The freshest first: an old nonce may have expired at the CA meanwhile.
  if (!nonces.empty()) {
    std::string n = std::move(nonces.back());
    nonces.pop_back();
    co_return n;
  }
  auto d = co_await get_directory();
  if (!d) co_return d.error();
  if (auto e = refuse_insecure(context, d->new_nonce)) co_return *e;
  http::request req{.method = bhttp::verb::head, .url = d->new_nonce};
  auto res = co_await http.send(std::move(req));
  if (!res) co_return error(res.error(), context + ": newNonce " + d->new_nonce);
  keep_nonce(*res);
  if (nonces.empty()) {
    co_return error(errc::no_nonce, context,
                    "newNonce " + d->new_nonce + " answered HTTP " +
                        std::to_string(res->result_int()) + " without a Replay-Nonce");
  }
  std::string n = std::move(nonces.back());
  nonces.pop_back();
  co_return n;
}

net::awaitable<result<reply>> client::impl::get(std::string context, std::string url,
                                                body_kind kind) {
  if (auto e = refuse_insecure(context, url)) co_return *e;
  auto res = co_await http.get(url);
  if (!res) co_return error(res.error(), std::move(context));
  keep_nonce(*res);
  co_return check(context, url, std::move(*res), kind);
}

net::awaitable<result<reply>> client::impl::post(std::string context, std::string url,
                                                 std::string payload, body_kind kind, bool use_jwk,
                                                 const pki::private_key* signer) {
  const pki::private_key& k = signer != nullptr ? *signer : key;
  if (!use_jwk && kid.empty()) co_return error(errc::no_account, context);
  if (auto e = refuse_insecure(context, url)) co_return *e;
  for (unsigned attempt = 0;; ++attempt) {
    auto nonce = co_await take_nonce(context);
    if (!nonce) co_return nonce.error();
    std::string body;
    try {
      body = detail::sign_jws(k, url, *nonce, use_jwk ? std::string_view{} : kid, payload);
    } catch (const std::exception& e) {
      co_return error(errc::invalid_request, context, std::string("signing: ") + e.what());
    }
    http::request req{.method = bhttp::verb::post, .url = url, .body = std::move(body)};
    req.headers.set(bhttp::field::content_type, "application/jose+json");
    if (kind == body_kind::pem_chain) {
      req.headers.set(bhttp::field::accept, "application/pem-certificate-chain");
    }
    auto res = co_await http.send(std::move(req));
    if (!res) co_return error(res.error(), context);
    keep_nonce(*res);
    auto r = check(context, url, std::move(*res), kind);
    if (!r && r.error().code() == errc::bad_nonce && attempt < opts.bad_nonce_retries) {
      log->debug("acme: {}: badNonce, retrying with a fresh nonce ({} of {})", context, attempt + 1,
                 opts.bad_nonce_retries);
      continue;
    }
    co_return r;
  }
}

}  // namespace moat::acme
