#pragma once
// Internal: the CA's HTTP handlers. One prefix route dispatches on the path below it;
// ca_routes.cpp has the dispatch, the request authentication and the GET resources
// (directory, newNonce, renewalInfo, CRL); ca_accounts.cpp the account resources;
// ca_orders.cpp orders, authorizations, challenges, certificates and revocation.
#include <boost/json/object.hpp>
#include <memory>
#include <moat/acme/ca.hpp>
#include <moat/http/message.hpp>
#include <moat/http/router.hpp>
#include <optional>
#include <string>

#include "acme/ca_jws.hpp"
#include "acme/ca_state.hpp"

namespace moat::acme::detail {

/// One authenticated POST, as the resource handlers see it. Handlers run with st.mu held.
struct post_context {
  ca::state& st;
  std::string base;      // origin + prefix, e.g. "https://127.0.0.1:14000/acme"
  std::string url;       // the request's URL
  std::string resource;  // the path below the prefix, e.g. "order/abc/finalize"
  parsed_jws jws;
  account_rec* account = nullptr;  // the kid's account (key_mode::kid), else null
  sys_time now{};
  [[nodiscard]] bool post_as_get() const { return jws.payload_b64.empty(); }
  /// The payload as a JSON object (malformed if it is not one).
  [[nodiscard]] boost::json::object payload_object() const;
  [[nodiscard]] std::string account_url(const std::string& id) const {
    return base + "/acct/" + id;
  }
};

/// A response with a JSON body (and the status).
[[nodiscard]] http::response json_response(int status, const boost::json::object& body);

/// The prefix route serving the whole CA (ca_routes.cpp).
[[nodiscard]] http::route_handler make_route(std::shared_ptr<ca::state> st);

// ca_accounts.cpp
[[nodiscard]] http::response new_account(post_context& c);
[[nodiscard]] http::response account_resource(post_context& c, std::string_view rest);
[[nodiscard]] http::response key_change(post_context& c);
[[nodiscard]] boost::json::object account_json(const post_context& c, const account_rec& a);

// ca_orders.cpp
[[nodiscard]] http::response new_order(post_context& c);
[[nodiscard]] http::response order_resource(post_context& c, std::string_view rest);
[[nodiscard]] http::response authz_resource(post_context& c, std::string_view id);
[[nodiscard]] http::response challenge_resource(post_context& c, std::string_view id);
[[nodiscard]] http::response certificate_resource(post_context& c, std::string_view serial);
[[nodiscard]] http::response revoke_cert(post_context& c);
/// The orders of an account (acct/<id>/orders).
[[nodiscard]] http::response account_orders(post_context& c, const std::string& account);

}  // namespace moat::acme::detail
