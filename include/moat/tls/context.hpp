#pragma once
/// @file
/// `tls::context`: options validated once and turned into ready-to-use TLS state
/// (credentials, trust, priorities, ticket keys, the client's session cache).

#include <chrono>
#include <memory>
#include <moat/tls/options.hpp>
#include <string>
#include <vector>

namespace moat::tls {

namespace detail {
struct context_state;
}

/// Summary of what a context will present, for start-up logs.
struct context_summary {
  std::vector<version> versions;
  std::string certificate_subject;  ///< empty when no certificate
  std::vector<std::string> certificate_sans;
  std::string certificate_expiry;                                 ///< ISO 8601 UTC
  std::chrono::system_clock::time_point certificate_not_after{};  ///< the same as a time
  std::string certificate_fingerprint;                            ///< SHA-256
  /// Server: code picks the certificate of each handshake (`select_certificate` or `sni_fun`,
  /// e.g. an ACME manager's selector), so the certificate above only stands in for it.
  bool selects_certificate = false;
};

/// Validated TLS configuration for one role. Building it checks every option and file and
/// throws `moat::config_error` naming the option or file and the reason; a context that
/// exists is usable. Cheap to copy (shared immutable state); thread-safe: one context may
/// serve connections on every core. `reload` swaps in new credentials atomically for new
/// handshakes while live connections keep theirs.
class context {
 public:
  /// Validates `opts` for `r`. Throws moat::config_error.
  context(role r, options opts);

  [[nodiscard]] role side() const noexcept;
  /// A copy of the current options.
  [[nodiscard]] options opts() const;
  [[nodiscard]] context_summary summary() const;
  /// Where this context's connections log: options::logger, else moat::default_logger().
  [[nodiscard]] std::shared_ptr<spdlog::logger> logger() const;

  /// Validates `opts` (same rules as the constructor) and, only if it is valid, makes it the
  /// configuration of every later handshake. On error it throws and the old one stays.
  /// What belongs to the context rather than to its options stays: a server's session-ticket
  /// key (tickets issued before a certificate renewal still resume after it) and a client's
  /// session cache (resized to the new `session_cache_size`). Thread-safe.
  void reload(options opts);

  /// Internal: the current state (for the engine).
  [[nodiscard]] std::shared_ptr<const detail::context_state> state() const;

 private:
  struct shared;
  std::shared_ptr<shared> shared_;
};

/// The cipher suites moat can offer, by IANA name (Erlang's ssl:cipher_suites/0).
[[nodiscard]] std::vector<std::string> cipher_suites();
/// The supported TLS versions (Erlang's ssl:versions/0).
[[nodiscard]] std::vector<version> versions();

}  // namespace moat::tls
