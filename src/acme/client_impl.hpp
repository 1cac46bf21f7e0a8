#pragma once
// Internal: the state of an acme::client and its signed-request machinery, shared by the
// files that implement the client's operations (requests.cpp, account.cpp, order_flow.cpp,
// renewal.cpp).
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <deque>
#include <moat/acme/client.hpp>
#include <moat/http/client.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace moat::acme {

namespace net = boost::asio;

/// What the client expects in a successful answer's body.
enum class body_kind { json, pem_chain, none };

/// A successful answer of the CA.
struct reply {
  int status = 0;
  http::response res;
  boost::json::object json;  // when body_kind::json
  std::string location;      // resolved against the request's URL
  std::optional<std::chrono::seconds> retry_after;
};

/// The values of every header field called `name` (case-insensitive), in order.
[[nodiscard]] std::vector<std::string_view> header_values(const http::response& res,
                                                          std::string_view name);

struct client::impl {
  impl(net::any_io_executor ex, client_options o);

  net::any_io_executor ex;
  client_options opts;
  http::client http;
  std::shared_ptr<spdlog::logger> log;
  pki::private_key key;
  std::string kid;  // the account URL, once known
  std::optional<directory> dir;
  std::deque<std::string> nonces;
  unsigned active_operations = 0;

  /// The directory, fetched on first use.
  net::awaitable<result<directory>> get_directory();
  /// A fresh nonce: from the pool, else from newNonce.
  net::awaitable<result<std::string>> take_nonce(const std::string& context);
  /// Keeps the Replay-Nonce of a response.
  void keep_nonce(const http::response& res);

  /// POSTs a JWS of `payload` ("" = POST-as-GET) to `url`, signed by `signer` with the
  /// account's kid (or with "jwk" when `use_jwk`), retrying badNonce; checks the answer's
  /// status and body kind. Errors carry `context`.
  net::awaitable<result<reply>> post(std::string context, std::string url, std::string payload,
                                     body_kind kind, bool use_jwk = false,
                                     const pki::private_key* signer = nullptr);
  /// An unauthenticated GET (directory, renewalInfo), checked like post().
  net::awaitable<result<reply>> get(std::string context, std::string url, body_kind kind);

  net::awaitable<result<account>> register_account();
  net::awaitable<result<account>> find_account();
  /// revokeCert, signed by the account (cert_key null) or by the certificate's key.
  net::awaitable<result<void>> send_revocation(const pki::certificate& cert,
                                               revocation_reason reason,
                                               const pki::private_key* cert_key);
  /// Registers when no account URL is known yet.
  net::awaitable<result<void>> ensure_account();

  /// Waits `d` on this executor (a timer of its own).
  net::awaitable<void> sleep(std::chrono::steady_clock::duration d);

  /// Classifies an HTTP response (error status, problem document, content type, JSON).
  result<reply> check(const std::string& context, const std::string& url, http::response res,
                      body_kind kind) const;
};

/// Held by every public operation for its duration. When the last one ends, the idle HTTPS
/// connections are closed: an idle pooled connection keeps a timer pending, and a client at
/// rest must not keep its io_context running (io.run() returns when the work is done).
class operation_scope {
 public:
  explicit operation_scope(client::impl& s) noexcept : s_(s) { ++s_.active_operations; }
  ~operation_scope() {
    if (--s_.active_operations == 0) s_.http.close_idle();
  }
  operation_scope(const operation_scope&) = delete;
  operation_scope& operator=(const operation_scope&) = delete;

 private:
  client::impl& s_;
};

}  // namespace moat::acme
