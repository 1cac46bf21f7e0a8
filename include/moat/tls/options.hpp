#pragma once
/// @file
/// TLS options, mirroring Erlang's `ssl` options in C++ form. A plain value type: fill it in,
/// then build a `tls::context` from it, which validates everything once and throws
/// `moat::config_error` naming the option or file and the reason.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <moat/log.hpp>
#include <moat/pki/pki.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::tls {

namespace detail {
struct certificate_set_state;
}

/// TLS protocol versions. Only 1.2 and 1.3 exist here: older ones are refused at
/// configuration time (RFC 8996).
enum class version { tls1_2, tls1_3 };

/// "tlsv1.2" / "tlsv1.3".
[[nodiscard]] std::string_view to_string(version v) noexcept;
/// Parses "1.2", "tlsv1.2", "TLSv1.2", "1.3", ... Throws config_error (subject `versions`)
/// for SSL 3.0 / TLS 1.0 / 1.1 (unsupported_version, citing RFC 8996) or unknown names.
[[nodiscard]] version parse_version(std::string_view name);

/// Which side of the handshake.
enum class role { client, server };

/// Peer verification, Erlang's `{verify, verify_none | verify_peer}`.
enum class verify_mode { none, peer };

/// The event passed to a verify callback, Erlang's `verify_fun` second argument.
enum class verify_event {
  bad_cert,   ///< this certificate failed a check; `reason` says which.
  extension,  ///< an unknown critical extension (`extension_oid` names it).
  valid,      ///< an intermediate (or the trust anchor) passed every check.
  valid_peer  ///< the peer's own certificate passed every check.
};

/// What a verify callback decides, Erlang's `{valid, S} | {fail, R} | {unknown, S}`.
enum class verify_result {
  valid,   ///< accept (overrides a bad_cert reason).
  fail,    ///< reject: the handshake fails with the event's reason (or rejected_by_verify_fun).
  unknown  ///< for `extension`: not understood, so the default (fail if critical) applies.
};

/// Everything a verify callback learns about one certificate of the path.
struct verify_info {
  verify_event event = verify_event::valid;
  std::error_code reason;     ///< for bad_cert: a tls::errc such as cert_expired.
  std::string extension_oid;  ///< for extension.
  const pki::certificate* certificate = nullptr;  ///< the certificate examined (borrowed).
  unsigned depth = 0;                             ///< 0 = the peer's own certificate.
};

/// Erlang's `{verify_fun, {Fun, InitialUserState}}`: called for each certificate of the path,
/// from the one next to the trust anchor down to the peer's own. The user state is whatever
/// the callback captures (it is called on the connection's thread, in order, per handshake).
using verify_callback = std::function<verify_result(const verify_info&)>;

/// A server's choice for one SNI host name: the certificate chain and key to present.
struct sni_credentials {
  std::filesystem::path certfile;
  std::filesystem::path keyfile;
  pki::key_password password;
  std::vector<pki::certificate> cert;  ///< or in memory (then certfile is ignored)
  std::optional<pki::private_key> key;
};

/// Server SNI callback, Erlang's `sni_fun`: given the requested host name, the credentials
/// to use, or nullopt to use the default certificate. Called on the connection's thread.
using sni_callback = std::function<std::optional<sni_credentials>(std::string_view host)>;

/// A server's certificate chain and private key, loaded and checked once (the chain's order,
/// the key matching the leaf certificate), so that a certificate selector can hand it to
/// every handshake without reading or parsing anything again. On its first handshake with a
/// context (again after that context's `reload`) the TLS library's credentials for it are
/// built and kept, and it is checked against that context's options (a keyUsage that allows
/// signing, a signature algorithm and suites for its key).
/// Ownership: a cheap, copyable handle to shared immutable state. Thread-safety: one set may
/// be presented by handshakes on every core, under several contexts, at once.
class certificate_set {
 public:
  /// Loads (files are read now) and checks `src`. Implicit, so that a certificate selector
  /// may also return `sni_credentials` -- which are then loaded and checked per handshake.
  /// Throws moat::config_error naming the file or field and the reason.
  certificate_set(const sni_credentials& src);  // NOLINT(google-explicit-constructor)

  /// The chain, leaf first.
  [[nodiscard]] const std::vector<pki::certificate>& chain() const noexcept;

  /// Internal (for the engine).
  [[nodiscard]] const std::shared_ptr<detail::certificate_set_state>& state() const noexcept {
    return state_;
  }

 private:
  std::shared_ptr<detail::certificate_set_state> state_;
};

/// What a client offered in its ClientHello, as a server's certificate selector sees it.
struct client_hello {
  /// The host name the client asked for (SNI), lower-cased; empty when it sent none. Always
  /// a plain DNS name (labels of letters, digits, '-' and '_', separated by single dots): a
  /// ClientHello with anything else in it does not reach the selector.
  std::string server_name;
  /// The application protocols the client offered (ALPN), in the client's order; empty when
  /// it offered none. Which one is negotiated is decided by the server's `options::alpn`.
  std::vector<std::string> alpn;
};

/// Server: chooses the certificate of one handshake, asynchronously -- the certificate of
/// RFC 8737's TLS-ALPN-01 challenge when the client offers `acme-tls/1`, a certificate
/// obtained on demand, one looked up in a store.
///
/// - **When:** once per handshake, when the client's ClientHello has arrived and before the
///   server answers it (also for a handshake that then resumes a session, whose certificate
///   goes unused). A ClientHello moat cannot read is left to the TLS library, which refuses
///   what is malformed, and the selector is not called.
/// - **Where:** started with `co_spawn` on the connection's executor (for a listener, its
///   core's io_context). It may suspend (`co_await`) for as long as it likes: meanwhile that
///   executor runs every other connection. The handshake's timeout bounds it: when the
///   handshake is cancelled, the operation the selector is waiting for is cancelled too (and
///   the handshake ends when the selector returns). `hello` stays valid until it returns.
/// - **Result:** the certificate to present. A `sni_credentials` converts to a
///   `certificate_set`, loaded and checked at every call; return a `certificate_set` built
///   once where it matters. `nullopt` means what the server presents without a selector:
///   `sni_fun`'s choice, else `sni_hosts`' entry for the name, else the main certificate.
/// - **Failure:** an exception (or a certificate this context cannot use, e.g. none of its
///   `signature_algs` can sign with its key) fails the handshake with
///   `errc::unrecognized_name`; the client receives the unrecognized_name alert, and the
///   exception's message is logged through `options::logger` (rate-limited).
/// - **ALPN** is negotiated from `options::alpn` while the ClientHello is read, not by the
///   selector: to answer `acme-tls/1`, list it there.
using certificate_selector =
    std::function<boost::asio::awaitable<std::optional<certificate_set>>(const client_hello&)>;

/// Receives NSS key-log lines ("CLIENT_HANDSHAKE_TRAFFIC_SECRET <random> <secret>") for
/// Wireshark. The line is a secret: never log it anywhere but where the user asked.
using keylog_callback = std::function<void(std::string_view line)>;

/// TLS options. Defaults are the secure ones: clients verify the peer and its host name,
/// servers offer forward-secret AEAD suites only, TLS 1.2 and 1.3, no client-initiated
/// renegotiation. Options that weaken security say `insecure` in their name.
struct options {
  // --- Own certificate and key (Erlang cert/certfile, key/keyfile, password) ---
  std::filesystem::path certfile;       ///< PEM/DER chain, leaf first.
  std::vector<pki::certificate> cert;   ///< or in memory.
  std::filesystem::path keyfile;        ///< PEM/DER private key.
  std::optional<pki::private_key> key;  ///< or in memory.
  pki::key_password password;           ///< for an encrypted key (string or callback).

  // --- Trust and verification ---
  std::filesystem::path cacertfile;       ///< CA certificates (PEM).
  std::vector<pki::certificate> cacerts;  ///< or in memory.
  /// Default: peer for clients, none for servers (set by the context when unset).
  std::optional<verify_mode> verify;
  verify_callback verify_fun;         ///< Erlang's verify_fun.
  bool fail_if_no_peer_cert = false;  ///< server: require a client certificate.
  unsigned depth = 10;                ///< max intermediates between peer and anchor.

  // --- Protocol ---
  std::vector<version> versions;  ///< empty = {1.3, 1.2}.
  /// Cipher suites by IANA name (TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
  /// or AEAD name (AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305); empty = all three AEADs,
  /// AES-128-GCM first.
  std::vector<std::string> ciphers;
  /// Key-exchange groups: x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048, ...
  std::vector<std::string> groups;
  /// Signature algorithms by TLS 1.3 name: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, ed25519...
  std::vector<std::string> signature_algs;

  // --- Names and protocols ---
  /// Client: the SNI name to send and the name to verify; empty = the host connected to.
  std::string server_name_indication;
  bool disable_sni = false;                   ///< client: send no SNI.
  bool insecure_skip_hostname_check = false;  ///< client: verify the chain but not the name.
  /// Client with `verify = none` only: accept a server certificate whose keyUsage lacks
  /// digitalSignature although the handshake is signed with its key (Go's TLS stack never
  /// checks keyUsage, and ACME clients such as lego make TLS-ALPN-01 certificates that way).
  /// GnuTLS has no narrower switch: this also tolerates records above the maximum size.
  bool insecure_allow_key_usage_violation = false;
  std::vector<std::string> alpn;                     ///< client: offered; server: preferred order.
  std::map<std::string, sni_credentials> sni_hosts;  ///< server: per-host certificates.
  sni_callback sni_fun;                              ///< server: choose credentials per host.
  /// Server: choose the certificate of each handshake asynchronously (see
  /// certificate_selector); comes before sni_fun and sni_hosts.
  certificate_selector select_certificate;

  // --- Sessions ---
  bool reuse_sessions = true;  ///< client: reuse; server: issue tickets.
  /// TLS 1.3 tickets a server sends after each handshake (at most 10).
  unsigned session_tickets = 1;
  /// Client: how many servers (host:port) the context remembers a session for, the least
  /// recently used forgotten first; at least 1. Each server has its latest session: a TLS 1.3
  /// ticket is used for one connection only (RFC 8446 appendix C.4), TLS 1.2 session data
  /// until it is replaced. The cache belongs to the context and survives `reload`.
  std::size_t session_cache_size = 1024;

  // --- Misc ---
  keylog_callback keylog;             ///< NSS key log lines (for Wireshark).
  std::filesystem::path keylog_file;  ///< or appended to this file (0600).
  std::chrono::milliseconds handshake_timeout{5000};
  /// Where this context's connections log (e.g. a selector's failure, an active-mode handler
  /// that threw); null = moat::default_logger(), the spdlog logger named "moat".
  std::shared_ptr<spdlog::logger> logger;
};

}  // namespace moat::tls
