// Accounts (RFC 8555 section 7.3): registration with terms and external account binding,
// lookup, contact update, deactivation, key rollover.
#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "acme/client_impl.hpp"
#include "acme/jws.hpp"
#include "acme/parse.hpp"

namespace moat::acme {

namespace json = boost::json;

namespace {

result<account> account_from(const std::string& context, const reply& r, std::string url) {
  if (url.empty()) return error(errc::bad_response, context, "the answer has no Location");
  try {
    return detail::parse_account(r.json, std::move(url));
  } catch (const detail::bad_document& e) {
    return error(errc::bad_response, context, e.what());
  }
}

json::array contact_array(const std::vector<std::string>& contact) {
  json::array a;
  for (const auto& c : contact) a.emplace_back(c);
  return a;
}

}  // namespace

net::awaitable<result<account>> client::impl::register_account() {
  auto& s = *this;
  auto d = co_await s.get_directory();
  if (!d) co_return d.error();
  const std::string context = "newAccount " + d->new_account;
  json::object payload;
  if (!s.opts.contact.empty()) payload["contact"] = contact_array(s.opts.contact);
  if (!d->terms_of_service.empty()) {
    if (!s.opts.agree_to_terms) {
      co_return error(errc::terms_not_agreed, context,
                      "the CA's terms are at " + d->terms_of_service +
                          "; set client_options::agree_to_terms to agree");
    }
    payload["termsOfServiceAgreed"] = true;
  }
  if (s.opts.external_account) {
    const auto& eab = *s.opts.external_account;
    payload["externalAccountBinding"] = json::parse(
        detail::sign_external_account_binding(eab.key_id, eab.mac_key, d->new_account, s.key));
  } else if (d->external_account_required) {
    co_return error(errc::external_account_required, context,
                    "the directory says externalAccountRequired; set "
                    "client_options::external_account (key id and MAC key from the CA)");
  }
  auto r = co_await s.post(context, d->new_account, json::serialize(payload), body_kind::json,
                           /*use_jwk=*/true);
  if (!r) co_return r.error();
  auto a = account_from(context, *r, r->location);
  if (!a) co_return a.error();
  s.kid = a->url;
  s.log->debug("acme: account {} ({})", s.kid, r->status == 201 ? "created" : "existing");
  co_return a;
}

net::awaitable<result<account>> client::impl::find_account() {
  auto& s = *this;
  auto d = co_await s.get_directory();
  if (!d) co_return d.error();
  const std::string context = "newAccount (onlyReturnExisting) " + d->new_account;
  auto r = co_await s.post(context, d->new_account, R"({"onlyReturnExisting":true})",
                           body_kind::json, /*use_jwk=*/true);
  if (!r) co_return r.error();
  auto a = account_from(context, *r, r->location);
  if (a) s.kid = a->url;
  co_return a;
}

net::awaitable<result<account>> client::register_account() {
  const operation_scope scope(*impl_);
  co_return co_await impl_->register_account();
}

net::awaitable<result<account>> client::find_account() {
  const operation_scope scope(*impl_);
  co_return co_await impl_->find_account();
}

net::awaitable<result<void>> client::impl::ensure_account() {
  if (!kid.empty()) co_return result<void>{};
  auto a = co_await register_account();
  if (!a) co_return a.error();
  co_return result<void>{};
}

net::awaitable<result<account>> client::update_contact(std::vector<std::string> contact) {
  const operation_scope scope(*impl_);
  auto& s = *impl_;
  if (auto ok = co_await s.ensure_account(); !ok) co_return ok.error();
  json::object payload;
  payload["contact"] = contact_array(contact);
  const std::string context = "account update " + s.kid;
  auto r = co_await s.post(context, s.kid, json::serialize(payload), body_kind::json);
  if (!r) co_return r.error();
  s.opts.contact = std::move(contact);
  co_return account_from(context, *r, s.kid);
}

net::awaitable<result<account>> client::deactivate_account() {
  const operation_scope scope(*impl_);
  auto& s = *impl_;
  if (s.kid.empty()) {
    auto a = co_await s.find_account();
    if (!a) co_return a.error();
  }
  const std::string context = "account deactivation " + s.kid;
  auto r = co_await s.post(context, s.kid, R"({"status":"deactivated"})", body_kind::json);
  if (!r) co_return r.error();
  co_return account_from(context, *r, s.kid);
}

net::awaitable<result<void>> client::change_key(pki::private_key new_key) {
  const operation_scope scope(*impl_);
  auto& s = *impl_;
  if (new_key.empty()) co_return error(errc::invalid_request, "keyChange", "the new key is empty");
  auto d = co_await s.get_directory();
  if (!d) co_return d.error();
  if (d->key_change.empty()) {
    co_return error(errc::not_supported_by_ca, "keyChange", "the directory has no keyChange");
  }
  if (s.kid.empty()) {
    auto a = co_await s.find_account();
    if (!a) co_return a.error();
  }
  const std::string context = "keyChange " + d->key_change;
  // RFC 8555 section 7.3.5: the inner JWS, signed by the new key with its jwk and no nonce,
  // names the account and the old key; the outer one is signed by the old key.
  json::object inner_payload;
  inner_payload["account"] = s.kid;
  inner_payload["oldKey"] = json::parse(s.key.public_jwk());
  const std::string inner =
      detail::sign_jws(new_key, d->key_change, {}, {}, json::serialize(inner_payload));
  auto r = co_await s.post(context, d->key_change, inner, body_kind::none);
  if (!r) co_return r.error();
  s.key = std::move(new_key);
  s.log->info("acme: account {} now uses a new {} key", s.kid, pki::to_string(s.key.type()));
  co_return result<void>{};
}

}  // namespace moat::acme
