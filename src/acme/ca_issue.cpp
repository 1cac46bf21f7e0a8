// Finalize checks, issuance, the CRL.
#include "acme/ca_issue.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <moat/error.hpp>
#include <moat/pki/encoding.hpp>
#include <set>

#include "acme/ca_problem.hpp"

namespace moat::acme::detail {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

identifier canonical(const identifier& id) {
  if (id.type == "dns") return identifier::dns(lower(id.value));
  if (id.type == "ip") {
    boost::system::error_code ec;
    const auto a = boost::asio::ip::make_address(id.value, ec);
    if (ec) throw ca_failure(errc::rejected_identifier, id.value + " is not an IP address");
    return identifier::ip(a.to_string());
  }
  throw ca_failure(errc::unsupported_identifier, "identifier type \"" + id.type + "\"");
}

std::vector<std::uint8_t> check_csr(std::span<const std::uint8_t> csr_der,
                                    const std::vector<identifier>& order_ids,
                                    std::span<const std::uint8_t> account_spki) {
  pki::csr_info csr;
  try {
    csr = pki::parse_csr(
        std::string_view(reinterpret_cast<const char*>(csr_der.data()), csr_der.size()));
  } catch (const moat::config_error& e) {
    throw ca_failure(errc::bad_csr, std::string("the CSR is not usable: ") + e.what());
  }
  const auto key = pki::describe_public_key(csr.public_key_der);
  const bool ok_key =
      key.supported && (key.type != pki::key_type::rsa || (key.bits >= 2048 && key.bits <= 4096));
  if (!ok_key) {
    throw ca_failure(errc::bad_public_key,
                     "the CSR's key (" + key.name +
                         ") is not accepted: P-256, P-384, Ed25519 or RSA of 2048 to 4096 bits");
  }
  if (std::equal(csr.public_key_der.begin(), csr.public_key_der.end(), account_spki.begin(),
                 account_spki.end())) {
    throw ca_failure(errc::bad_csr, "the CSR's key is the account key");
  }
  std::set<std::pair<std::string, std::string>> want, got;
  for (const auto& i : order_ids) want.insert({i.type, i.value});
  for (const auto& san : csr.subject_alt_names) {
    identifier id;
    if (san.starts_with("DNS:")) {
      id = identifier::dns(san.substr(4));
    } else if (san.starts_with("IP:")) {
      id = identifier::ip(san.substr(3));
    } else {
      throw ca_failure(errc::bad_csr, "the CSR asks for \"" + san + "\", which is not ordered");
    }
    try {
      id = canonical(id);
    } catch (const ca_failure&) {
      throw ca_failure(errc::bad_csr, "the CSR's \"" + san + "\" is not valid");
    }
    if (!want.contains({id.type, id.value})) {
      throw ca_failure(errc::bad_csr, "the CSR asks for " + id.value + ", which is not ordered");
    }
    got.insert({id.type, id.value});
  }
  if (got != want) {
    std::string missing;
    for (const auto& w : want) {
      if (!got.contains(w)) missing += (missing.empty() ? "" : ", ") + w.second;
    }
    throw ca_failure(errc::bad_csr, "the CSR does not ask for " + missing);
  }
  if (!csr.common_name.empty()) {
    const std::string cn = lower(csr.common_name);
    bool found = false;
    for (const auto& w : want) found = found || w.second == cn;
    if (!found) {
      throw ca_failure(errc::bad_csr,
                       "the CSR's common name " + csr.common_name + " is not one of the order's");
    }
  }
  return csr.public_key_der;
}

const cert_rec& issue_leaf(ca::state& st, std::span<const std::uint8_t> spki,
                           const leaf_request& req, std::string account,
                           std::vector<identifier> ids) {
  pki::certificate_builder b;
  b.common_name = req.common_name.size() <= 64 ? req.common_name : std::string();
  b.subject_alt_names = req.sans;
  b.not_before = req.not_before;
  b.not_after = req.not_after;
  b.ext_key_usage = req.client_auth ? pki::ext_key_usage_flags::server_auth |
                                          pki::ext_key_usage_flags::client_auth
                                    : pki::ext_key_usage_flags::server_auth;
  if (!req.crl_url.empty()) {
    b.extensions.push_back({.oid = "2.5.29.31",
                            .der = pki::crl_distribution_point_der(req.crl_url),
                            .critical = false});
  }
  const auto leaf = b.sign(spki, st.keys.intermediate, st.keys.intermediate_key);
  cert_rec c;
  c.serial = leaf.serial_hex();
  c.serial_bytes = leaf.serial_bytes();
  c.account = std::move(account);
  c.identifiers = std::move(ids);
  c.not_before = leaf.not_before();
  c.not_after = leaf.not_after();
  c.ari_id =
      pki::base64url_encode(leaf.authority_key_id()) + "." + pki::base64url_encode(c.serial_bytes);
  c.spki = leaf.public_key_der();
  c.chain_pem = leaf.pem() + st.keys.intermediate.pem();
  st.save(c);
  ++st.counters.issued;
  st.cert_by_ari[c.ari_id] = c.serial;
  auto [it, inserted] = st.certs.insert_or_assign(c.serial, std::move(c));
  (void)inserted;
  return it->second;
}

std::vector<std::uint8_t> make_crl(ca::state& st) {
  pki::crl_builder b;
  const auto t = st.now();
  b.this_update = t;
  b.next_update = t + st.opts.crl_lifetime;
  // cRLNumber grows across restarts too: the time in seconds, or one more than the last.
  const auto secs = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  st.crl_number = std::max(st.crl_number + 1, secs);
  b.number = st.crl_number;
  for (const auto& [serial, c] : st.certs) {
    if (c.revoked && c.not_after > t) b.entries.push_back({c.serial_bytes, c.revoked_at});
  }
  return b.sign(st.keys.intermediate, st.keys.intermediate_key);
}

}  // namespace moat::acme::detail
