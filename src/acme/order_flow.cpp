// obtain(): new order → authorizations (present, respond, poll) → finalize with a CSR →
// poll → download (choosing among alternate chains) → check the certificate against the key
// and the order. Polling honours Retry-After, capped, bounded by the request's deadline, and
// polls at once when the solver has seen the CA fetch its challenge.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <moat/error.hpp>
#include <moat/pki/builder.hpp>
#include <moat/pki/encoding.hpp>
#include <moat/pki/load.hpp>

#include "acme/client_impl.hpp"
#include "acme/headers.hpp"
#include "acme/parse.hpp"

namespace moat::acme {

namespace json = boost::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds first_poll_interval{25};
constexpr milliseconds unseen_fetch_interval{500};
// A CA offers one or two alternate chains; more are not looked at.
constexpr std::size_t max_alternate_chains = 8;

/// Normalizes an identifier (lower-case names, canonical addresses); an error text if it is
/// not one the client can order.
std::optional<std::string> normalize(identifier& id) {
  if (id.type == "ip") {
    boost::system::error_code ec;
    const auto a = boost::asio::ip::make_address(id.value, ec);
    if (ec) return "'" + id.value + "' is not an IP address";
    id.value = a.to_string();  // RFC 8738: RFC 5952 text for IPv6
    return std::nullopt;
  }
  if (id.type != "dns") return "identifier type '" + id.type + "' is not dns or ip";
  std::transform(id.value.begin(), id.value.end(), id.value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (id.value.empty() || id.value.size() > 253) return "a DNS name must have 1 to 253 characters";
  const std::string_view rest = std::string_view(id.value).starts_with("*.")
                                    ? std::string_view(id.value).substr(2)
                                    : std::string_view(id.value);
  for (const char c : rest) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      return "'" + id.value + "' is not a DNS name";
    }
  }
  return std::nullopt;
}

std::string san_of(const identifier& id) {
  return (id.type == "ip" ? "IP:" : "DNS:") + id.value;
}

/// The CN= component of an RFC 4514 distinguished name (empty if none).
std::string common_name_of(std::string_view dn) {
  std::size_t pos = 0;
  while (pos < dn.size()) {
    std::size_t end = pos;
    while (end < dn.size() && dn[end] != ',') end += dn[end] == '\\' ? 2U : 1U;
    const std::string_view rdn = dn.substr(pos, end - pos);
    if (rdn.starts_with("CN=")) return std::string(rdn.substr(3));
    pos = end + 1;
  }
  return {};
}

bool chain_matches(const std::vector<pki::certificate>& chain, std::string_view name) {
  if (chain.empty()) return false;
  const auto& top = chain.back();
  return common_name_of(top.issuer()) == name || common_name_of(top.subject()) == name;
}

struct presented {
  solver* by = nullptr;
  challenge_task task;
  std::string authz_url;
  bool fetched = false;
};

/// The state of one obtain().
struct run {
  client::impl& s;
  order_request& req;
  steady::time_point deadline;
  std::vector<presented> tasks;

  [[nodiscard]] milliseconds left() const {
    return std::chrono::duration_cast<milliseconds>(deadline - steady::now());
  }

  /// The next wait between polls: Retry-After when the CA gave one, else the backoff; both
  /// capped by max_poll_interval.
  [[nodiscard]] milliseconds next_wait(
      milliseconds& backoff, const std::optional<std::chrono::seconds>& retry_after) const {
    // Retry-After is the least to wait (RFC 8555 section 8.2); a "0" or a date in the past
    // does not make the client poll without pause: the backoff still applies.
    milliseconds w = backoff;
    if (retry_after) w = std::max(w, std::chrono::duration_cast<milliseconds>(*retry_after));
    backoff = std::min(std::max(backoff * 2, first_poll_interval), s.opts.max_poll_interval);
    return std::min(w, s.opts.max_poll_interval);
  }

  /// POST-as-GET of an order or an authorization, parsed by `parse`; keeps its Retry-After.
  template <class T, class Parse>
  net::awaitable<result<T>> fetch(std::string what, std::string url, Parse parse) {
    const std::string context = what + " " + url;
    auto r = co_await s.post(context, url, "", body_kind::json);
    if (!r) co_return r.error();
    try {
      T value = parse(r->json, url);
      last_retry_after = r->retry_after;
      co_return value;
    } catch (const detail::bad_document& e) {
      co_return error(errc::bad_response, context, e.what());
    }
  }

  net::awaitable<result<order>> fetch_order(const std::string& url) {
    return fetch<order>("order", url, detail::parse_order);
  }

  net::awaitable<result<authorization>> fetch_authorization(const std::string& url) {
    return fetch<authorization>("authorization", url, detail::parse_authorization);
  }

  std::optional<std::chrono::seconds> last_retry_after;

  /// Polls the order while its status is one of `waiting`.
  net::awaitable<result<order>> poll_order(order o, std::vector<object_status> waiting) {
    milliseconds backoff = first_poll_interval;
    while (std::find(waiting.begin(), waiting.end(), o.status) != waiting.end()) {
      const milliseconds w = next_wait(backoff, last_retry_after);
      if (w >= left()) {
        co_return error(errc::deadline_exceeded, "order " + o.url,
                        "still " + std::string(to_string(o.status)) + " at the deadline");
      }
      co_await s.sleep(w);
      auto next = co_await fetch_order(o.url);
      if (!next) co_return next.error();
      o = std::move(*next);
    }
    co_return o;
  }

  /// Phase 1 for one authorization: choose a challenge and a solver, present, respond.
  net::awaitable<result<void>> start_authorization(const std::string& url) {
    auto a = co_await fetch_authorization(url);
    if (!a) co_return a.error();
    if (a->status == object_status::valid) co_return result<void>{};
    const std::string context = "authorization " + url + " (" + a->id.value + ")";
    if (a->status != object_status::pending) {
      co_return error(errc::authorization_failed, context,
                      "the authorization is " + std::string(to_string(a->status)));
    }
    identifier wanted = a->id;
    if (a->wildcard && !wanted.value.starts_with("*.")) wanted.value = "*." + wanted.value;
    for (solver* sv : req.solvers) {
      if (sv == nullptr || !sv->can_solve(wanted)) continue;
      const auto ch =
          std::find_if(a->challenges.begin(), a->challenges.end(),
                       [&](const challenge& c) { return c.type == sv->challenge_type(); });
      if (ch == a->challenges.end()) continue;
      if (ch->token.empty() || !pki::base64url_decode(ch->token)) {
        co_return error(errc::bad_response, context, "the challenge's token is not base64url");
      }
      presented p{sv, {a->id, ch->type, ch->token, key_authorization(ch->token, s.key)}, url};
      try {
        co_await sv->present(p.task);
      } catch (const std::exception& e) {
        co_return error(errc::solver_failed, context, ch->type + ": " + e.what());
      }
      tasks.push_back(p);
      s.log->debug("acme: {} presented for {}", ch->type, a->id.value);
      auto r = co_await s.post("challenge " + ch->url, ch->url, "{}", body_kind::json);
      if (!r) co_return r.error();
      co_return result<void>{};
    }
    std::string offered;
    for (const auto& c : a->challenges) offered += (offered.empty() ? "" : ", ") + c.type;
    std::string have;
    for (solver* sv : req.solvers) {
      if (sv != nullptr) have += (have.empty() ? "" : ", ") + std::string(sv->challenge_type());
    }
    co_return error(errc::no_usable_challenge, context,
                    "the CA offers " + (offered.empty() ? std::string("nothing") : offered) +
                        "; the solvers given answer " +
                        (have.empty() ? std::string("none") : have));
  }

  /// Phase 2 for one presented challenge: wait for the authorization to become final.
  net::awaitable<result<void>> finish_authorization(presented& p) {
    const std::string context =
        "authorization " + p.authz_url + " (" + p.task.identifier.value + ")";
    milliseconds backoff = first_poll_interval;
    for (;;) {
      if (!p.fetched) {
        // Sleep until the CA fetches the challenge (the solver wakes us) or for a while.
        const milliseconds w = std::min(unseen_fetch_interval, std::max(left(), milliseconds(0)));
        const auto waited_from = steady::now();
        p.fetched = co_await p.by->wait_fetched(p.task, w);
        // A solver that cannot tell (DNS-01, the default) returns at once: the interval is
        // slept all the same, so the CA is never polled back to back.
        const auto waited = steady::now() - waited_from;
        if (!p.fetched && waited < w) co_await s.sleep(w - waited);
      }
      auto a = co_await fetch_authorization(p.authz_url);
      if (!a) co_return a.error();
      if (a->status == object_status::valid) co_return result<void>{};
      if (a->status != object_status::pending && a->status != object_status::processing) {
        std::optional<problem> why;
        for (const auto& c : a->challenges) {
          if (c.error) why = c.error;
        }
        const std::string status(to_string(a->status));
        if (why) {
          why->detail = p.task.type + " for " + p.task.identifier.value +
                        " failed: " + std::string(why->short_type()) + ": " + why->detail;
          co_return error(errc::authorization_failed, context, {}, std::move(why));
        }
        co_return error(errc::authorization_failed, context, "the authorization is " + status);
      }
      if (p.fetched) {
        const milliseconds w = next_wait(backoff, last_retry_after);
        if (w >= left()) {
          co_return error(errc::deadline_exceeded, context,
                          "still " + std::string(to_string(a->status)) + " at the deadline");
        }
        co_await s.sleep(w);
      } else if (left() <= milliseconds(0)) {
        co_return error(errc::deadline_exceeded, context,
                        "the CA did not validate the challenge before the deadline");
      }
    }
  }

  net::awaitable<void> cleanup() {
    for (auto& p : tasks) {
      try {
        co_await p.by->cleanup(p.task);
      } catch (const std::exception& e) {
        s.log->warn("acme: cleaning up {} for {} failed: {}", p.task.type, p.task.identifier.value,
                    e.what());
      }
    }
    tasks.clear();
  }

  net::awaitable<result<issued_certificate>> download(const order& o, pki::private_key key) {
    const std::string context = "certificate " + o.certificate;
    auto r = co_await s.post(context, o.certificate, "", body_kind::pem_chain);
    if (!r) co_return r.error();
    issued_certificate out;
    out.key = std::move(key);
    out.order_url = o.url;
    out.certificate_url = o.certificate;
    auto parse = [&](const reply& rep,
                     const std::string& ctx) -> result<std::vector<pki::certificate>> {
      try {
        return pki::parse_certificates(rep.res.body(), "certificate");
      } catch (const moat::config_error& e) {
        return error(errc::bad_response, ctx, e.what());
      }
    };
    auto chain = parse(*r, context);
    if (!chain) co_return chain.error();
    out.chain = std::move(*chain);
    out.chain_pem = r->res.body();
    if (!req.preferred_chain.empty() && !chain_matches(out.chain, req.preferred_chain)) {
      auto links = detail::parse_links(header_values(r->res, "Link"), "alternate");
      if (links.size() > max_alternate_chains) links.resize(max_alternate_chains);
      for (const auto& link : links) {
        const std::string url = detail::resolve_url(o.certificate, link);
        const std::string ctx = "alternate certificate " + url;
        auto alt = co_await s.post(ctx, url, "", body_kind::pem_chain);
        if (!alt) co_return alt.error();
        auto alt_chain = parse(*alt, ctx);
        if (!alt_chain) co_return alt_chain.error();
        if (chain_matches(*alt_chain, req.preferred_chain)) {
          out.chain = std::move(*alt_chain);
          out.chain_pem = alt->res.body();
          out.certificate_url = url;
          break;
        }
      }
    }
    // The certificate must be for our key and name every identifier of the order.
    if (out.chain.front().public_key_der() != out.key.public_key_der()) {
      co_return error(errc::certificate_mismatch, context,
                      "the certificate's public key is not the key of the CSR");
    }
    const auto sans = out.chain.front().subject_alt_names();
    for (const auto& id : req.identifiers) {
      if (std::find(sans.begin(), sans.end(), san_of(id)) == sans.end()) {
        co_return error(errc::certificate_mismatch, context,
                        "the certificate does not name " + id.value);
      }
    }
    co_return out;
  }

  net::awaitable<result<issued_certificate>> execute() {
    auto d = co_await s.get_directory();
    if (!d) co_return d.error();
    if (!req.profile.empty() && !d->profiles.contains(req.profile)) {
      std::string offered;
      for (const auto& [name, desc] : d->profiles) offered += (offered.empty() ? "" : ", ") + name;
      co_return error(errc::invalid_profile, "newOrder " + d->new_order,
                      "the directory offers no profile '" + req.profile + "' (it offers " +
                          (offered.empty() ? std::string("none") : offered) + ")");
    }
    std::string replaces;
    if (req.replaces) {
      if (d->renewal_info.empty()) {
        co_return error(errc::not_supported_by_ca, "newOrder " + d->new_order,
                        "'replaces' needs ACME Renewal Information, which the directory lacks");
      }
      try {
        replaces = renewal_certificate_id(*req.replaces);
      } catch (const std::exception& e) {
        co_return error(errc::invalid_request, "newOrder", e.what());
      }
    }
    if (auto ok = co_await s.ensure_account(); !ok) co_return ok.error();

    json::object payload;
    json::array ids;
    for (const auto& id : req.identifiers) {
      json::object o;
      o["type"] = id.type;
      o["value"] = id.value;
      ids.emplace_back(std::move(o));
    }
    payload["identifiers"] = std::move(ids);
    if (!req.profile.empty()) payload["profile"] = req.profile;
    if (!replaces.empty()) payload["replaces"] = replaces;
    const std::string context = "newOrder " + d->new_order;
    auto r = co_await s.post(context, d->new_order, json::serialize(payload), body_kind::json);
    if (!r) co_return r.error();
    if (r->location.empty()) co_return error(errc::bad_response, context, "no Location");
    order o;
    try {
      o = detail::parse_order(r->json, r->location);
    } catch (const detail::bad_document& e) {
      co_return error(errc::bad_response, context, e.what());
    }
    last_retry_after = r->retry_after;
    s.log->debug("acme: order {} for {} identifier(s)", o.url, o.identifiers.size());

    if (o.status == object_status::pending) {
      for (const auto& url : o.authorizations) {
        if (auto ok = co_await start_authorization(detail::resolve_url(o.url, url)); !ok) {
          co_return ok.error();
        }
      }
      for (auto& p : tasks) {
        if (auto ok = co_await finish_authorization(p); !ok) co_return ok.error();
      }
      auto ready = co_await fetch_order(o.url);
      if (!ready) co_return ready.error();
      // (Named: GCC 12 cannot keep an initializer list's array across a co_await.)
      const std::vector<object_status> waiting{object_status::pending};
      auto polled = co_await poll_order(std::move(*ready), waiting);
      if (!polled) co_return polled.error();
      o = std::move(*polled);
    }
    if (o.status == object_status::ready) {
      pki::private_key key = req.key;
      std::vector<std::uint8_t> csr;
      try {
        if (key.empty()) key = pki::private_key::generate(req.key_type, req.rsa_bits);
        std::vector<std::string> sans;
        std::string cn;
        for (const auto& id : req.identifiers) {
          sans.push_back(san_of(id));
          if (cn.empty() && id.type == "dns" && id.value.size() <= 64) cn = id.value;
        }
        csr = pki::make_csr_der(key, cn, sans);
      } catch (const std::exception& e) {
        co_return error(errc::invalid_request, "finalize", e.what());
      }
      json::object fin;
      fin["csr"] = pki::base64url_encode(csr);
      const std::string fctx = "finalize " + o.finalize;
      auto f = co_await s.post(fctx, detail::resolve_url(o.url, o.finalize), json::serialize(fin),
                               body_kind::json);
      if (!f) co_return f.error();
      try {
        o = detail::parse_order(f->json, o.url);
      } catch (const detail::bad_document& e) {
        co_return error(errc::bad_response, fctx, e.what());
      }
      last_retry_after = f->retry_after;
      const std::vector<object_status> waiting{object_status::processing, object_status::ready};
      auto polled = co_await poll_order(std::move(o), waiting);
      if (!polled) co_return polled.error();
      o = std::move(*polled);
      if (o.status == object_status::valid) {
        if (o.certificate.empty()) {
          co_return error(errc::bad_response, "order " + o.url, "valid but no certificate URL");
        }
        o.certificate = detail::resolve_url(o.url, o.certificate);
        co_return co_await download(o, std::move(key));
      }
    }
    if (o.status == object_status::invalid) {
      co_return error(errc::order_failed, "order " + o.url, {}, o.error);
    }
    co_return error(errc::order_failed, "order " + o.url,
                    "the order is " + std::string(to_string(o.status)));
  }
};

}  // namespace

net::awaitable<result<issued_certificate>> client::obtain(order_request req) {
  const operation_scope scope(*impl_);
  auto& s = *impl_;
  if (req.identifiers.empty()) {
    co_return error(errc::invalid_request, "obtain", "no identifiers to certify");
  }
  for (auto& id : req.identifiers) {
    if (auto why = normalize(id)) co_return error(errc::invalid_request, "obtain", *why);
  }
  if (std::none_of(req.solvers.begin(), req.solvers.end(),
                   [](solver* p) { return p != nullptr; })) {
    co_return error(errc::invalid_request, "obtain", "no challenge solver given");
  }
  run r{s, req, steady::now() + req.deadline, {}, {}};
  const auto started = steady::now();
  result<issued_certificate> out = error(errc::invalid_request, "obtain");
  try {
    out = co_await r.execute();
  } catch (const boost::system::system_error& e) {
    // Cancellation (operation_aborted) and other failures of an await.
    out = error(e.code(), "obtain", e.what());
  } catch (const std::exception& e) {
    // Only a solver can throw here (wait_fetched); present() is caught where it is called.
    out = error(errc::solver_failed, "obtain", e.what());
  }
  // Whatever happened, what the solvers published is taken down.
  co_await r.cleanup();
  const auto ms = std::chrono::duration_cast<milliseconds>(steady::now() - started).count();
  if (out) {
    s.log->info("acme: obtained a certificate for {} in {} ms", req.identifiers.front().value, ms);
  } else {
    s.log->warn("acme: obtaining a certificate for {} failed after {} ms: {}",
                req.identifiers.front().value, ms, out.error().message());
  }
  co_return out;
}

}  // namespace moat::acme
