#include <algorithm>
// ACME Renewal Information (RFC 9773), revocation (RFC 8555 section 7.6), and the two
// derived strings every client needs: the ARI certificate ID and the key authorization.
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <moat/error.hpp>
#include <moat/pki/encoding.hpp>
#include <moat/pki/errors.hpp>

#include "acme/client_impl.hpp"
#include "acme/jws.hpp"
#include "acme/parse.hpp"

namespace moat::acme {

namespace json = boost::json;

std::string renewal_certificate_id(const pki::certificate& cert) {
  const auto aki = cert.authority_key_id();
  if (aki.empty()) {
    throw moat::config_error("certificate", pki::errc::invalid_argument,
                             "it has no authority key identifier, so it has no ARI certificate ID");
  }
  return pki::base64url_encode(aki) + "." + pki::base64url_encode(cert.serial_bytes());
}

std::string key_authorization(std::string_view token, const pki::private_key& account_key) {
  return std::string(token) + "." + detail::jwk_thumbprint(account_key);
}

net::awaitable<result<renewal_info>> client::get_renewal_info(pki::certificate cert) {
  const operation_scope scope(*impl_);
  auto& s = *impl_;
  auto d = co_await s.get_directory();
  if (!d) co_return d.error();
  if (d->renewal_info.empty()) {
    co_return error(errc::not_supported_by_ca, "renewalInfo",
                    "the directory has no renewalInfo (RFC 9773)");
  }
  std::string id;
  try {
    id = renewal_certificate_id(cert);
  } catch (const std::exception& e) {
    co_return error(errc::invalid_request, "renewalInfo", e.what());
  }
  std::string url = d->renewal_info;
  if (!url.ends_with('/')) url += '/';
  url += id;
  const std::string context = "renewalInfo " + url;
  auto r = co_await s.get(context, url, body_kind::json);
  if (!r) co_return r.error();
  try {
    renewal_info info = detail::parse_renewal_info(r->json);
    // RFC 9773 section 4.3: ask again no sooner than a minute and no later than a day.
    if (r->retry_after) {
      info.retry_after = std::clamp(*r->retry_after, std::chrono::seconds(60),
                                    std::chrono::seconds(std::chrono::hours(24)));
    }
    co_return info;
  } catch (const detail::bad_document& e) {
    co_return error(errc::bad_response, context, e.what());
  }
}

namespace {

std::string revocation_payload(const pki::certificate& cert, revocation_reason reason) {
  json::object payload;
  payload["certificate"] = pki::base64url_encode(cert.der());
  payload["reason"] = static_cast<int>(reason);
  return json::serialize(payload);
}

}  // namespace

net::awaitable<result<void>> client::impl::send_revocation(const pki::certificate& cert,
                                                           revocation_reason reason,
                                                           const pki::private_key* cert_key) {
  auto d = co_await get_directory();
  if (!d) co_return d.error();
  if (d->revoke_cert.empty()) {
    co_return error(errc::not_supported_by_ca, "revokeCert", "the directory has no revokeCert");
  }
  if (cert_key == nullptr && kid.empty()) {
    // The account that can revoke exists already: find it, never make a new one.
    if (auto a = co_await find_account(); !a) co_return a.error();
  }
  auto r = co_await post("revokeCert " + d->revoke_cert, d->revoke_cert,
                         revocation_payload(cert, reason), body_kind::none,
                         /*use_jwk=*/cert_key != nullptr, cert_key);
  if (!r) co_return r.error();
  co_return result<void>{};
}

net::awaitable<result<void>> client::revoke(pki::certificate cert, revocation_reason reason) {
  const operation_scope scope(*impl_);
  co_return co_await impl_->send_revocation(cert, reason, nullptr);
}

net::awaitable<result<void>> client::revoke_with_key(pki::certificate cert,
                                                     pki::private_key cert_key,
                                                     revocation_reason reason) {
  const operation_scope scope(*impl_);
  if (cert_key.empty() || cert.public_key_der() != cert_key.public_key_der()) {
    co_return error(errc::invalid_request, "revokeCert",
                    "the key given is not the certificate's key");
  }
  co_return co_await impl_->send_revocation(cert, reason, &cert_key);
}

}  // namespace moat::acme
