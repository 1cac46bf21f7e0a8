#pragma once
// A certificate manager certifying a real TLS listener on loopback, through the in-process CA
// ("local") or the fixture's CA served over HTTPS, and site_encrypt's `get_cert`: wipe the
// storage, restart the endpoint, certify, connect over TLS and return the peer certificate.
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <memory>
#include <moat/acme/manager.hpp>
#include <moat/server/listener.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/socket.hpp>
#include <string>
#include <vector>

#include "acme/ca_fixture.hpp"

namespace moat::test {

class manager_fixture : public ca_fixture {
 public:
  ~manager_fixture() { stop(); }

  /// A manager for `domains` through the in-process CA, answering TLS-ALPN-01 on the
  /// listener's port.
  [[nodiscard]] acme::manager_options local_options(std::vector<std::string> domains = {
                                                        "localhost"}) {
    acme::manager_options o = common_options(std::move(domains));
    o.directory = "local";
    o.local_ca.data_dir = dir_ / "local-ca";
    o.local_ca.tls_alpn01_port = tls_port_;
    o.local_ca.hosts = {{"localhost", "127.0.0.1"}, {"example.test", "127.0.0.1"}};
    o.local_ca.validation_timeout = scaled(std::chrono::milliseconds(5000));
    return o;
  }

  /// Starts the fixture's CA (validating TLS-ALPN-01 on the listener's port) and returns
  /// options for a manager using it.
  [[nodiscard]] acme::manager_options ca_options_for(std::vector<std::string> domains = {
                                                         "localhost"}) {
    if (!ca_) {
      acme::ca_options co;
      co.tls_alpn01_port = tls_port_;
      co.hosts.emplace("localhost", "127.0.0.1");
      start_ca(co);
    }
    acme::manager_options o = common_options(std::move(domains));
    o.directory = ca_->directory_url();
    o.client = client_options();
    return o;
  }

  /// Starts a manager with `o` and a listener on the fixture's port certified by it.
  void start(acme::manager_options o) {
    stop();
    mgr_ = std::make_unique<acme::manager>(io_.get_executor(), std::move(o));
    server::listener_options lo;
    lo.name = "managed";
    lo.addresses = {loopback(tls_port_)};
    lo.workers = 1;
    lo.shutdown_grace = std::chrono::milliseconds(200);
    server::coroutine_handler done = [](server::connection&) -> boost::asio::awaitable<void> {
      co_return;
    };
    listener_ = std::make_unique<server::listener>(lo, mgr_->tls_options(), done);
    listener_->start();
    mgr_->start();
  }

  /// Stops the listener and the manager (lets the manager's loop see the stop).
  void stop() {
    listener_.reset();
    if (mgr_) {
      mgr_->stop();
      mgr_.reset();
      run(nap(std::chrono::milliseconds(1)));
    }
  }

  /// The CA's certificate, once the manager has one in service.
  pki::certificate wait_cert(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    auto r = run(mgr_->wait_certificate(scaled(timeout)), timeout * 2);
    if (!r) {
      ADD_FAILURE() << "no certificate: " << r.error().message();
      return {};
    }
    return *r;
  }

  /// Starts with `o`, waits for the CA's certificate, stops, and returns it (empty on failure).
  pki::certificate certify_and_stop(const acme::manager_options& o) {
    start(o);
    auto leaf = wait_cert();
    stop();
    return leaf;
  }

  /// The chain the listener presents to a client asking for `sni`, verified against `root`
  /// (none: not verified).
  std::vector<pki::certificate> peer_chain(const std::string& sni = "localhost",
                                           std::optional<pki::certificate> root = std::nullopt) {
    tls::options c;
    if (root) {
      c.cacerts = {*root};
    } else {
      c.verify = tls::verify_mode::none;
    }
    c.server_name_indication = sni;
    tls::context ctx(tls::role::client, c);
    return run([&]() -> boost::asio::awaitable<std::vector<pki::certificate>> {
      auto s = co_await tls::socket::connect(io_.get_executor(), "127.0.0.1", tls_port_, ctx,
                                             scaled(std::chrono::milliseconds(10000)));
      if (!s) {
        ADD_FAILURE() << "TLS connect: " << s.error().message();
        co_return std::vector<pki::certificate>{};
      }
      auto chain = s->peer_certificates();
      co_await s->close();
      co_return chain;
    }());
  }

  /// site_encrypt's get_cert: wipes the storage (and its backup), restarts the endpoint with
  /// `o`, waits for the certificate through the ACME flow, and returns the leaf the listener
  /// presents over TLS (verified against the local CA's root when there is one).
  pki::certificate get_cert(acme::manager_options o) {
    stop();
    std::filesystem::remove_all(o.storage_dir);
    std::filesystem::remove(std::filesystem::path(o.storage_dir.string() + ".backup.tar"));
    start(std::move(o));
    if (wait_cert().empty()) return {};
    auto root = mgr_->local_root();
    if (root.empty() && ca_) root = ca_->root_certificate();
    const auto chain = peer_chain(mgr_->stats().identifiers.front().value, root);
    return chain.empty() ? pki::certificate{} : chain.front();
  }

  boost::asio::awaitable<void> nap(std::chrono::milliseconds d) {
    boost::asio::steady_timer t(io_, d);
    co_await t.async_wait(boost::asio::use_awaitable);
  }

  [[nodiscard]] std::size_t count(acme::manager_event_kind k) const {
    return static_cast<std::size_t>(std::count_if(
        events_.begin(), events_.end(), [k](const acme::manager_event& e) { return e.kind == k; }));
  }

  unsigned short tls_port_ = free_port();
  std::vector<acme::manager_event> events_;
  std::unique_ptr<acme::manager> mgr_;
  std::unique_ptr<server::listener> listener_;

 private:
  acme::manager_options common_options(std::vector<std::string> domains) {
    acme::manager_options o;
    o.domains = std::move(domains);
    o.emails = {"ops@example.test"};
    o.storage_dir = dir_ / "storage";
    o.challenges = {"tls-alpn-01"};
    o.order_timeout = scaled(std::chrono::milliseconds(30000));
    o.on_event = [this](const acme::manager_event& e) {
      events_.push_back(e);
    };
    return o;
  }
};

}  // namespace moat::test
