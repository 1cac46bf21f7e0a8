#pragma once
/// @file
/// An in-process ACME certificate authority (RFC 8555) on moat's HTTP layer: a persistent
/// root and intermediate, the directory with profiles, single-use nonces, full JWS checks,
/// accounts (with External Account Binding and key rollover), orders for `dns` and `ip`
/// identifiers (RFC 8738), real HTTP-01 / TLS-ALPN-01 validation and DNS-01 through a hook,
/// finalization with CSR checks, ACME Renewal Information (RFC 9773), revocation and a CRL.
/// Every error is an `application/problem+json` document with an RFC 8555 type.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <moat/acme/resources.hpp>
#include <moat/http/router.hpp>
#include <moat/http/server.hpp>
#include <moat/pki/certificate.hpp>
#include <moat/pki/key.hpp>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace moat::acme {

/// A certificate profile (draft-ietf-acme-profiles): what a client asks for by name in a new
/// order.
struct ca_profile {
  std::string name{};
  std::string description{};
  std::chrono::seconds lifetime{std::chrono::days(90)};
  bool allow_ip = false;  ///< whether `ip` identifiers may be ordered with it
};

/// An External Account Binding key the CA hands out (RFC 8555 section 7.3.4): HS256.
struct ca_eab_key {
  std::string key_id{};
  std::vector<std::uint8_t> mac_key{};
};

/// The TXT records published at a DNS name ("_acme-challenge.example.com.", with the final
/// dot); an exception counts as a failed lookup (problem `dns`).
using dns_txt_lookup =
    std::function<boost::asio::awaitable<std::vector<std::string>>(std::string name)>;

/// CA options.
struct ca_options {
  /// Where the root, the intermediate, the accounts and the issued certificates live;
  /// created (0700) if missing. Required.
  std::filesystem::path data_dir{};
  /// The CA's external origin, "https://ca.example:14000"; empty = each request's own
  /// (scheme from the connection, host and port from its Host header).
  std::string base_url{};
  /// The profiles offered; empty = `default` (90 days, DNS names only) and `shortlived`
  /// (6 days, IP addresses allowed).
  std::vector<ca_profile> profiles{};
  /// The profile of an order that names none; empty = the first profile.
  std::string default_profile{};
  /// `meta.termsOfService`; when set, newAccount requires termsOfServiceAgreed.
  std::string terms_of_service{};
  std::string website{};  ///< `meta.website` when set
  /// EAB keys accepted; `external_account_required` makes a binding mandatory.
  std::vector<ca_eab_key> eab_keys{};
  bool external_account_required = false;
  /// Fraction (0..1) of valid nonces refused with badNonce anyway, to test clients' retries
  /// (Pebble's PEBBLE_WFE_NONCEREJECT). 0 in production.
  double nonce_reject_rate = 0.0;
  /// Outstanding nonces remembered; beyond, the oldest are forgotten (and refused).
  std::size_t max_nonces = 10000;
  /// The ports validation connects to (tests map them; production: 80 and 443).
  std::uint16_t http01_port = 80;
  std::uint16_t tls_alpn01_port = 443;
  /// Name resolution for HTTP-01 and TLS-ALPN-01: a name found here connects to the address
  /// given ("example.test" -> "127.0.0.1", or several in order: "::1,127.0.0.1"); any other
  /// through the system resolver. Every address is tried in turn until one connects.
  std::map<std::string, std::string> hosts{};
  /// DNS-01's TXT lookup; empty = DNS-01 is not offered.
  dns_txt_lookup dns01_lookup{};
  /// One validation (connect, handshake, read), at most.
  std::chrono::milliseconds validation_timeout{std::chrono::seconds(10)};
  /// An HTTP-01 response body beyond this is an incorrectResponse.
  std::size_t http01_max_body = 8 * 1024;
  /// Lifetimes of a pending order and its authorizations, and of a valid authorization.
  std::chrono::seconds order_lifetime{std::chrono::days(7)};
  std::chrono::seconds valid_authorization_lifetime{std::chrono::days(30)};
  /// What Retry-After says on a pending/processing order, authorization or challenge (none on
  /// an authorization or order while one of its validations is under way: those usually take
  /// milliseconds).
  std::chrono::seconds retry_after{1};
  /// ARI: the Retry-After of a renewalInfo response.
  std::chrono::seconds renewal_info_retry_after{std::chrono::hours(6)};
  /// The CRL's nextUpdate, from its thisUpdate.
  std::chrono::seconds crl_lifetime{std::chrono::days(1)};
  /// The clock of the status machine, expiry, issuance and ARI; empty = the system clock.
  std::function<sys_time()> clock{};
  /// Where the CA logs (requests refused at debug, validations and issuance at info);
  /// null = moat::default_logger().
  std::shared_ptr<spdlog::logger> logger{};
};

/// What `ca::issue` makes without ACME.
struct ca_issue_request {
  std::string common_name{};
  /// "DNS:name" or "IP:address" entries; at least one of CN and SANs.
  std::vector<std::string> subject_alt_names{};
  std::chrono::seconds lifetime{std::chrono::days(90)};
  /// Adds clientAuth to serverAuth (mutual TLS, distribution nodes).
  bool client_auth = false;
  /// The certificate's key; empty = a fresh P-256 key.
  pki::private_key key{};
};

/// A certificate and its key.
struct ca_issued {
  std::vector<pki::certificate> chain{};  ///< leaf, intermediate
  pki::private_key key{};
};

/// Counters since construction (accounts and issued: the persisted totals).
struct ca_stats {
  std::size_t accounts = 0;
  std::size_t orders = 0;  ///< orders created since start
  std::size_t issued = 0;
  std::size_t revoked = 0;
  std::size_t validations_failed = 0;
};

/// The CA.
///
/// Thread-safety: every member may be called from any thread; the handlers mounted with
/// `mount` run on every thread of the HTTP server at once and share the state under one
/// mutex (never held across I/O). Validations run as coroutines on the executor given at
/// construction, which must be running for challenges to complete. Handlers and
/// validations in flight keep the CA's state alive; destroying the `ca` is safe at any time.
class ca {
 public:
  /// Loads the root and intermediate from `data_dir` or creates them on first start, and
  /// loads the accounts and certificates. Throws moat::config_error naming the file and the
  /// reason for a corrupt or mismatched file (nothing is overwritten), or naming the option.
  ca(boost::asio::any_io_executor ex, ca_options opts);
  ~ca();
  ca(const ca&) = delete;
  ca& operator=(const ca&) = delete;

  /// Serves the CA under `prefix` ("/acme": the directory is "/acme/directory"). Routes:
  /// directory, new-nonce, new-account, new-order, revoke-cert, key-change, renewal-info/,
  /// crl, acct/, order/, authz/, chall/, cert/ -- one prefix route. The router may go to
  /// several servers; the ca must outlive none of them (the route holds the state).
  void mount(http::router& router, std::string prefix = "/acme");
  /// Sets the external origin ("https://127.0.0.1:14000") once the server's port is known.
  void set_base_url(std::string base_url);
  /// The directory URL: base URL + prefix + "/directory" (only the path before a base URL is
  /// known).
  [[nodiscard]] std::string directory_url() const;

  [[nodiscard]] pki::certificate root_certificate() const;
  [[nodiscard]] pki::certificate intermediate_certificate() const;
  /// Where the root certificate (PEM) is kept: `data_dir`/root.pem.
  [[nodiscard]] std::filesystem::path root_certificate_path() const;

  /// Issues directly, without ACME (recorded like any other certificate, so it can be
  /// revoked and shows up in ARI). Throws moat::config_error for a bad request.
  [[nodiscard]] ca_issued issue(const ca_issue_request& req);

  /// Ends the ARI suggested window of `cert` now (RFC 9773 section 4.2: a window in the past
  /// means "renew immediately"), as for a revoked certificate. False if the CA did not issue
  /// it.
  bool mark_for_renewal(const pki::certificate& cert);

  /// The current CRL (DER, signed by the intermediate), as served at prefix + "/crl".
  [[nodiscard]] std::vector<std::uint8_t> crl_der() const;

  [[nodiscard]] ca_stats stats() const;

  struct state;  // internal

 private:
  std::shared_ptr<state> state_;
};

/// Where and how `ca_server` serves a CA.
struct ca_server_options {
  /// The address to listen on (port 0: a free one); an unspecified address (0.0.0.0, ::)
  /// serves every interface and names the CA "localhost" in its URLs.
  boost::asio::ip::tcp::endpoint address{boost::asio::ip::make_address("127.0.0.1"), 0};
  std::string prefix{"/acme"};  ///< the directory is prefix + "/directory"
  std::string name{"acme-ca"};  ///< the listener's name in logs
  unsigned workers = 1;         ///< the HTTPS listener's threads
  std::chrono::seconds certificate_lifetime{std::chrono::days(365)};
  /// Where the listener logs; null = moat::default_logger().
  std::shared_ptr<spdlog::logger> logger{};
};

/// A CA served over HTTPS -- the certificate issued by the CA itself for localhost,
/// 127.0.0.1, ::1 and the listening address -- with its base URL set: what `moat ca serve`,
/// the certificate manager's "local" directory and tests run. Clients trust
/// `ca::root_certificate()`. Serves from construction until destroyed (the listener's
/// threads; the CA's validations run on the CA's executor). Not copyable.
class ca_server {
 public:
  /// Binds and starts serving; throws std::system_error naming the address if it cannot.
  ca_server(acme::ca& ca, ca_server_options opts = {});
  ~ca_server();
  ca_server(const ca_server&) = delete;
  ca_server& operator=(const ca_server&) = delete;

  /// The bound address (with the real port).
  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const;
  /// The directory URL clients use.
  [[nodiscard]] std::string directory_url() const;
  /// Stops accepting and drains (also done by the destructor).
  void stop();

 private:
  acme::ca& ca_;
  std::unique_ptr<http::server> server_;
};

}  // namespace moat::acme
