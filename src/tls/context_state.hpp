#pragma once
// Internal: the validated, immutable state behind a tls::context, in GnuTLS terms.

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <list>
#include <map>
#include <memory>
#include <moat/detail/log_limiter.hpp>
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

/// Client-side cache of resumable sessions, keyed by "host:port": the latest session of each
/// server, at most `capacity` of them, the least recently used dropped first. A TLS 1.3 ticket
/// is single-use (RFC 8446 appendix C.4): `take` hands it out once. TLS 1.2 session data
/// stays until replaced or dropped. Thread-safe.
class session_cache {
 public:
  explicit session_cache(std::size_t capacity);
  /// Stores the session to resume with for `key`, replacing the one before.
  void put(const std::string& key, std::vector<std::uint8_t> data, bool single_use);
  /// The session to resume with for `key`, empty when none; a single-use one leaves the cache.
  [[nodiscard]] std::vector<std::uint8_t> take(const std::string& key);
  /// Changes the bound, dropping the least recently used sessions beyond it.
  void set_capacity(std::size_t capacity);
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::size_t capacity() const;

 private:
  struct entry {
    std::string key;
    std::vector<std::uint8_t> data;
    bool single_use = false;
  };
  void trim();  // with mu_ held

  mutable std::mutex mu_;
  std::size_t capacity_;
  std::list<entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<entry>::iterator> index_;
};

/// A server's session-ticket master key. GnuTLS (3.6.4 and later) does not encrypt tickets
/// with it: it derives the ticket encryption key from it and the time, SHA3-512(T || master)
/// with T = unix time / (3 x the session expiration, 6 h by default) -- a new key every 18
/// hours -- and decrypts with the current and the previous period's key. One master key per
/// session is all its API takes, so moat keeps one per context, for the context's lifetime.
class ticket_master_key {
 public:
  ticket_master_key();
  ~ticket_master_key();
  ticket_master_key(const ticket_master_key&) = delete;
  ticket_master_key& operator=(const ticket_master_key&) = delete;
  [[nodiscard]] const gnutls_datum_t& datum() const noexcept { return key_; }

 private:
  gnutls_datum_t key_{nullptr, 0};
};

/// What a context keeps across reload(): the client's session cache and the server's ticket
/// key, so that renewing a certificate does not end resumption for every client; and the
/// rate limit of the log lines its peers can provoke.
struct lasting_state {
  lasting_state(role r, std::size_t session_cache_size);
  session_cache sessions;                                                      ///< client
  std::unique_ptr<ticket_master_key> ticket_key;                               ///< server
  moat::detail::log_limiter selection_failures{10, std::chrono::seconds(10)};  ///< server
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
  std::vector<std::string> alpn;
  std::shared_ptr<lasting_state> lasting;  // the context's, across reloads
  std::string priority_string;

  context_state() = default;
  ~context_state();
  context_state(const context_state&) = delete;
  context_state& operator=(const context_state&) = delete;

  /// Credentials for a server name the client asked for (SNI), or the main ones.
  [[nodiscard]] std::shared_ptr<credentials> credentials_for(std::string_view host) const;
  /// Where this context logs: options::logger, else moat::default_logger().
  [[nodiscard]] std::shared_ptr<spdlog::logger> logger() const;
};

/// What a certificate_set holds: a checked chain and key, and the credentials built from them
/// for each context state that presented them (built on first use, dropped with the state).
struct certificate_set_state {
  std::vector<pki::certificate> chain;
  pki::private_key key;
  std::string subject;  // for errors: where the chain came from

  /// The credentials for handshakes of `st` (built on first use; throws moat::config_error
  /// when `st`'s options cannot use this certificate). Thread-safe.
  [[nodiscard]] std::shared_ptr<credentials> credentials_for(
      const std::shared_ptr<const context_state>& st);

 private:
  struct built {
    std::weak_ptr<const context_state> state;
    const context_state* key = nullptr;
    std::shared_ptr<credentials> creds;
  };
  std::mutex mu_;
  std::vector<built> built_;
};

/// The credentials a session is using (set by the engine). Internal.
[[nodiscard]] credentials* session_credentials(gnutls_session_t session) noexcept;

/// Builds the state (throws moat::config_error); it keeps `lasting`.
std::shared_ptr<const context_state> build_state(role r, options opts,
                                                 std::shared_ptr<lasting_state> lasting);

/// A chain and its key, loaded from files or taken from memory, and checked.
struct loaded_identity {
  std::vector<pki::certificate> chain;  // empty when none was given
  std::optional<pki::private_key> key;
  std::string subject;  // names where the chain came from, for later errors
};

/// Loads and checks one certificate + key (throws moat::config_error). `subject_prefix`
/// prefixes the option names in errors ("sni_hosts[x].").
loaded_identity load_identity(const sni_credentials& src, const std::string& subject_prefix);

/// Builds credentials for a loaded chain + key (both may be empty) and `st`'s trust (throws
/// moat::config_error). Whether `st`'s options can use the certificate is check_usable's.
std::shared_ptr<credentials> build_credentials(const std::vector<pki::certificate>& chain,
                                               const std::optional<pki::private_key>& key,
                                               const context_state& st, const std::string& subject);

/// Throws moat::config_error when the options `o` cannot use the certificate of `c` (no
/// digitalSignature, no signature algorithm or TLS 1.2 suite for its key).
void check_usable(const credentials& c, const options& o, const std::string& subject);

/// load_identity + build_credentials.
std::shared_ptr<credentials> make_credentials(const sni_credentials& src, const context_state& st,
                                              const std::string& subject_prefix);

}  // namespace moat::tls::detail
