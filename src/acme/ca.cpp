// The CA's facade: construction, mounting, direct issuance, ARI marks, the CRL, stats.
#include <moat/acme/ca.hpp>
#include <moat/error.hpp>
#include <moat/pki/builder.hpp>

#include "acme/ca_issue.hpp"
#include "acme/ca_routes.hpp"
#include "acme/ca_state.hpp"

namespace moat::acme {

ca::ca(boost::asio::any_io_executor ex, ca_options opts)
    : state_(std::make_shared<state>(std::move(ex), std::move(opts))) {}

ca::~ca() = default;

void ca::mount(http::router& router, std::string prefix) {
  while (prefix.ends_with('/')) prefix.pop_back();
  if (!prefix.empty() && !prefix.starts_with('/')) {
    throw moat::config_error("prefix '" + prefix + "'", pki::errc::invalid_argument,
                             "a path starting with '/'");
  }
  {
    std::lock_guard lock(state_->mu);
    state_->prefix = prefix;
  }
  router.add_prefix(prefix + "/", detail::make_route(state_));
}

void ca::set_base_url(std::string base_url) {
  while (base_url.ends_with('/')) base_url.pop_back();
  std::lock_guard lock(state_->mu);
  state_->base_url = std::move(base_url);
}

std::string ca::directory_url() const {
  std::lock_guard lock(state_->mu);
  return state_->base_url + state_->prefix + "/directory";
}

pki::certificate ca::root_certificate() const {
  return state_->keys.root;
}

pki::certificate ca::intermediate_certificate() const {
  return state_->keys.intermediate;
}

std::filesystem::path ca::root_certificate_path() const {
  return state_->opts.data_dir / "root.pem";
}

ca_issued ca::issue(const ca_issue_request& req) {
  if (req.common_name.empty() && req.subject_alt_names.empty()) {
    throw moat::config_error("ca_issue_request", pki::errc::invalid_argument,
                             "a common name or a subject alternative name is needed");
  }
  if (req.lifetime <= std::chrono::seconds(0)) {
    throw moat::config_error("lifetime", pki::errc::invalid_argument, "must be positive");
  }
  std::vector<identifier> ids;
  for (const auto& san : req.subject_alt_names) {
    if (san.starts_with("DNS:")) {
      ids.push_back(identifier::dns(san.substr(4)));
    } else if (san.starts_with("IP:")) {
      ids.push_back(identifier::ip(san.substr(3)));
    } else {
      throw moat::config_error("subject_alt_names '" + san + "'", pki::errc::invalid_san,
                               "DNS:name or IP:address");
    }
  }
  ca_issued out;
  out.key = req.key.empty() ? pki::private_key::generate(pki::key_type::ecdsa_p256) : req.key;
  std::lock_guard lock(state_->mu);
  detail::leaf_request lr;
  lr.common_name = req.common_name;
  lr.sans = req.subject_alt_names;
  lr.not_before = state_->now() - std::chrono::minutes(5);
  lr.not_after = state_->now() + req.lifetime;
  lr.client_auth = req.client_auth;
  if (!state_->base_url.empty()) lr.crl_url = state_->base_url + state_->prefix + "/crl";
  const auto spki = out.key.public_key_der();
  const auto& rec = detail::issue_leaf(*state_, spki, lr, {}, std::move(ids));
  out.chain = {pki::certificate::from_pem(rec.chain_pem), state_->keys.intermediate};
  return out;
}

bool ca::mark_for_renewal(const pki::certificate& cert) {
  std::lock_guard lock(state_->mu);
  const auto it = state_->certs.find(cert.serial_hex());
  if (it == state_->certs.end() || it->second.spki != cert.public_key_der()) return false;
  it->second.renew_now = state_->now();
  state_->save(it->second);
  return true;
}

std::vector<std::uint8_t> ca::crl_der() const {
  std::lock_guard lock(state_->mu);
  return detail::make_crl(*state_);
}

ca_stats ca::stats() const {
  std::lock_guard lock(state_->mu);
  return state_->counters;
}

}  // namespace moat::acme
