// Orders (RFC 8555 section 7.4, RFC 8738 for IP addresses, profiles, RFC 9773 `replaces`),
// authorizations and challenges (section 7.5), certificates and revocation (section 7.6).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/array.hpp>
#include <moat/pki/encoding.hpp>
#include <set>

#include "acme/ca_issue.hpp"
#include "acme/ca_routes.hpp"
#include "acme/ca_validate.hpp"
#include "acme/parse.hpp"

namespace moat::acme::detail {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

namespace {

json::object identifier_json(const identifier& i) {
  return json::object{{"type", i.type}, {"value", i.value}};
}

json::object problem_object(const problem& p) {
  json::object o;
  o["type"] = p.type;
  o["detail"] = p.detail;
  o["status"] = p.status;
  return o;
}

/// Whether one of the authorization's challenges is being validated.
bool validating(const ca::state& st, const authz_rec& a) {
  return std::any_of(a.challenges.begin(), a.challenges.end(), [&](const std::string& id) {
    const auto it = st.challenges.find(id);
    return it != st.challenges.end() && it->second.status == object_status::processing;
  });
}

bool validating(const ca::state& st, const order_rec& o) {
  return std::any_of(o.authzs.begin(), o.authzs.end(), [&](const std::string& id) {
    const auto it = st.authzs.find(id);
    return it != st.authzs.end() && validating(st, it->second);
  });
}

/// Retry-After on a pending or processing resource -- but not on an authorization or order
/// while a validation of the CA's own is under way: that ends within validation_timeout, most
/// often within milliseconds, and the client's own backoff serves it better than the whole
/// seconds the header can say. A processing challenge keeps it: lego takes its polling
/// interval from the challenge's answer, and without one polls every 5 s.
void retry_after(http::response& res, const ca::state& st, object_status s,
                 bool validation_under_way) {
  if ((s == object_status::pending || s == object_status::processing) && !validation_under_way) {
    res.set(bhttp::field::retry_after, std::to_string(st.opts.retry_after.count()));
  }
}

json::object order_json(const post_context& c, const order_rec& o) {
  json::object j;
  j["status"] = to_string(o.status);
  j["expires"] = format_time(o.expires);
  json::array ids;
  for (const auto& i : o.identifiers) ids.push_back(identifier_json(i));
  j["identifiers"] = std::move(ids);
  json::array az;
  for (const auto& a : o.authzs) az.push_back(json::value(c.base + "/authz/" + a));
  j["authorizations"] = std::move(az);
  j["finalize"] = c.base + "/order/" + o.id + "/finalize";
  j["profile"] = o.profile;
  if (!o.replaces.empty()) j["replaces"] = o.replaces;
  if (!o.certificate.empty()) j["certificate"] = c.base + "/cert/" + o.certificate;
  if (o.error) j["error"] = problem_object(*o.error);
  return j;
}

json::object challenge_json(const post_context& c, const challenge_rec& ch) {
  json::object j;
  j["type"] = ch.type;
  j["url"] = c.base + "/chall/" + ch.id;
  j["status"] = to_string(ch.status);
  j["token"] = ch.token;
  if (ch.validated) j["validated"] = format_time(*ch.validated);
  if (ch.error) j["error"] = problem_object(*ch.error);
  return j;
}

json::object authz_json(const post_context& c, const authz_rec& a) {
  json::object j;
  j["status"] = to_string(a.status);
  j["expires"] = format_time(a.expires);
  j["identifier"] = identifier_json(a.ident);
  if (a.wildcard) j["wildcard"] = true;
  json::array chs;
  for (const auto& id : a.challenges) {
    const auto it = c.st.challenges.find(id);
    if (it == c.st.challenges.end()) continue;
    // Once valid, only the challenge that proved it is listed (RFC 8555 section 7.1.4).
    if (a.status == object_status::valid && it->second.status != object_status::valid) continue;
    chs.push_back(challenge_json(c, it->second));
  }
  j["challenges"] = std::move(chs);
  return j;
}

order_rec& own_order(post_context& c, const std::string& id) {
  const auto it = c.st.orders.find(id);
  if (it == c.st.orders.end()) throw ca_failure(errc::malformed, "no such order", 404);
  if (c.account == nullptr || it->second.account != c.account->id) {
    throw ca_failure(errc::unauthorized, "the order belongs to another account");
  }
  return it->second;
}

/// Checks one identifier of a new order; a subproblem when it is refused.
std::optional<subproblem> check_identifier(const ca::state& st, const ca_profile& profile,
                                           identifier& id) {
  const auto refuse = [&](errc code, std::string detail) {
    return subproblem{problem_type(code), std::move(detail), id};
  };
  if (id.type == "dns") {
    if (!valid_dns_name(id.value)) return refuse(errc::rejected_identifier, "not a valid DNS name");
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(id.value, ec);
    if (!ec) return refuse(errc::rejected_identifier, "an IP address must be an \"ip\" identifier");
    if (id.value.starts_with("*.") && !st.opts.dns01_lookup) {
      return refuse(errc::rejected_identifier,
                    "a wildcard needs DNS-01, which this CA does not offer");
    }
    id = canonical(id);
    return std::nullopt;
  }
  if (id.type == "ip") {
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(id.value, ec);
    if (ec || id.value.find('/') != std::string::npos || id.value.find('%') != std::string::npos) {
      return refuse(errc::rejected_identifier, "not an IP address");
    }
    if (!profile.allow_ip) {
      return refuse(errc::rejected_identifier,
                    "profile \"" + profile.name + "\" does not certify IP addresses");
    }
    id = canonical(id);
    return std::nullopt;
  }
  return refuse(errc::unsupported_identifier,
                "identifier type \"" + id.type + "\" is not supported");
}

}  // namespace

http::response new_order(post_context& c) {
  ca::state& st = c.st;
  const json::object p = c.payload_object();
  if (p.contains("notBefore") || p.contains("notAfter")) {
    throw ca_failure(errc::malformed, "notBefore and notAfter are not supported: use a profile");
  }
  std::string profile_name = st.opts.default_profile;
  if (const auto it = p.find("profile"); it != p.end()) {
    if (!it->value().is_string()) throw ca_failure(errc::malformed, "\"profile\" is not a string");
    profile_name = std::string(it->value().get_string());
  }
  const ca_profile* profile = st.find_profile(profile_name);
  if (profile == nullptr) {
    throw ca_failure(errc::invalid_profile, "no profile \"" + profile_name + "\"");
  }
  const auto ids_it = p.find("identifiers");
  if (ids_it == p.end() || !ids_it->value().is_array() || ids_it->value().get_array().empty()) {
    throw ca_failure(errc::malformed, "\"identifiers\" must be a non-empty array");
  }
  if (ids_it->value().get_array().size() > 100) {
    throw ca_failure(errc::rejected_identifier, "at most 100 identifiers per order");
  }
  std::vector<identifier> ids;
  std::vector<subproblem> subs;
  bool all_unsupported = true;
  for (const auto& v : ids_it->value().get_array()) {
    identifier id;
    try {
      id = parse_identifier(v);
    } catch (const bad_document& e) {
      throw ca_failure(errc::malformed, std::string("an identifier: ") + e.what());
    }
    if (auto s = check_identifier(st, *profile, id)) {
      all_unsupported = all_unsupported && s->type == problem_type(errc::unsupported_identifier);
      subs.push_back(std::move(*s));
      continue;
    }
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  if (!subs.empty()) {
    const errc code = all_unsupported ? errc::unsupported_identifier : errc::rejected_identifier;
    // The detail first: an argument moved from in the same call may be moved before it is read.
    std::string detail = std::to_string(subs.size()) + " of the identifiers cannot be certified";
    throw ca_failure(code, std::move(detail), 0, std::move(subs));
  }
  order_rec o;
  o.id = random_id();
  o.account = c.account->id;
  o.identifiers = ids;
  o.expires = c.now + st.opts.order_lifetime;
  o.profile = profile->name;
  if (const auto it = p.find("replaces"); it != p.end()) {
    if (!it->value().is_string()) throw ca_failure(errc::malformed, "\"replaces\" is not a string");
    const std::string r(it->value().get_string());
    const auto cit = st.cert_by_ari.find(r);
    if (cit == st.cert_by_ari.end()) {
      throw ca_failure(errc::malformed, "\"replaces\" names no certificate of this CA");
    }
    auto& old = st.certs.at(cit->second);
    if (old.account != c.account->id) {
      throw ca_failure(errc::unauthorized, "\"replaces\" names another account's certificate");
    }
    if (!old.replaced_by.empty()) {
      const auto prev = st.orders.find(old.replaced_by);
      const bool live = prev == st.orders.end() || prev->second.status != object_status::invalid;
      if (live) throw ca_failure(errc::already_replaced, "the certificate was already replaced");
    }
    bool shared = false;
    for (const auto& i : old.identifiers) {
      shared = shared || std::find(ids.begin(), ids.end(), i) != ids.end();
    }
    if (!shared) {
      throw ca_failure(errc::malformed, "\"replaces\" names a certificate with no name in common");
    }
    old.replaced_by = o.id;
    o.replaces = r;
  }
  for (const auto& id : ids) {
    authz_rec a;
    a.id = random_id();
    a.account = o.account;
    a.wildcard = id.type == "dns" && id.value.starts_with("*.");
    a.ident = a.wildcard ? identifier::dns(id.value.substr(2)) : id;
    a.expires = o.expires;
    std::vector<std::string> types;
    if (!a.wildcard) types = {"http-01", "tls-alpn-01"};
    if (id.type == "dns" && st.opts.dns01_lookup) types.emplace_back("dns-01");
    for (const auto& t : types) {
      challenge_rec ch;
      ch.id = random_id();
      ch.authz = a.id;
      ch.type = t;
      ch.token = pki::base64url_encode(pki::random_bytes(32));
      a.challenges.push_back(ch.id);
      st.challenges[ch.id] = std::move(ch);
    }
    o.authzs.push_back(a.id);
    st.authzs[a.id] = std::move(a);
  }
  ++st.counters.orders;
  auto res = json_response(201, order_json(c, o));
  res.set(bhttp::field::location, c.base + "/order/" + o.id);
  st.orders[o.id] = std::move(o);
  return res;
}

http::response order_resource(post_context& c, std::string_view rest) {
  ca::state& st = c.st;
  const auto slash = rest.find('/');
  order_rec& o = own_order(c, std::string(rest.substr(0, slash)));
  st.refresh(o, c.now);
  if (slash != std::string_view::npos) {
    if (rest.substr(slash) != "/finalize")
      throw ca_failure(errc::malformed, "no such resource", 404);
    if (o.status != object_status::ready) {
      throw ca_failure(errc::order_not_ready,
                       "the order is " + std::string(to_string(o.status)) + ", not ready");
    }
    const json::object p = c.payload_object();
    const auto csr = p.find("csr");
    if (csr == p.end() || !csr->value().is_string()) {
      throw ca_failure(errc::malformed, "the payload has no \"csr\"");
    }
    const auto der = pki::base64url_decode(csr->value().get_string());
    if (!der) throw ca_failure(errc::bad_csr, "\"csr\" is not base64url");
    const auto spki = check_csr(*der, o.identifiers, c.account->spki);
    const ca_profile* profile = st.find_profile(o.profile);
    leaf_request req;
    for (const auto& i : o.identifiers) {
      req.sans.push_back((i.type == "ip" ? "IP:" : "DNS:") + i.value);
    }
    req.common_name = o.identifiers.front().value;
    req.not_before = c.now;
    req.not_after = c.now + profile->lifetime;
    req.crl_url = c.base + "/crl";
    o.status = object_status::processing;
    try {
      const cert_rec& cert = issue_leaf(st, spki, req, o.account, o.identifiers);
      o.certificate = cert.serial;
      o.status = object_status::valid;
    } catch (...) {
      o.status = object_status::ready;
      throw;
    }
    if (!o.replaces.empty()) {
      const auto cit = st.cert_by_ari.find(o.replaces);
      if (cit != st.cert_by_ari.end()) st.save(st.certs.at(cit->second));
    }
    st.log->info("acme ca: issued {} for order {}", o.certificate, o.id);
  }
  auto res = json_response(200, order_json(c, o));
  res.set(bhttp::field::location, c.base + "/order/" + o.id);
  retry_after(res, st, o.status, validating(st, o));
  return res;
}

http::response account_orders(post_context& c, const std::string& account) {
  json::array list;
  for (auto& [id, o] : c.st.orders) {
    if (o.account != account) continue;
    c.st.refresh(o, c.now);
    if (o.status != object_status::invalid) list.push_back(json::value(c.base + "/order/" + id));
  }
  json::object j;
  j["orders"] = std::move(list);
  return json_response(200, j);
}

http::response authz_resource(post_context& c, std::string_view id) {
  const auto it = c.st.authzs.find(std::string(id));
  if (it == c.st.authzs.end()) throw ca_failure(errc::malformed, "no such authorization", 404);
  authz_rec& a = it->second;
  if (a.account != c.account->id) {
    throw ca_failure(errc::unauthorized, "the authorization belongs to another account");
  }
  c.st.refresh(a, c.now);
  if (!c.post_as_get()) {
    const json::object p = c.payload_object();
    const auto s = p.find("status");
    if (s == p.end() || !s->value().is_string() || s->value().get_string() != "deactivated") {
      throw ca_failure(errc::malformed,
                       "an authorization's status can only become \"deactivated\"");
    }
    if (a.status != object_status::pending && a.status != object_status::valid) {
      throw ca_failure(errc::malformed, "the authorization is " + std::string(to_string(a.status)));
    }
    a.status = object_status::deactivated;
  }
  auto res = json_response(200, authz_json(c, a));
  retry_after(res, c.st, a.status, validating(c.st, a));
  return res;
}

http::response challenge_resource(post_context& c, std::string_view id) {
  ca::state& st = c.st;
  const auto it = st.challenges.find(std::string(id));
  if (it == st.challenges.end()) throw ca_failure(errc::malformed, "no such challenge", 404);
  challenge_rec& ch = it->second;
  authz_rec& a = st.authzs.at(ch.authz);
  if (a.account != c.account->id) {
    throw ca_failure(errc::unauthorized, "the challenge belongs to another account");
  }
  st.refresh(a, c.now);
  if (!c.post_as_get()) {
    (void)c.payload_object();  // "{}": the client is ready
    if (ch.status == object_status::pending) {
      if (a.status != object_status::pending) {
        throw ca_failure(errc::malformed,
                         "the authorization is " + std::string(to_string(a.status)));
      }
      ch.status = object_status::processing;
      start_validation(st.shared_from_this(), ch.id);
    }
  }
  auto res = json_response(200, challenge_json(c, ch));
  res.insert(bhttp::field::link, "<" + c.base + "/authz/" + a.id + ">;rel=\"up\"");
  retry_after(res, st, ch.status, false);
  return res;
}

http::response certificate_resource(post_context& c, std::string_view serial) {
  const auto it = c.st.certs.find(std::string(serial));
  if (it == c.st.certs.end()) throw ca_failure(errc::malformed, "no such certificate", 404);
  if (it->second.account != c.account->id) {
    throw ca_failure(errc::unauthorized, "the certificate belongs to another account");
  }
  http::response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/pem-certificate-chain");
  res.body() = it->second.chain_pem;
  return res;
}

http::response revoke_cert(post_context& c) {
  ca::state& st = c.st;
  const json::object p = c.payload_object();
  const auto cm = p.find("certificate");
  if (cm == p.end() || !cm->value().is_string()) {
    throw ca_failure(errc::malformed, "the payload has no \"certificate\"");
  }
  const auto der = pki::base64url_decode(cm->value().get_string());
  if (!der) throw ca_failure(errc::malformed, "\"certificate\" is not base64url");
  pki::certificate cert;
  try {
    cert = pki::certificate::from_der(*der);
  } catch (const std::exception&) {
    throw ca_failure(errc::malformed, "\"certificate\" is not a certificate");
  }
  int reason = 0;
  if (const auto r = p.find("reason"); r != p.end()) {
    if (!r->value().is_int64()) throw ca_failure(errc::bad_revocation_reason, "not a number");
    const auto v = r->value().get_int64();
    if (v != 0 && v != 1 && v != 3 && v != 4 && v != 5) {
      throw ca_failure(errc::bad_revocation_reason,
                       "reason " + std::to_string(v) + " is not accepted (0, 1, 3, 4, 5)");
    }
    reason = static_cast<int>(v);
  }
  const auto it = st.certs.find(cert.serial_hex());
  if (it == st.certs.end() || !cert.is_issued_by(st.keys.intermediate)) {
    throw ca_failure(errc::unauthorized, "this CA did not issue the certificate");
  }
  cert_rec& rec = it->second;
  if (c.account != nullptr) {
    if (rec.account != c.account->id) {
      throw ca_failure(errc::unauthorized, "the certificate belongs to another account");
    }
  } else if (c.jws.jwk_spki != rec.spki) {
    throw ca_failure(errc::unauthorized,
                     "the JWS is signed neither by an account nor by the "
                     "certificate's key");
  }
  if (rec.revoked) throw ca_failure(errc::already_revoked, "the certificate is already revoked");
  rec.revoked = true;
  rec.reason = reason;
  rec.revoked_at = c.now;
  st.save(rec);
  ++st.counters.revoked;
  st.log->info("acme ca: revoked {} (reason {})", rec.serial, reason);
  return http::response{bhttp::status::ok, 11};
}

}  // namespace moat::acme::detail
