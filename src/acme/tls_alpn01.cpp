// TLS-ALPN-01 (RFC 8737, RFC 8738 for IP addresses): the responder's certificate selector
// and a standalone listener for it.
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <moat/acme/solver.hpp>
#include <moat/pki/builder.hpp>
#include <moat/pki/digest.hpp>
#include <moat/server/listener.hpp>

#include "acme/fetch_tracker.hpp"
#include "acme/tls_alpn_names.hpp"

namespace moat::acme {

namespace net = boost::asio;

namespace {}  // namespace

struct tls_alpn01_responder::state : detail::fetch_tracker<tls::certificate_set> {
  pki::private_key key = pki::private_key::generate(pki::key_type::ecdsa_p256);
};

tls_alpn01_responder::tls_alpn01_responder() : state_(std::make_shared<state>()) {}
tls_alpn01_responder::~tls_alpn01_responder() = default;

bool tls_alpn01_responder::can_solve(const identifier& id) const {
  return (id.type == "dns" && !id.value.starts_with("*.")) || id.type == "ip";
}

net::awaitable<void> tls_alpn01_responder::present(const challenge_task& task) {
  // The acmeIdentifier extension's value is the DER OCTET STRING of the SHA-256 of the key
  // authorization; the extension is critical (RFC 8737 section 3).
  const auto digest = pki::sha256(task.key_authorization);
  std::vector<std::uint8_t> value(2 + digest.size());
  value[0] = 0x04;  // OCTET STRING
  value[1] = static_cast<std::uint8_t>(digest.size());
  std::copy(digest.begin(), digest.end(), value.begin() + 2);
  const std::string san = (task.identifier.type == "ip" ? "IP:" : "DNS:") + task.identifier.value;
  const auto cert =
      pki::certificate_builder{
          .subject_alt_names = {san},
          .validity = std::chrono::days(7),
          .ext_key_usage = pki::ext_key_usage_flags::server_auth,
          .extensions = {{.oid = detail::acme_identifier_oid, .der = value, .critical = true}}}
          .self_sign(state_->key);
  state_->add(
      detail::validation_server_name(task.identifier),
      tls::certificate_set(tls::sni_credentials{
          .certfile = {}, .keyfile = {}, .password = {}, .cert = {cert}, .key = state_->key}));
  co_return;
}

net::awaitable<bool> tls_alpn01_responder::wait_fetched(const challenge_task& task,
                                                        std::chrono::milliseconds max) {
  co_return co_await state_->wait(detail::validation_server_name(task.identifier), max);
}

net::awaitable<void> tls_alpn01_responder::cleanup(const challenge_task& task) {
  state_->remove(detail::validation_server_name(task.identifier));
  co_return;
}

tls::certificate_selector tls_alpn01_responder::selector(tls::certificate_selector next) {
  return
      [st = state_, next = std::move(next)](
          const tls::client_hello& hello) -> net::awaitable<std::optional<tls::certificate_set>> {
        if (std::find(hello.alpn.begin(), hello.alpn.end(), alpn_protocol) != hello.alpn.end()) {
          if (auto set = st->fetch(hello.server_name)) co_return set;
        }
        if (next) co_return co_await next(hello);
        co_return std::nullopt;
      };
}

struct tls_alpn01_server::listener_holder {
  std::unique_ptr<server::listener> listener;
};

tls_alpn01_server::tls_alpn01_server(std::vector<net::ip::tcp::endpoint> addresses,
                                     std::shared_ptr<spdlog::logger> logger)
    : listener_(std::make_unique<listener_holder>()) {
  server::listener_options lo;
  lo.name = "acme-tls-alpn-01";
  lo.addresses = std::move(addresses);
  lo.workers = 1;
  lo.max_connections = 256;
  lo.shutdown_grace = std::chrono::milliseconds(1000);
  lo.logger = logger;
  // A handshake that is not a validation (no acme-tls/1, or a name not pending) gets this
  // certificate, for no name, and fails ALPN anyway.
  const auto fallback_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  tls::options to;
  to.cert = {pki::certificate_builder{.common_name = "moat acme-tls/1 responder",
                                      .validity = std::chrono::days(7)}
                 .self_sign(fallback_key)};
  to.key = fallback_key;
  to.alpn = {std::string(alpn_protocol)};
  to.select_certificate = selector();
  to.logger = std::move(logger);
  server::coroutine_handler done = [](server::connection&) -> net::awaitable<void> {
    co_return;
  };
  listener_->listener = std::make_unique<server::listener>(std::move(lo), std::move(to), done);
  listener_->listener->start();
}

tls_alpn01_server::~tls_alpn01_server() {
  if (listener_ && listener_->listener) listener_->listener->stop();
}

std::vector<net::ip::tcp::endpoint> tls_alpn01_server::local_endpoints() const {
  return listener_->listener->local_endpoints();
}

}  // namespace moat::acme
