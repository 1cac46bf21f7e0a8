// `moat cert ca | issue`: a private certificate authority kept in two files, and the leaf
// certificates it signs -- e.g. for distribution nodes, which are TLS server and client at once.
#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <memory>
#include <moat/error.hpp>
#include <moat/pki/pki.hpp>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/commands.hpp"

namespace moat::cli {
namespace {

namespace fs = std::filesystem;

struct ca_options {
  std::string cn;
  std::string key_type = "p256";
  int days = 3650;
  std::string out_cert;
  std::string out_key;
  bool force = false;
};

struct issue_options {
  std::string ca_cert;
  std::string ca_key;
  std::string cn;
  std::vector<std::string> sans;
  bool client_auth = false;
  std::string key_type = "p256";
  int days = 365;
  std::string out_cert;
  std::string out_key;
};

std::string quoted(const std::string& option, const std::string& value) {
  return option + " '" + value + "'";
}

void check_days(int days) {
  if (days <= 0) {
    throw config_error("--days", pki::errc::invalid_argument, "must be a positive number of days");
  }
}

bool is_ip_address(const std::string& v) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(v, ec);
  return !ec;
}

/// A host name as certificates carry it: labels of letters, digits, '-' and '_' separated by
/// dots, optionally starting with the wildcard label "*".
bool is_dns_name(const std::string& v) {
  if (v.empty() || v.size() > 253 || v.front() == '.' || v.back() == '.') return false;
  std::size_t start = 0;
  while (start <= v.size()) {
    const std::size_t end = std::min(v.find('.', start), v.size());
    const std::string label = v.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    const bool wildcard = start == 0 && label == "*" && end != v.size();
    if (!wildcard && !std::all_of(label.begin(), label.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
        })) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

/// "DNS:name", "IP:addr", or a bare name or address (an address becomes "IP:").
std::string san_entry(const std::string& given, const std::string& option) {
  if (given.starts_with("IP:")) {
    if (!is_ip_address(given.substr(3))) {
      throw config_error(quoted(option, given), pki::errc::invalid_san, "not an IP address");
    }
    return given;
  }
  if (given.starts_with("DNS:")) {
    if (!is_dns_name(given.substr(4))) {
      throw config_error(quoted(option, given), pki::errc::invalid_san, "not a DNS name");
    }
    return given;
  }
  if (is_ip_address(given)) return "IP:" + given;
  if (is_dns_name(given)) return "DNS:" + given;
  throw config_error(quoted(option, given), pki::errc::invalid_san,
                     "give DNS:name or IP:address (a bare host name or address also works)");
}

/// True if `a` and `b` name the same existing file, or the same path.
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec) && !ec;
}

void refuse_existing(const std::string& option, const std::string& path) {
  std::error_code ec;
  if (fs::exists(path, ec)) {
    throw config_error(quoted(option, path), std::make_error_code(std::errc::file_exists),
                       "give --force to replace it");
  }
}

void run_ca(const ca_options& o) {
  check_days(o.days);
  if (same_file(o.out_cert, o.out_key)) {
    throw config_error(quoted("--out-key", o.out_key), pki::errc::invalid_argument,
                       "is the same file as --out-cert");
  }
  if (!o.force) {
    refuse_existing("--out-key", o.out_key);
    refuse_existing("--out-cert", o.out_cert);
  }
  const pki::private_key key = generate_key(o.key_type);
  pki::certificate_builder b;
  b.common_name = o.cn;
  b.is_ca = true;
  b.key_usage = pki::key_usage_flags::key_cert_sign | pki::key_usage_flags::crl_sign;
  b.ext_key_usage = pki::ext_key_usage_flags::none;
  b.validity = std::chrono::days{o.days};
  const pki::certificate cert = b.self_sign(key);
  key.write_file(o.out_key);
  pki::write_pem_file(o.out_cert, cert.pem(), /*secret=*/false, "--out-cert");
  fmt::print("wrote CA certificate {} and its key {} (mode 0600)\n", o.out_cert, o.out_key);
  fmt::print("subject:  {}\n", cert.subject());
  fmt::print("expires:  {}\n", pki::format_utc(cert.not_after()));
  fmt::print("SHA-256 fingerprint: {}\n", cert.sha256_fingerprint());
}

void run_issue(const issue_options& o) {
  check_days(o.days);
  for (const auto& [option, path] :
       {std::pair{"--out-cert", o.out_cert}, {"--out-key", o.out_key}}) {
    if (same_file(path, o.ca_cert) || same_file(path, o.ca_key)) {
      throw config_error(quoted(option, path), pki::errc::invalid_argument,
                         "is the CA's own certificate or key file");
    }
  }
  if (same_file(o.out_cert, o.out_key)) {
    throw config_error(quoted("--out-key", o.out_key), pki::errc::invalid_argument,
                       "is the same file as --out-cert");
  }
  std::vector<std::string> sans;
  for (const auto& s : o.sans) sans.push_back(san_entry(s, "--san"));
  if (sans.empty()) {
    if (!is_ip_address(o.cn) && !is_dns_name(o.cn)) {
      throw config_error(quoted("--cn", o.cn), pki::errc::invalid_san,
                         "is neither a host name nor an address, so it cannot be the default "
                         "subject alternative name: give --san");
    }
    sans.push_back(san_entry(o.cn, "--cn"));
  }

  const std::vector<pki::certificate> ca_chain = pki::load_certificates(o.ca_cert, "--ca-cert");
  const pki::certificate& ca = ca_chain.front();
  if (!ca.is_ca()) {
    throw config_error(quoted("--ca-cert", o.ca_cert), pki::errc::invalid_argument,
                       "'" + ca.subject() +
                           "' is not a CA certificate (basicConstraints cA is "
                           "not set); make one with `moat cert ca`");
  }
  const auto now = std::chrono::system_clock::now();
  if (!ca.is_valid_at(now)) {
    throw config_error(
        quoted("--ca-cert", o.ca_cert),
        now < ca.not_before() ? pki::errc::cert_not_yet_valid : pki::errc::cert_expired,
        "valid from " + pki::format_utc(ca.not_before()) + " to " +
            pki::format_utc(ca.not_after()));
  }
  const pki::private_key ca_key = pki::load_private_key(o.ca_key, {}, "--ca-key");
  pki::check_key_matches(ca, ca_key, quoted("--ca-key", o.ca_key));

  const pki::private_key key = generate_key(o.key_type);
  pki::certificate_builder b;
  b.common_name = o.cn;
  b.subject_alt_names = sans;
  b.ext_key_usage =
      o.client_auth ? pki::ext_key_usage_flags::server_auth | pki::ext_key_usage_flags::client_auth
                    : pki::ext_key_usage_flags::server_auth;
  b.not_before = now - std::chrono::minutes(5);
  auto not_after = now + std::chrono::days{o.days};
  const bool clamped = not_after > ca.not_after();
  if (clamped) not_after = ca.not_after();
  b.not_after = not_after;
  const pki::certificate leaf = b.sign(key, ca, ca_key);

  std::string chain = leaf.pem();
  for (const auto& c : ca_chain) chain += c.pem();
  key.write_file(o.out_key);
  pki::write_pem_file(o.out_cert, chain, /*secret=*/false, "--out-cert");
  fmt::print("wrote {} (leaf, then the CA) and its key {} (mode 0600)\n", o.out_cert, o.out_key);
  fmt::print("subject:  {}\n", leaf.subject());
  fmt::print("names:    {}\n", fmt::join(sans, ", "));
  fmt::print("usage:    {}\n", o.client_auth ? "TLS server and client" : "TLS server");
  fmt::print("expires:  {}{}\n", pki::format_utc(leaf.not_after()),
             clamped ? " (the CA's own expiry)" : "");
  fmt::print("issuer:   {}\n", ca.subject());
}

}  // namespace

void register_cert_ca_commands(CLI::App& cert) {
  auto co = std::make_shared<ca_options>();
  CLI::App* ca = cert.add_subcommand(
      "ca", "Make a private CA: a key and a self-signed CA certificate that signs with `issue`");
  ca->add_option("--cn", co->cn, "The CA's common name, e.g. \"my cluster CA\"")->required();
  ca->add_option("--out-cert", co->out_cert, "CA certificate file to write (PEM)")->required();
  ca->add_option("--out-key", co->out_key, "CA key file to write (PEM, mode 0600)")->required();
  ca->add_option("--days", co->days, "Validity in days")->capture_default_str();
  ca->add_option("--key-type", co->key_type, "Key type")
      ->check(CLI::IsMember(key_type_names()))
      ->capture_default_str();
  ca->add_flag("--force", co->force,
               "Replace existing files (without it, an existing --out-cert or --out-key is an "
               "error: a lost CA key cannot be recovered)");
  ca->callback([co] { run_ca(*co); });

  auto io = std::make_shared<issue_options>();
  CLI::App* issue = cert.add_subcommand(
      "issue", "Make a key and a certificate signed by a CA made with `moat cert ca`");
  issue->add_option("--ca-cert", io->ca_cert, "The CA's certificate (PEM)")->required();
  issue->add_option("--ca-key", io->ca_key, "The CA's key (PEM or DER)")->required();
  issue->add_option("--cn", io->cn, "Subject common name (also the default name, see --san)")
      ->required();
  issue
      ->add_option("--san", io->sans,
                   "Names: DNS:name,IP:addr,... (a bare name or address works too; repeatable; "
                   "default: the CN, as an IP address if it is one)")
      ->delimiter(',');
  issue->add_flag("--client-auth", io->client_auth,
                  "Also for TLS client authentication; distribution nodes need it (each node "
                  "is server and client)");
  issue->add_option("--days", io->days, "Validity in days (at most the CA's)")
      ->capture_default_str();
  issue->add_option("--key-type", io->key_type, "Key type")
      ->check(CLI::IsMember(key_type_names()))
      ->capture_default_str();
  issue
      ->add_option("--out-cert", io->out_cert,
                   "Chain file to write (PEM: the certificate, then the CA's); replaced if it "
                   "exists")
      ->required();
  issue->add_option("--out-key", io->out_key, "Key file to write (PEM, mode 0600)")->required();
  issue->callback([io] { run_issue(*io); });
}

}  // namespace moat::cli
