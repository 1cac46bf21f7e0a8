#pragma once
// A real Pebble ACME server (Debian's `pebble`, 2.4.0) for one test: its own listener
// certificate from a test CA, free ports, readiness by polling, and by default a mock DNS
// server (Pebble's `pebble-challtestsrv`) that answers every name with 127.0.0.1 so that
// "localhost" and any other name validate against 127.0.0.1.
//
// What Pebble 2.4.0 reads (checked against its source at the v2.4.0 tag):
//   config keys   listenAddress, managementListenAddress, certificate, privateKey, httpPort,
//                 tlsPort, ocspResponderURL, externalAccountBindingRequired,
//                 externalAccountMACKeys, domainBlocklist, certificateValidityPeriod
//   environment   PEBBLE_VA_NOSLEEP, PEBBLE_VA_SLEEPTIME, PEBBLE_VA_ALWAYS_VALID,
//                 PEBBLE_WFE_NONCEREJECT, PEBBLE_AUTHZREUSE, PEBBLE_WFE_ORDERS_PER_PAGE,
//                 PEBBLE_ALTERNATE_ROOTS, PEBBLE_CHAIN_LENGTH
//   flags         -config, -dnsserver, -strict
// It has IP identifiers (http-01 and tls-alpn-01 only), EAB (HS256/384/512), alternate chains
// (Link rel="alternate" on the certificate URL and on the management /roots/ and
// /intermediates/ answers). It sends no Retry-After anywhere (added in 2.5.0), has no
// "processing" challenge state (2.5.0), no ARI renewalInfo (2.6.0) and no profiles (2.7.0),
// and does not check a CSR's signature (2.5.0).

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <moat/pki/pki.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace moat::test {

/// How to run Pebble. The defaults are Pebble's own except `nosleep` (true: validate at once).
struct pebble_options {
  /// `externalAccountBindingRequired`: newAccount must carry an EAB.
  bool eab_required = false;
  /// `externalAccountMACKeys`: key id -> HMAC key, base64url without padding (Pebble refuses
  /// to start on a key it cannot decode).
  std::map<std::string, std::string> eab_keys{};
  /// PEBBLE_VA_NOSLEEP=1: no random sleep before each validation request. When false, Pebble
  /// 2.4.0 sleeps 0 to 4 s (0 to `va_sleep_seconds` - 1 if set) before each of its three
  /// validation requests.
  bool nosleep = true;
  /// PEBBLE_VA_SLEEPTIME: the sleep's upper bound in seconds (only when `nosleep` is false).
  std::optional<int> va_sleep_seconds{};
  /// PEBBLE_VA_ALWAYS_VALID=1: every challenge is valid without a validation request.
  bool always_valid = false;
  /// PEBBLE_WFE_NONCEREJECT: percent of good nonces answered with badNonce; nullopt = 5.
  std::optional<int> nonce_reject_percent{};
  /// PEBBLE_AUTHZREUSE: how often a new order reuses a valid authorization of the same account
  /// for an identifier; nullopt = 50. Pebble 2.4.0 reuses when rand(100) <= percent, so 0 still
  /// reuses one time in 100 and 50 means 51%.
  std::optional<int> authz_reuse_percent{};
  /// PEBBLE_WFE_ORDERS_PER_PAGE: orders per page of an account's order list; nullopt = 3.
  std::optional<int> orders_per_page{};
  /// PEBBLE_ALTERNATE_ROOTS: chains besides the default one, each with its own root (the
  /// leaf-signing intermediate key is shared, cross-signed by every root).
  int alternate_roots = 0;
  /// PEBBLE_CHAIN_LENGTH: intermediates per chain (at least 1; 2.4.0 panics on 0). Only the
  /// leaf-signing one is served by the management interface.
  int chain_length = 1;
  /// `httpPort` / `tlsPort`: where Pebble's VA connects for HTTP-01 / TLS-ALPN-01; 0 picks a
  /// free port (see `pebble::http_port()` / `tls_port()`). Pebble does not listen on them.
  unsigned short http_port = 0;
  unsigned short tls_port = 0;
  /// `certificateValidityPeriod` in seconds; 0 = Pebble's 157766400 (5 years).
  unsigned long certificate_validity_seconds = 0;
  /// `domainBlocklist`: names for which orders are refused (rejectedIdentifier).
  std::vector<std::string> domain_blocklist{};
  /// `ocspResponderURL`: put into issued certificates if not empty.
  std::string ocsp_responder_url{};
  /// -strict: refuse ACME v1 "resource" fields and challenge POST bodies other than "{}".
  bool strict = false;
  /// The host of `directory_url()` and every URL Pebble hands out: "localhost" or
  /// "127.0.0.1" (the listener certificate names both, and ::1).
  std::string host = "localhost";
  /// Run `pebble-challtestsrv` as Pebble's DNS server (-dnsserver): A = 127.0.0.1 for every
  /// name, no AAAA, TXT from `set_txt()`. When false Pebble uses the system resolver
  /// (/etc/hosts) and validates against its first address.
  bool mock_dns = true;
};

/// An HTTP answer fetched with curl.
struct http_reply {
  int status = 0;       ///< the last status line's code
  std::string headers;  ///< raw header block(s), as curl dumped them
  std::string body;
  /// Values of every header named `name` (case-insensitive), in order.
  [[nodiscard]] std::vector<std::string> header_values(const std::string& name) const;
};

/// GETs `url` with curl trusting `cafile` (none: the system store). Throws if curl cannot
/// connect or does not finish in time; any HTTP status is returned.
[[nodiscard]] http_reply curl_get(const std::string& url, const std::filesystem::path& cafile);
/// POSTs `body` (as JSON) to `url` with curl; same rules as `curl_get`.
[[nodiscard]] http_reply curl_post(const std::string& url, const std::string& body,
                                   const std::filesystem::path& cafile = {});

/// A running Pebble (and its mock DNS server), killed on destruction. Throws from the
/// constructor, with the processes' output, if it does not come up.
class pebble {
 public:
  explicit pebble(pebble_options opts = {});
  ~pebble();
  pebble(const pebble&) = delete;
  pebble& operator=(const pebble&) = delete;

  /// Whether the Debian packages this needs are installed (pebble, pebble-challtestsrv, curl).
  [[nodiscard]] static bool available();

  /// "https://<host>:<port>/dir".
  [[nodiscard]] std::string directory_url() const;
  /// The CA that issued Pebble's listener certificate: what an ACME client must trust.
  [[nodiscard]] const std::filesystem::path& ca_file() const noexcept { return ca_->certfile(); }
  /// The port Pebble's VA connects to for HTTP-01 (serve the challenge on 127.0.0.1 there).
  [[nodiscard]] unsigned short http_port() const noexcept { return http_port_; }
  /// The port Pebble's VA connects to for TLS-ALPN-01.
  [[nodiscard]] unsigned short tls_port() const noexcept { return tls_port_; }
  /// The ACME listener's port.
  [[nodiscard]] unsigned short acme_port() const noexcept { return acme_port_; }
  /// "https://127.0.0.1:<port>" of the management interface (same listener certificate).
  [[nodiscard]] std::string management_url() const;
  /// GETs `path` ("/roots/0", "/cert-status-by-serial/<hex>", ...) from the management
  /// interface.
  [[nodiscard]] http_reply management_get(const std::string& path) const;
  /// The root of chain `n` (0 = default chain, 1.. = alternates). Throws if there is none.
  [[nodiscard]] pki::certificate root(int n = 0) const;
  /// The leaf-signing intermediate of chain `n`. Throws if there is none.
  [[nodiscard]] pki::certificate intermediate(int n = 0) const;
  /// Every root, default chain first (1 + alternate_roots).
  [[nodiscard]] std::vector<pki::certificate> roots() const;

  /// Mock DNS only: answers TXT queries for `host` (e.g. "_acme-challenge.example.test")
  /// with `value` (added to any value already there).
  void set_txt(const std::string& host, const std::string& value);
  /// Mock DNS only: removes every TXT value of `host`.
  void clear_txt(const std::string& host);

  /// Pebble's output (and the mock DNS server's), for failure messages.
  [[nodiscard]] std::string log() const;
  [[nodiscard]] const pebble_options& options() const noexcept { return opts_; }

 private:
  bool start_dns(std::string& why);
  bool start_pebble(std::string& why);
  void dns_post(const std::string& endpoint, const std::string& json);
  [[nodiscard]] pki::certificate fetch_cert(const std::string& path) const;

  pebble_options opts_;
  temp_dir dir_;
  std::unique_ptr<test_ca> ca_;
  std::filesystem::path certfile_;
  std::filesystem::path keyfile_;
  unsigned short http_port_ = 0;
  unsigned short tls_port_ = 0;
  unsigned short acme_port_ = 0;
  unsigned short management_port_ = 0;
  unsigned short dns_port_ = 0;
  unsigned short dns_management_port_ = 0;
  std::vector<unsigned short> ports_;  // every port picked, so that none is picked twice
  std::unique_ptr<child_process> dns_;
  std::unique_ptr<child_process> process_;
};

}  // namespace moat::test
