// What the certificate manager keeps in its storage and how it checks it: the names it
// certifies, the storage keys, the stored values of a certificate, the temporary certificate.
#include <fmt/core.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <moat/error.hpp>
#include <moat/pki/builder.hpp>
#include <moat/pki/load.hpp>
#include <stdexcept>

#include "acme/manager_impl.hpp"

namespace moat::acme::manager_detail {
namespace {

namespace json = boost::json;

[[noreturn]] void bad_domain(const std::string& d, const std::string& why) {
  throw config_error(fmt::format("domains '{}'", d),
                     std::make_error_code(std::errc::invalid_argument), why);
}

bool valid_label(std::string_view l) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
  return std::all_of(l.begin(), l.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<std::string> canonical_ip(std::string_view s) {
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  return a.to_string();
}

std::string rfc3339(sys_time t) {
  return pki::format_utc(t);
}

}  // namespace

std::vector<identifier> parse_domains(const std::vector<std::string>& domains) {
  if (domains.empty()) {
    throw config_error("domains", std::make_error_code(std::errc::invalid_argument),
                       "at least one name or address to certify is required");
  }
  std::vector<identifier> out;
  for (const auto& d : domains) {
    identifier id;
    if (auto ip = canonical_ip(d)) {
      id = identifier::ip(*ip);
    } else {
      std::string name = lower(d);
      if (name.ends_with('.')) name.pop_back();
      if (name.size() > 253) bad_domain(d, "longer than 253 characters");
      std::string_view rest = name;
      if (rest.starts_with("*.")) rest.remove_prefix(2);
      std::size_t pos = 0;
      while (pos <= rest.size()) {
        const auto dot = rest.find('.', pos);
        const auto label = rest.substr(pos, dot == std::string_view::npos ? rest.npos : dot - pos);
        if (!valid_label(label)) {
          bad_domain(d,
                     "not a DNS name (letters, digits, '-' in labels of 1 to 63 characters, "
                     "an optional leading '*.') nor an IP address");
        }
        if (dot == std::string_view::npos) break;
        pos = dot + 1;
      }
      id = identifier::dns(name);
    }
    if (std::find(out.begin(), out.end(), id) != out.end()) bad_domain(d, "given twice");
    out.push_back(std::move(id));
  }
  return out;
}

std::vector<std::string> san_entries(const std::vector<identifier>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back((id.type == "ip" ? "IP:" : "DNS:") + id.value);
  std::sort(out.begin(), out.end());
  return out;
}

bool names_match(const pki::certificate& leaf, const std::vector<identifier>& ids) {
  std::vector<std::string> have;
  for (const auto& san : leaf.subject_alt_names()) {
    if (san.starts_with("IP:")) {
      const auto ip = canonical_ip(std::string_view(san).substr(3));
      have.push_back("IP:" + ip.value_or(san.substr(3)));
    } else if (san.starts_with("DNS:")) {
      have.push_back("DNS:" + lower(std::string_view(san).substr(4)));
    } else {
      have.push_back(san);
    }
  }
  std::sort(have.begin(), have.end());
  have.erase(std::unique(have.begin(), have.end()), have.end());
  return have == san_entries(ids);
}

bool covers(const std::vector<identifier>& ids, std::string_view host) {
  const std::string h = lower(host);
  for (const auto& id : ids) {
    if (id.type != "dns") continue;
    if (id.value == h) return true;
    if (id.value.starts_with("*.")) {
      const auto dot = h.find('.');
      if (dot != std::string::npos && dot > 0 && h.substr(dot) == id.value.substr(1)) return true;
    }
  }
  return false;
}

std::string issuer_segment(std::string_view url) {
  if (url == "local") return "local";
  if (const auto p = url.find("://"); p != std::string_view::npos) url.remove_prefix(p + 3);
  std::string out;
  for (char c : url) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    out.push_back(keep ? c : '-');
  }
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  while (!out.empty() && (out.front() == '-' || out.front() == '.')) out.erase(out.begin());
  if (out.empty()) out = "ca";
  if (out.size() > 200) out.resize(200);
  return out;
}

std::string name_segment(std::string_view name) {
  std::string out;
  if (name.starts_with("*.")) {
    out = "wildcard_";
    name.remove_prefix(1);
  }
  out += name;
  for (char& c : out) {
    if (c == '/' || c == '\\') c = '_';
  }
  return out;
}

layout make_layout(std::string_view issuer, std::string_view account, std::string_view name) {
  const std::string dir = fmt::format("certificates/{}/{}/{}", issuer, name, name);
  return {fmt::format("accounts/{}/{}/account.key", issuer, account), dir + ".crt", dir + ".key",
          dir + ".json", fmt::format("obtain/{}/{}", issuer, name)};
}

stored_values encode(const bundle& b, const std::vector<identifier>& ids,
                     std::string_view directory_url, sys_time now) {
  stored_values v;
  for (const auto& c : b.chain) v.cert += c.pem();
  v.key = b.key.pem();
  json::array names;
  for (const auto& id : ids) names.push_back(json::object{{"type", id.type}, {"value", id.value}});
  json::object meta{{"identifiers", std::move(names)},
                    {"profile", b.profile.value_or("")},
                    {"directory", directory_url},
                    {"serial", b.leaf().serial_hex()},
                    {"not_after", rfc3339(b.leaf().not_after())},
                    {"stored", rfc3339(now)}};
  v.meta = json::serialize(meta);
  return v;
}

bundle decode(const stored_values& v) {
  bundle b;
  try {
    b.chain = pki::parse_certificates(v.cert, "certificate");
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("the certificate does not parse: {}", e.what()));
  }
  if (b.chain.empty()) throw std::runtime_error("the certificate file holds no certificate");
  try {
    b.key = pki::parse_private_key(v.key, {}, "key");
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("the key does not parse: {}", e.what()));
  }
  if (b.key.public_key_der() != b.leaf().public_key_der()) {
    throw std::runtime_error("the key does not match the certificate");
  }
  if (!v.meta.empty()) {
    boost::system::error_code ec;
    const auto meta = json::parse(v.meta, ec);
    if (!ec && meta.is_object()) {
      if (const auto* p = meta.as_object().if_contains("profile"); p != nullptr && p->is_string()) {
        b.profile = std::string(p->as_string());
      }
    }
  }
  return b;
}

bundle temporary_bundle(const std::vector<identifier>& ids, std::chrono::seconds lifetime) {
  bundle b;
  b.key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  pki::certificate_builder cb;
  if (ids.front().value.size() <= 64) cb.common_name = ids.front().value;
  for (const auto& id : ids)
    cb.subject_alt_names.push_back((id.type == "ip" ? "IP:" : "DNS:") + id.value);
  cb.organisation = "moat temporary certificate (waiting for the CA)";
  cb.validity = lifetime;
  b.chain = {cb.self_sign(b.key)};
  return b;
}

}  // namespace moat::acme::manager_detail
