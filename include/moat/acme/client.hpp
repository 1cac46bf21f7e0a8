#pragma once
/// @file
/// An RFC 8555 ACME client: accounts (with External Account Binding and key rollover),
/// orders for DNS and IP identifiers, HTTP-01 / TLS-ALPN-01 / DNS-01 through solvers,
/// finalization with a fresh key, alternate chains, ACME Renewal Information (RFC 9773),
/// profiles, and revocation. Every failure is an `acme::error` value.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <moat/acme/errors.hpp>
#include <moat/acme/resources.hpp>
#include <moat/acme/solver.hpp>
#include <moat/http/client.hpp>
#include <moat/pki/certificate.hpp>
#include <moat/pki/key.hpp>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace moat::acme {

/// An External Account Binding (RFC 8555 section 7.3.4): the key id and MAC key the CA gave.
struct external_account_binding {
  std::string key_id{};
  std::vector<std::uint8_t> mac_key{};  ///< raw bytes (CAs hand it out base64url-encoded)
};

/// Client options.
struct client_options {
  /// The CA's directory URL, e.g. "https://acme-v02.api.letsencrypt.org/directory".
  std::string directory_url{};
  /// The HTTPS client: trust for the CA (`http.tls.cacertfile` for a private CA such as
  /// Pebble), timeouts, size limits.
  http::client_options http{};
  /// The account key; empty = a fresh P-256 key (read it back with `client::account_key()` to
  /// keep it). ES256, ES384, EdDSA and RS256 keys are used as they are.
  pki::private_key account_key{};
  /// Contact URLs for the account ("mailto:ops@example.com").
  std::vector<std::string> contact{};
  /// Agree to the CA's terms of service (`meta.termsOfService`) when registering, as Caddy
  /// and certbot --agree-tos do. false: registering with a CA that has terms fails with
  /// errc::terms_not_agreed.
  bool agree_to_terms = true;
  /// For CAs that require it (`meta.externalAccountRequired`).
  std::optional<external_account_binding> external_account{};
  /// How many times a request refused with badNonce is re-sent with a fresh nonce.
  unsigned bad_nonce_retries = 10;
  /// While polling, the longest wait between two polls when the CA gives no Retry-After, and
  /// the cap on a Retry-After longer than this.
  std::chrono::milliseconds max_poll_interval{5000};
  /// Where the client logs each step (at debug) and each failure; null = moat::default_logger().
  std::shared_ptr<spdlog::logger> logger{};
};

/// What to certify, and how.
struct order_request {
  /// The names and addresses ("dns" / "ip" identifiers); the first is the certificate's CN
  /// when it fits (at most 64 characters).
  std::vector<identifier> identifiers{};
  /// Solvers in order of preference; the client uses, per authorization, the first whose
  /// type the CA offers and that can answer for the identifier. Not owned: they must
  /// outlive the call.
  std::vector<solver*> solvers{};
  /// The certificate's key: empty = a fresh key of `key_type`.
  pki::private_key key{};
  pki::key_type key_type = pki::key_type::ecdsa_p256;
  unsigned rsa_bits = 2048;
  /// A profile from the directory's `meta.profiles` (draft-ietf-acme-profiles); empty = the
  /// CA's default. Asking for a profile the directory does not list fails before any order.
  std::string profile{};
  /// The certificate this one replaces (RFC 9773 `replaces`), when renewing.
  std::optional<pki::certificate> replaces{};
  /// Prefer the chain (default or `Link: rel="alternate"`) whose topmost certificate's issuer
  /// or subject common name equals this; empty = the CA's default chain.
  std::string preferred_chain{};
  /// The whole operation, from the new order to the downloaded certificate.
  std::chrono::milliseconds deadline{std::chrono::minutes(5)};
};

/// A certificate the CA issued, with its key.
struct issued_certificate {
  std::vector<pki::certificate> chain{};  ///< leaf first
  pki::private_key key{};
  std::string chain_pem{};  ///< the chain as the CA sent it (PEM)
  std::string order_url{};
  std::string certificate_url{};  ///< the URL of the chain chosen
};

/// An ACME client for one CA and one account.
///
/// Every operation takes its arguments by value (certificates and keys are cheap handles), so
/// the coroutine it returns may be started later and owns what it needs.
///
/// Thread-safety: use from its executor only (one strand); several operations may run at
/// once (e.g. ten orders in parallel): they share the account, the nonce pool and the HTTPS
/// connections. The client must outlive its operations.
class client {
 public:
  /// Checks the options (throws moat::config_error naming the bad one); no I/O yet.
  client(boost::asio::any_io_executor ex, client_options opts);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// The directory (fetched once, then cached).
  [[nodiscard]] boost::asio::awaitable<result<directory>> get_directory();

  /// Finds or creates the account of the account key (newAccount; agreeing to the terms and
  /// binding the external account as the options say). Idempotent.
  [[nodiscard]] boost::asio::awaitable<result<account>> register_account();
  /// Finds the existing account of the key without creating one (onlyReturnExisting);
  /// errc::account_does_not_exist if there is none.
  [[nodiscard]] boost::asio::awaitable<result<account>> find_account();
  /// Replaces the account's contact URLs.
  [[nodiscard]] boost::asio::awaitable<result<account>> update_contact(
      std::vector<std::string> contact);
  /// Deactivates the account for good (RFC 8555 section 7.3.6).
  [[nodiscard]] boost::asio::awaitable<result<account>> deactivate_account();
  /// Rolls the account over to `new_key` (RFC 8555 section 7.3.5); afterwards the client
  /// signs with it.
  [[nodiscard]] boost::asio::awaitable<result<void>> change_key(pki::private_key new_key);

  /// Registers if needed, orders, solves every authorization, finalizes with a CSR from the
  /// certificate key, and downloads the chain -- certbot's `certonly` in one call.
  [[nodiscard]] boost::asio::awaitable<result<issued_certificate>> obtain(order_request req);

  /// Revokes a certificate with the account key (the account must have issued it or hold
  /// authorizations for all its identifiers).
  [[nodiscard]] boost::asio::awaitable<result<void>> revoke(
      pki::certificate cert, revocation_reason reason = revocation_reason::unspecified);
  /// Revokes a certificate with its own key (no account needed), e.g. after a key compromise.
  [[nodiscard]] boost::asio::awaitable<result<void>> revoke_with_key(
      pki::certificate cert, pki::private_key cert_key,
      revocation_reason reason = revocation_reason::key_compromise);

  /// ACME Renewal Information for `cert` (RFC 9773): the window to renew in, and when to ask
  /// again. errc::not_supported_by_ca when the directory has no renewalInfo.
  [[nodiscard]] boost::asio::awaitable<result<renewal_info>> get_renewal_info(
      pki::certificate cert);

  /// The account key in use (generated on construction when none was given).
  [[nodiscard]] const pki::private_key& account_key() const noexcept;
  /// The account URL once known (after register_account/find_account or any operation that
  /// needs it); empty before.
  [[nodiscard]] const std::string& account_url() const noexcept;
  /// The executor the client runs on.
  [[nodiscard]] boost::asio::any_io_executor get_executor() const noexcept;

  struct impl;  // internal

 private:
  std::unique_ptr<impl> impl_;
};

/// The ARI certificate ID of `cert` (RFC 9773 section 4.1): base64url(authorityKeyIdentifier's
/// keyIdentifier) "." base64url(serial number octets). Throws moat::config_error
/// (pki::errc::invalid_argument) for a certificate without an authority key identifier.
[[nodiscard]] std::string renewal_certificate_id(const pki::certificate& cert);

/// The key authorization of a challenge token (RFC 8555 section 8.1):
/// token "." base64url(SHA-256 of the account key's JWK thumbprint input).
[[nodiscard]] std::string key_authorization(std::string_view token,
                                            const pki::private_key& account_key);

}  // namespace moat::acme
