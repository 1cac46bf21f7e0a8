#pragma once
/// @file
/// Challenge solvers: how the client proves control of an identifier. One solver per
/// challenge type; the client picks, for each authorization, the first solver (in the order
/// given) whose type the CA offers and that can answer for the identifier.
///
/// - `http01_responder`: HTTP-01 answered by an HTTP server -- mount its handler on your own
///   `http::router`, or let `http01_server` run one.
/// - `tls_alpn01_responder`: TLS-ALPN-01 (RFC 8737) answered by a TLS listener through its
///   asynchronous certificate selector -- wrap your listener's selector, or let
///   `tls_alpn01_server` run one.
/// - `dns01_solver`: DNS-01 through your hooks that set and remove a TXT record (wildcards).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <moat/acme/errors.hpp>
#include <moat/http/server.hpp>
#include <moat/tls/options.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace moat::acme {

/// What a solver is asked to present for one authorization.
struct challenge_task {
  acme::identifier identifier{};
  std::string type{};               ///< "http-01", "tls-alpn-01", "dns-01"
  std::string token{};              ///< the challenge's token (base64url)
  std::string key_authorization{};  ///< token "." base64url(JWK thumbprint of the account key)
};

/// A way to answer one challenge type. The client calls it from its own executor; a solver
/// used by several clients at once must be safe for that (the ones here are).
class solver {
 public:
  virtual ~solver() = default;
  /// The challenge type this solver answers ("http-01", ...).
  [[nodiscard]] virtual std::string_view challenge_type() const noexcept = 0;
  /// Whether it can answer for `id` (HTTP-01 and TLS-ALPN-01 cannot prove a wildcard).
  [[nodiscard]] virtual bool can_solve(const identifier& id) const;
  /// Makes the challenge answerable. An exception fails the authorization with
  /// errc::solver_failed and its message.
  virtual boost::asio::awaitable<void> present(const challenge_task& task) = 0;
  /// Waits until the CA has fetched this challenge, at most `max`. True when the solver saw
  /// the fetch (the client then asks the CA for the result at once instead of sleeping);
  /// false when it cannot tell or `max` passed. The default returns false at once.
  virtual boost::asio::awaitable<bool> wait_fetched(const challenge_task& task,
                                                    std::chrono::milliseconds max);
  /// Removes what `present` set up. Runs after every order, whether it succeeded or not; an
  /// exception is logged (a warning naming the challenge and the identifier) and does not
  /// change the order's outcome.
  virtual boost::asio::awaitable<void> cleanup(const challenge_task& task) = 0;
};

/// HTTP-01 (RFC 8555 section 8.3): answers GET /.well-known/acme-challenge/<token> with the
/// key authorization. Thread-safety: the handler may run on any server thread while
/// challenges are presented and removed from the client's.
class http01_responder : public solver {
 public:
  /// Where the handler must be mounted (a prefix route).
  static constexpr std::string_view path_prefix = "/.well-known/acme-challenge/";
  http01_responder();
  ~http01_responder() override;
  [[nodiscard]] std::string_view challenge_type() const noexcept override { return "http-01"; }
  [[nodiscard]] bool can_solve(const identifier& id) const override;
  boost::asio::awaitable<void> present(const challenge_task& task) override;
  boost::asio::awaitable<bool> wait_fetched(const challenge_task& task,
                                            std::chrono::milliseconds max) override;
  boost::asio::awaitable<void> cleanup(const challenge_task& task) override;
  /// The route: mount with `router.add_prefix(http01_responder::path_prefix, r.handler())`.
  /// Unknown tokens get 404. The responder must outlive the server using the handler.
  [[nodiscard]] http::route_handler handler();

  struct state;  // internal

 private:
  std::shared_ptr<state> state_;
};

/// An `http01_responder` with its own plain-HTTP server (certbot's --standalone): listens on
/// `addresses` from construction (port 80 in production) until destroyed.
class http01_server : public http01_responder {
 public:
  /// Binds at once: throws std::system_error naming the address if it cannot.
  explicit http01_server(std::vector<boost::asio::ip::tcp::endpoint> addresses,
                         std::shared_ptr<spdlog::logger> logger = {});
  ~http01_server() override;
  /// The bound addresses (with real ports when 0 was asked for).
  [[nodiscard]] std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;

 private:
  std::unique_ptr<http::server> server_;
};

/// TLS-ALPN-01 (RFC 8737): a handshake offering ALPN "acme-tls/1" for a pending identifier
/// gets a self-signed certificate for it carrying the critical acmeIdentifier extension.
/// Works for DNS names and for IP addresses (RFC 8738: the client sends the reverse-DNS name
/// as SNI). Thread-safety: as http01_responder.
class tls_alpn01_responder : public solver {
 public:
  /// The ALPN protocol the validation uses; list it in the listener's `tls::options::alpn`.
  static constexpr std::string_view alpn_protocol = "acme-tls/1";
  tls_alpn01_responder();
  ~tls_alpn01_responder() override;
  [[nodiscard]] std::string_view challenge_type() const noexcept override { return "tls-alpn-01"; }
  [[nodiscard]] bool can_solve(const identifier& id) const override;
  boost::asio::awaitable<void> present(const challenge_task& task) override;
  boost::asio::awaitable<bool> wait_fetched(const challenge_task& task,
                                            std::chrono::milliseconds max) override;
  boost::asio::awaitable<void> cleanup(const challenge_task& task) override;
  /// A certificate selector answering validation handshakes and passing every other one to
  /// `next` (none: the listener's own certificate). Set it as the listener's
  /// `tls::options::select_certificate`, with "acme-tls/1" in `alpn`; the responder must
  /// outlive the listener.
  [[nodiscard]] tls::certificate_selector selector(tls::certificate_selector next = {});

  struct state;  // internal

 private:
  std::shared_ptr<state> state_;
};

/// A `tls_alpn01_responder` with its own TLS listener offering only "acme-tls/1" (port 443 in
/// production): listens on `addresses` from construction until destroyed. Connections are
/// closed after the handshake.
class tls_alpn01_server : public tls_alpn01_responder {
 public:
  /// Binds at once: throws std::system_error naming the address if it cannot.
  explicit tls_alpn01_server(std::vector<boost::asio::ip::tcp::endpoint> addresses,
                             std::shared_ptr<spdlog::logger> logger = {});
  ~tls_alpn01_server() override;
  [[nodiscard]] std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;

 private:
  struct listener_holder;
  std::unique_ptr<listener_holder> listener_;
};

/// DNS-01 (RFC 8555 section 8.4) through your DNS provider: `set` publishes a TXT record and
/// returns once it is visible to the world; `remove` takes it away. The only challenge that
/// proves a wildcard.
class dns01_solver : public solver {
 public:
  /// Publishes `value` as a TXT record at `name` ("_acme-challenge.example.com.").
  using set_hook = std::function<boost::asio::awaitable<void>(std::string name, std::string value)>;
  /// Removes the TXT record `value` at `name`.
  using remove_hook = set_hook;
  dns01_solver(set_hook set, remove_hook remove);
  [[nodiscard]] std::string_view challenge_type() const noexcept override { return "dns-01"; }
  [[nodiscard]] bool can_solve(const identifier& id) const override;
  boost::asio::awaitable<void> present(const challenge_task& task) override;
  boost::asio::awaitable<void> cleanup(const challenge_task& task) override;
  /// The TXT record name for a DNS identifier ("*.example.com" → "_acme-challenge.example.com.").
  [[nodiscard]] static std::string record_name(const identifier& id);
  /// The TXT record value: base64url(SHA-256(key authorization)).
  [[nodiscard]] static std::string record_value(std::string_view key_authorization);

 private:
  set_hook set_;
  remove_hook remove_;
};

}  // namespace moat::acme
