// `moat serve --acme`: see serve_acme.hpp.
#include "cli/serve_acme.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <moat/error.hpp>
#include <moat/pki/load.hpp>

namespace moat::cli {

namespace asio = boost::asio;

namespace {

// Where the local CA's validations connect for a name of this process: the loopback address
// of the family of the first TLS listener (the local CA certifies this very process).
std::string loopback_for(const std::vector<asio::ip::tcp::endpoint>& listen) {
  const auto a = listen.front().address();
  if (!a.is_unspecified()) return a.to_string();
  return a.is_v6() ? "::1" : "127.0.0.1";
}

acme::manager_options manager_options_of(const serve_acme_config& c) {
  acme::manager_options o;
  o.domains = c.domains;
  o.emails = c.emails;
  o.directory = c.directory;
  o.profile = c.profile;
  o.storage_dir = c.data_dir / "acme";
  if (!c.cacert.empty())
    o.client.http.tls.cacerts = pki::load_ca_certificates(c.cacert, "--acme-cacert");
  // HTTP-01 first when there is an HTTP listener (port 80 is what most set-ups can reach),
  // TLS-ALPN-01 on the TLS listener otherwise; after a failure the other goes first.
  o.challenges = c.http_listen ? std::vector<std::string>{"http-01", "tls-alpn-01"}
                               : std::vector<std::string>{"tls-alpn-01"};
  o.local_ca.data_dir = c.data_dir / "ca";
  o.local_ca.tls_alpn01_port = c.tls_listen.front().port();
  if (c.http_listen) o.local_ca.http01_port = c.http_listen->port();
  const std::string self = loopback_for(c.tls_listen);
  for (const auto& d : c.domains) o.local_ca.hosts.emplace(d, self);
  return o;
}

}  // namespace

serve_acme::serve_acme(const serve_acme_config& c)
    : config_(c),
      manager_(std::make_unique<acme::manager>(io_.get_executor(), manager_options_of(c))) {}

serve_acme::~serve_acme() {
  stop();
}

void serve_acme::start() {
  manager_->start();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
  spdlog::info(
      "certifying [{}] through {} (storage {}); a temporary self-signed certificate is "
      "served until the CA's arrives",
      fmt::join(config_.domains, ", "),
      config_.directory == "local" ? "the in-process CA" : manager_->directory_url(),
      (config_.data_dir / "acme").string());
  if (config_.directory == "local") {
    spdlog::info(
        "the in-process CA's root, what clients trust: {} (print it with: moat ca root "
        "--data-dir {})",
        (config_.data_dir / "ca" / "root.pem").string(), (config_.data_dir / "ca").string());
  }
}

void serve_acme::stop() {
  if (!thread_.joinable()) return;
  manager_->stop();
  io_.stop();
  thread_.join();
}

}  // namespace moat::cli
