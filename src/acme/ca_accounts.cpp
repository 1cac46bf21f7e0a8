// Account resources (RFC 8555 section 7.3): newAccount (with onlyReturnExisting and External
// Account Binding), the account (contact update, deactivation, its orders), keyChange.
#include <boost/beast/http/field.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <moat/pki/encoding.hpp>

#include "acme/ca_issue.hpp"
#include "acme/ca_jws.hpp"
#include "acme/ca_routes.hpp"
#include "acme/parse.hpp"

namespace moat::acme::detail {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

namespace {

bool get_bool(const json::object& o, std::string_view name) {
  const auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) return false;
  if (!it->value().is_bool()) {
    throw ca_failure(errc::malformed, "\"" + std::string(name) + "\" is not a boolean");
  }
  return it->value().get_bool();
}

/// The contact URLs of a payload, checked: mailto: only, one plain address each.
std::optional<std::vector<std::string>> contacts_of(const json::object& o) {
  const auto it = o.find("contact");
  if (it == o.end()) return std::nullopt;
  if (!it->value().is_array()) throw ca_failure(errc::malformed, "\"contact\" is not an array");
  std::vector<std::string> out;
  for (const auto& v : it->value().get_array()) {
    if (!v.is_string()) throw ca_failure(errc::malformed, "a contact is not a string");
    const std::string c(v.get_string());
    if (!c.starts_with("mailto:")) {
      throw ca_failure(errc::unsupported_contact, "only mailto: contacts are supported: " + c);
    }
    const std::string_view addr = std::string_view(c).substr(7);
    const auto at = addr.find('@');
    const bool ok = at != std::string_view::npos && at > 0 &&
                    addr.find('@', at + 1) == std::string_view::npos &&
                    addr.find_first_of(",?%<> \t\r\n\"") == std::string_view::npos &&
                    valid_dns_name(addr.substr(at + 1));
    if (!ok) throw ca_failure(errc::invalid_contact, "not a plain e-mail address: " + c);
    out.push_back(c);
  }
  if (out.size() > 10) throw ca_failure(errc::malformed, "at most 10 contacts");
  return out;
}

http::response with_location(http::response res, const std::string& url) {
  res.set(bhttp::field::location, url);
  return res;
}

std::vector<std::uint8_t> mac_key_of(const ca::state& st, const std::string& kid) {
  for (const auto& k : st.opts.eab_keys) {
    if (k.key_id == kid) return k.mac_key;
  }
  return {};
}

}  // namespace

json::object account_json(const post_context& c, const account_rec& a) {
  json::object o;
  o["status"] = to_string(a.status);
  json::array contact;
  for (const auto& x : a.contact) contact.push_back(json::value(x));
  o["contact"] = std::move(contact);
  o["orders"] = c.account_url(a.id) + "/orders";
  o["createdAt"] = format_time(a.created);
  return o;
}

http::response new_account(post_context& c) {
  ca::state& st = c.st;
  const json::object p = c.payload_object();
  const auto existing = st.account_by_thumbprint.find(c.jws.jwk_thumbprint);
  if (existing != st.account_by_thumbprint.end()) {
    const auto& a = st.accounts.at(existing->second);
    if (a.status != object_status::valid) {
      throw ca_failure(errc::unauthorized, "the account of this key is deactivated");
    }
    return with_location(json_response(200, account_json(c, a)), c.account_url(a.id));
  }
  if (get_bool(p, "onlyReturnExisting")) {
    throw ca_failure(errc::account_does_not_exist, "no account has this key");
  }
  auto contact = contacts_of(p);
  if (!st.opts.terms_of_service.empty() && !get_bool(p, "termsOfServiceAgreed")) {
    ca_failure f(errc::user_action_required, "agree to the terms of service (" +
                                                 st.opts.terms_of_service +
                                                 ") with termsOfServiceAgreed");
    f.instance = st.opts.terms_of_service;
    f.headers.emplace_back("Link", "<" + st.opts.terms_of_service + ">;rel=\"terms-of-service\"");
    throw f;
  }
  std::string eab_key_id;
  const auto eab = p.find("externalAccountBinding");
  if (eab != p.end()) {
    if (st.opts.eab_keys.empty()) {
      throw ca_failure(errc::malformed, "this CA does not use external account binding");
    }
    if (!eab->value().is_object()) {
      throw ca_failure(errc::malformed, "externalAccountBinding is not an object");
    }
    eab_key_id = verify_external_account_binding(
        json::serialize(eab->value()), c.jws,
        [&](const std::string& kid) { return mac_key_of(st, kid); });
  } else if (st.opts.external_account_required) {
    throw ca_failure(errc::external_account_required,
                     "this CA requires an external account binding");
  }
  account_rec a;
  a.id = random_id();
  a.spki = c.jws.jwk_spki;
  a.jwk = pki::canonical_jwk(*c.jws.jwk);
  a.thumbprint = c.jws.jwk_thumbprint;
  a.status = object_status::valid;
  a.contact = contact.value_or(std::vector<std::string>{});
  a.eab_key_id = eab_key_id;
  a.created = c.now;
  st.save(a);
  st.account_by_thumbprint[a.thumbprint] = a.id;
  ++st.counters.accounts;
  const std::string url = c.account_url(a.id);
  auto res = with_location(json_response(201, account_json(c, a)), url);
  st.accounts[a.id] = std::move(a);
  return res;
}

http::response account_resource(post_context& c, std::string_view rest) {
  const auto slash = rest.find('/');
  const std::string id(rest.substr(0, slash));
  if (c.account == nullptr || c.account->id != id) {
    throw ca_failure(errc::unauthorized, "this is another account");
  }
  if (slash != std::string_view::npos) {
    if (rest.substr(slash) != "/orders") throw ca_failure(errc::malformed, "no such resource", 404);
    return account_orders(c, id);
  }
  account_rec& a = *c.account;
  if (!c.post_as_get()) {
    const json::object p = c.payload_object();
    auto contact = contacts_of(p);
    const auto status = p.find("status");
    if (status != p.end()) {
      if (!status->value().is_string() || status->value().get_string() != "deactivated") {
        throw ca_failure(errc::malformed, "an account's status can only become \"deactivated\"");
      }
      a.status = object_status::deactivated;
      // Its pending authorizations go with it (RFC 8555 section 7.3.6).
      for (auto& [aid, z] : c.st.authzs) {
        if (z.account == a.id && z.status == object_status::pending) {
          z.status = object_status::deactivated;
        }
      }
    }
    if (contact) a.contact = std::move(*contact);
    c.st.save(a);
  }
  return with_location(json_response(200, account_json(c, a)), c.account_url(a.id));
}

http::response key_change(post_context& c) {
  ca::state& st = c.st;
  // The inner JWS: signed by the new key (jwk), the same url, no nonce needed.
  parsed_jws inner = parse_jws(c.jws.payload, false);
  if (!inner.jwk)
    throw ca_failure(errc::malformed, "the inner JWS must carry the new key as \"jwk\"");
  if (!inner.kid.empty()) throw ca_failure(errc::malformed, "the inner JWS must not have \"kid\"");
  if (inner.url != c.jws.url) {
    throw ca_failure(errc::malformed, "the inner JWS's \"url\" is not the outer one's");
  }
  verify_signature(inner, inner.jwk_spki);
  json::object p;
  try {
    p = parse_object(inner.payload);
  } catch (const bad_document& e) {
    throw ca_failure(errc::malformed, std::string("the inner payload: ") + e.what());
  }
  const auto acct = p.find("account");
  if (acct == p.end() || !acct->value().is_string() || acct->value().get_string() != c.jws.kid) {
    throw ca_failure(errc::malformed, "the inner payload's \"account\" is not the signer's");
  }
  const auto old = p.find("oldKey");
  if (old == p.end() || !old->value().is_object()) {
    throw ca_failure(errc::malformed, "the inner payload has no \"oldKey\"");
  }
  const pki::jwk_members k = jwk_members_of(old->value());
  std::vector<std::uint8_t> old_spki;
  try {
    old_spki = pki::public_key_der_from_jwk(k);
  } catch (const std::exception&) {
    throw ca_failure(errc::malformed, "\"oldKey\" is not a usable key");
  }
  account_rec& a = *c.account;
  if (old_spki != a.spki) throw ca_failure(errc::malformed, "\"oldKey\" is not the account's key");
  const auto taken = st.account_by_thumbprint.find(inner.jwk_thumbprint);
  if (taken != st.account_by_thumbprint.end()) {
    ca_failure f(errc::malformed, "another account already has the new key", 409);
    f.headers.emplace_back("Location", c.account_url(taken->second));
    throw f;
  }
  st.account_by_thumbprint.erase(a.thumbprint);
  a.spki = inner.jwk_spki;
  a.jwk = pki::canonical_jwk(*inner.jwk);
  a.thumbprint = inner.jwk_thumbprint;
  st.account_by_thumbprint[a.thumbprint] = a.id;
  st.save(a);
  return with_location(json_response(200, account_json(c, a)), c.account_url(a.id));
}

}  // namespace moat::acme::detail
