// `moat cert obtain | revoke | renewal-info`: an ACME client in one process -- certbot's
// `certonly --standalone`, serving the challenge itself.
#include <fmt/core.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <moat/acme/client.hpp>
#include <moat/error.hpp>
#include <moat/pki/pki.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace moat::cli {
namespace {

namespace net = boost::asio;
namespace pki = moat::pki;

struct ca_options {
  std::string directory;
  std::string cacert;
  std::string account_key;
  std::string email;
  std::string eab_kid;
  std::string eab_hmac_file;
};

struct obtain_options {
  ca_options ca;
  std::vector<std::string> domains;
  std::vector<std::string> ips;
  std::string challenge = "http-01";
  std::uint16_t http_port = 80;
  std::uint16_t tls_alpn_port = 443;
  std::string bind = "0.0.0.0";
  std::string profile;
  std::string key_type = "p256";
  std::string preferred_chain;
  int timeout_s = 300;
  std::string out_cert;
  std::string out_key;
};

struct revoke_options {
  ca_options ca;
  std::string cert;
  std::string key;
  std::string reason = "unspecified";
};

struct renewal_info_options {
  ca_options ca;
  std::string cert;
};

/// Runs `fn` (a coroutine) to completion on a fresh io_context and returns its value.
template <class T>
T run_coroutine(std::function<net::awaitable<T>(net::io_context&)> fn) {
  net::io_context io;
  std::optional<T> out;
  std::exception_ptr failure;
  net::co_spawn(io, fn(io), [&](std::exception_ptr e, T v) {
    failure = e;
    if (!e) out = std::move(v);
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*out);
}

std::string read_trimmed(const std::string& path, const std::string& option) {
  std::ifstream in(path);
  if (!in) throw config_error(option + " '" + path + "'", pki::errc::file_unreadable);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.empty()) throw config_error(option + " '" + path + "'", pki::errc::file_empty);
  return text;
}

/// The client's options: the CA's trust, the account key (loaded, or made and kept when the
/// file does not exist yet), contact, EAB.
acme::client_options client_options_of(const ca_options& o, bool create_account_key) {
  acme::client_options c;
  c.directory_url = o.directory;
  if (!o.cacert.empty()) c.http.tls.cacertfile = o.cacert;
  if (!o.email.empty()) c.contact = {"mailto:" + o.email};
  if (!o.account_key.empty()) {
    if (std::filesystem::exists(o.account_key) || !create_account_key) {
      c.account_key = pki::load_private_key(o.account_key, {}, "--account-key");
    } else {
      c.account_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
      c.account_key.write_file(o.account_key);
      fmt::print("made a new account key in {} (mode 0600)\n", o.account_key);
    }
  }
  if (!o.eab_kid.empty() || !o.eab_hmac_file.empty()) {
    if (o.eab_kid.empty() || o.eab_hmac_file.empty()) {
      throw config_error("--eab-kid/--eab-hmac-file", pki::errc::invalid_argument,
                         "an external account binding needs both");
    }
    const auto mac = pki::base64url_decode(read_trimmed(o.eab_hmac_file, "--eab-hmac-file"));
    if (!mac || mac->empty()) {
      throw config_error("--eab-hmac-file '" + o.eab_hmac_file + "'", pki::errc::malformed,
                         "the HMAC key must be base64url (as the CA hands it out)");
    }
    c.external_account = acme::external_account_binding{o.eab_kid, *mac};
  }
  return c;
}

pki::key_type key_type_of(const std::string& name, unsigned& rsa_bits) {
  if (name == "p256") return pki::key_type::ecdsa_p256;
  if (name == "p384") return pki::key_type::ecdsa_p384;
  if (name == "ed25519") return pki::key_type::ed25519;
  rsa_bits = 2048;
  return pki::key_type::rsa;
}

[[noreturn]] void fail(const acme::error& e) {
  throw runtime_failure(e.message());
}

void run_obtain(const obtain_options& o) {
  if (o.domains.empty() && o.ips.empty()) {
    throw config_error("--domain/--ip", pki::errc::invalid_argument,
                       "name at least one domain or IP address to certify");
  }
  const auto started = std::chrono::steady_clock::now();
  acme::order_request req;
  for (const auto& d : o.domains) req.identifiers.push_back(acme::identifier::dns(d));
  for (const auto& a : o.ips) req.identifiers.push_back(acme::identifier::ip(a));
  req.key_type = key_type_of(o.key_type, req.rsa_bits);
  req.profile = o.profile;
  req.preferred_chain = o.preferred_chain;
  req.deadline = std::chrono::seconds(o.timeout_s);
  auto copts = client_options_of(o.ca, true);

  boost::system::error_code ec;
  const auto bind = net::ip::make_address(o.bind, ec);
  if (ec)
    throw config_error("--bind '" + o.bind + "'", pki::errc::invalid_argument, "not an IP address");
  // The challenge server runs on its own threads from here until the certificate is in.
  std::unique_ptr<acme::solver> solver;
  if (o.challenge == "http-01") {
    solver = std::make_unique<acme::http01_server>(
        std::vector<net::ip::tcp::endpoint>{{bind, o.http_port}});
  } else {
    solver = std::make_unique<acme::tls_alpn01_server>(
        std::vector<net::ip::tcp::endpoint>{{bind, o.tls_alpn_port}});
  }
  req.solvers = {solver.get()};

  auto issued = run_coroutine<acme::result<acme::issued_certificate>>(
      [&](net::io_context& io) -> net::awaitable<acme::result<acme::issued_certificate>> {
        acme::client c(io.get_executor(), std::move(copts));
        co_return co_await c.obtain(std::move(req));
      });
  solver.reset();
  if (!issued) fail(issued.error());
  // Key first: a certificate without its key is useless, a key without a certificate is not.
  issued->key.write_file(o.out_key);
  pki::write_pem_file(o.out_cert, issued->chain_pem, /*secret=*/false, "--out-cert");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  fmt::print("wrote {} ({} certificate(s)) and {} (mode 0600)\n", o.out_cert, issued->chain.size(),
             o.out_key);
  fmt::print("{}", issued->chain.front().summary());
  fmt::print("obtained in {} ms\n", ms);
}

acme::revocation_reason reason_of(const std::string& name) {
  if (name == "unspecified") return acme::revocation_reason::unspecified;
  if (name == "keyCompromise") return acme::revocation_reason::key_compromise;
  if (name == "affiliationChanged") return acme::revocation_reason::affiliation_changed;
  if (name == "superseded") return acme::revocation_reason::superseded;
  return acme::revocation_reason::cessation_of_operation;
}

void run_revoke(const revoke_options& o) {
  const auto chain = pki::load_certificates(o.cert, "--cert");
  std::optional<pki::private_key> cert_key;
  if (!o.key.empty()) {
    cert_key = pki::load_private_key(o.key, {}, "--key");
    pki::check_key_matches(chain.front(), *cert_key, "--key '" + o.key + "'");
  } else if (o.ca.account_key.empty()) {
    throw config_error("--key/--account-key", pki::errc::invalid_argument,
                       "revoking needs the certificate's key or the account key that ordered it");
  }
  auto copts = client_options_of(o.ca, false);
  const auto reason = reason_of(o.reason);
  auto r = run_coroutine<acme::result<void>>(
      [&](net::io_context& io) -> net::awaitable<acme::result<void>> {
        acme::client c(io.get_executor(), std::move(copts));
        if (cert_key) co_return co_await c.revoke_with_key(chain.front(), *cert_key, reason);
        co_return co_await c.revoke(chain.front(), reason);
      });
  if (!r) fail(r.error());
  fmt::print("revoked {} (serial {}, reason {})\n", chain.front().subject(),
             chain.front().serial_hex(), o.reason);
}

void run_renewal_info(const renewal_info_options& o) {
  const auto chain = pki::load_certificates(o.cert, "--cert");
  auto copts = client_options_of(o.ca, false);
  auto r = run_coroutine<acme::result<acme::renewal_info>>(
      [&](net::io_context& io) -> net::awaitable<acme::result<acme::renewal_info>> {
        acme::client c(io.get_executor(), std::move(copts));
        co_return co_await c.get_renewal_info(chain.front());
      });
  if (!r) fail(r.error());
  fmt::print("certificate ID: {}\n", acme::renewal_certificate_id(chain.front()));
  fmt::print("renew between:  {} and {}\n", pki::format_utc(r->window_start),
             pki::format_utc(r->window_end));
  fmt::print("ask again in:   {} s\n", r->retry_after.count());
  if (!r->explanation_url.empty()) fmt::print("explanation:    {}\n", r->explanation_url);
}

void add_ca_options(CLI::App* cmd, ca_options& o, bool account_key_creates) {
  cmd->add_option("--acme", o.directory, "The ACME directory URL")->required();
  cmd->add_option("--acme-cacert", o.cacert,
                  "CA certificates to trust for the ACME server (default: the system's)");
  cmd->add_option("--account-key", o.account_key,
                  account_key_creates
                      ? "Account key file (made, mode 0600, if it does not exist; default: a "
                        "fresh key)"
                      : "Account key file");
  cmd->add_option("--email", o.email, "Contact address for the account");
  cmd->add_option("--eab-kid", o.eab_kid, "External account binding: key id");
  cmd->add_option("--eab-hmac-file", o.eab_hmac_file,
                  "External account binding: file holding the base64url HMAC key");
}

}  // namespace

void register_acme_cert_commands(CLI::App& cert) {
  auto ob = std::make_shared<obtain_options>();
  CLI::App* obtain = cert.add_subcommand(
      "obtain", "Obtain a certificate from an ACME CA, serving the challenge in-process");
  add_ca_options(obtain, ob->ca, true);
  obtain->add_option("--domain", ob->domains, "A DNS name to certify (repeat for more)");
  obtain->add_option("--ip", ob->ips, "An IP address to certify (RFC 8738; repeat for more)");
  obtain->add_option("--challenge", ob->challenge, "Challenge to answer")
      ->check(CLI::IsMember({"http-01", "tls-alpn-01"}))
      ->capture_default_str();
  obtain->add_option("--http-port", ob->http_port, "Port of the HTTP-01 server")
      ->capture_default_str();
  obtain->add_option("--tls-alpn-port", ob->tls_alpn_port, "Port of the TLS-ALPN-01 server")
      ->capture_default_str();
  obtain->add_option("--bind", ob->bind, "Address the challenge server listens on")
      ->capture_default_str();
  obtain->add_option("--profile", ob->profile, "Certificate profile offered by the CA");
  obtain->add_option("--key-type", ob->key_type, "Certificate key type")
      ->check(CLI::IsMember({"p256", "p384", "ed25519", "rsa2048"}))
      ->capture_default_str();
  obtain->add_option("--preferred-chain", ob->preferred_chain,
                     "Prefer the chain whose top certificate is issued by this common name");
  obtain->add_option("--timeout", ob->timeout_s, "Give up after this many seconds")
      ->capture_default_str();
  obtain->add_option("--out-cert", ob->out_cert, "Chain file to write (PEM, leaf first)")
      ->required();
  obtain->add_option("--out-key", ob->out_key, "Key file to write (PEM, mode 0600)")->required();
  obtain->callback([ob] { run_obtain(*ob); });

  auto rv = std::make_shared<revoke_options>();
  CLI::App* revoke = cert.add_subcommand("revoke", "Revoke a certificate at its ACME CA");
  add_ca_options(revoke, rv->ca, false);
  revoke->add_option("--cert", rv->cert, "The certificate (chain file, leaf first)")->required();
  revoke->add_option("--key", rv->key, "Revoke with the certificate's own key");
  revoke->add_option("--reason", rv->reason, "Revocation reason")
      ->check(CLI::IsMember({"unspecified", "keyCompromise", "affiliationChanged", "superseded",
                             "cessationOfOperation"}))
      ->capture_default_str();
  revoke->callback([rv] { run_revoke(*rv); });

  auto ri = std::make_shared<renewal_info_options>();
  CLI::App* info = cert.add_subcommand(
      "renewal-info", "Ask the CA when to renew a certificate (ACME Renewal Information)");
  add_ca_options(info, ri->ca, false);
  info->add_option("--cert", ri->cert, "The certificate (chain file, leaf first)")->required();
  info->callback([ri] { run_renewal_info(*ri); });
}

}  // namespace moat::cli
