#pragma once
// Internal: the validated, immutable state behind a tls::context, in GnuTLS terms.

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <map>
#include <memory>
#include <moat/pki/pki.hpp>
#include <moat/tls/context.hpp>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace moat::tls::detail {

/// Owns one gnutls_certificate_credentials_t.
struct credentials {
  gnutls_certificate_credentials_t cred = nullptr;
  std::vector<pki::certificate> chain;  // keeps the certificates alive
  std::optional<pki::private_key> key;
  // Client side: the chain presented whatever CA names the server lists (GnuTLS would
  // otherwise withhold a certificate whose issuer the server did not name).
  std::vector<gnutls_pcert_st> pcerts;
  gnutls_privkey_t privkey = nullptr;
  credentials();
  ~credentials();
  credentials(const credentials&) = delete;
  credentials& operator=(const credentials&) = delete;
};

/// Client-side cache of resumable sessions, keyed by "host:port". Thread-safe.
class session_cache {
 public:
  void put(const std::string& key, std::vector<std::uint8_t> data);
  [[nodiscard]] std::vector<std::uint8_t> get(const std::string& key) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::uint8_t>> map_;
};

struct context_state {
  role side = role::client;
  options opts;
  verify_mode verify = verify_mode::none;
  std::shared_ptr<credentials> main;                        // own cert + trust
  std::map<std::string, std::shared_ptr<credentials>> sni;  // per-host (server)
  std::vector<pki::certificate> trust;                      // CA certificates
  gnutls_x509_trust_list_t trust_list = nullptr;
  gnutls_priority_t priority = nullptr;
  gnutls_datum_t ticket_key{nullptr, 0};
  std::vector<std::string> alpn;
  std::shared_ptr<session_cache> sessions;  // shared across reloads
  std::string priority_string;

  context_state() = default;
  ~context_state();
  context_state(const context_state&) = delete;
  context_state& operator=(const context_state&) = delete;

  /// Credentials for a server name the client asked for (SNI), or the main ones.
  [[nodiscard]] std::shared_ptr<credentials> credentials_for(std::string_view host) const;
};

/// The credentials a session is using (set by the engine). Internal.
[[nodiscard]] credentials* session_credentials(gnutls_session_t session) noexcept;

/// Builds the state (throws moat::config_error).
std::shared_ptr<const context_state> build_state(role r, options opts,
                                                 std::shared_ptr<session_cache> sessions);

/// Builds credentials for one certificate + key (+ trust) (throws moat::config_error).
std::shared_ptr<credentials> make_credentials(const sni_credentials& src, const context_state& st,
                                              const std::string& subject_prefix);

}  // namespace moat::tls::detail
