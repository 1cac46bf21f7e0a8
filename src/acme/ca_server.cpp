// acme::ca_server: a CA on HTTPS with a certificate from its own root (see ca.hpp).
#include <fmt/core.h>

#include <algorithm>
#include <moat/acme/ca.hpp>

namespace moat::acme {

ca_server::ca_server(acme::ca& ca, ca_server_options opts) : ca_(ca) {
  const auto& a = opts.address.address();
  std::vector<std::string> sans = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
  if (!a.is_unspecified()) {
    const std::string mine = "IP:" + a.to_string();
    if (std::find(sans.begin(), sans.end(), mine) == sans.end()) sans.push_back(mine);
  }
  const auto own = ca.issue({.common_name = "moat ACME CA",
                             .subject_alt_names = sans,
                             .lifetime = opts.certificate_lifetime});
  http::server_options so;
  so.listener.name = opts.name;
  so.listener.addresses = {opts.address};
  so.listener.workers = opts.workers;
  so.listener.logger = opts.logger;
  so.tls = tls::options{};
  so.tls->cert = own.chain;
  so.tls->key = own.key;
  so.tls->logger = opts.logger;
  http::router r;
  ca.mount(r, opts.prefix);
  server_ = std::make_unique<http::server>(std::move(so), std::move(r));
  std::string host = a.is_unspecified() ? "localhost" : a.to_string();
  if (!a.is_unspecified() && a.is_v6()) host = "[" + host + "]";
  ca.set_base_url(fmt::format("https://{}:{}", host, local_endpoint().port()));
  server_->start();
}

ca_server::~ca_server() = default;

boost::asio::ip::tcp::endpoint ca_server::local_endpoint() const {
  return server_->local_endpoints().front();
}

std::string ca_server::directory_url() const {
  return ca_.directory_url();
}

void ca_server::stop() {
  server_->stop();
}

}  // namespace moat::acme
