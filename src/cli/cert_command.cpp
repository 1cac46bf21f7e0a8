// `moat cert self-signed | show | check` (and `ca | issue`, see cert_ca_command.cpp): certificate
// one-liners on moat's pki part.
#include <fmt/core.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <moat/error.hpp>
#include <moat/pki/pki.hpp>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/commands.hpp"

namespace moat::cli {
namespace {

namespace pki = moat::pki;

struct self_signed_options {
  std::string cn;
  std::vector<std::string> sans;
  std::string key_type = "p256";
  int days = 365;
  std::string out_cert;
  std::string out_key;
};

struct check_options {
  std::string cert;
  std::string key;
  std::string cacert;
  std::string password_file;
};

void run_self_signed(const self_signed_options& o) {
  if (o.days <= 0) {
    throw config_error("--days", pki::errc::invalid_argument, "must be a positive number of days");
  }
  const pki::private_key key = generate_key(o.key_type);
  pki::certificate_builder b;
  // Like `openssl req -x509`: a self-signed certificate that is also its own CA, so that
  // peers which insist their trust anchors be CAs (Erlang's ssl) accept it as --cacert.
  b.is_ca = true;
  b.key_usage = pki::key_usage_flags::digital_signature | pki::key_usage_flags::key_cert_sign;
  b.ext_key_usage = pki::ext_key_usage_flags::server_auth | pki::ext_key_usage_flags::client_auth;
  b.common_name = o.cn;
  b.subject_alt_names = o.sans.empty() ? std::vector<std::string>{"DNS:" + o.cn} : o.sans;
  b.validity = std::chrono::days{o.days};
  const pki::certificate cert = b.self_sign(key);
  // Key first: a certificate without its key is useless, a key without a certificate is not.
  key.write_file(o.out_key);
  pki::write_pem_file(o.out_cert, cert.pem(), /*secret=*/false, "--out-cert");
  fmt::print("wrote {} and {} (key mode 0600)\n", o.out_cert, o.out_key);
  fmt::print("subject:  {}\n", cert.subject());
  fmt::print("expires:  {}\n", pki::format_utc(cert.not_after()));
  fmt::print("SHA-256 fingerprint: {}\n", cert.sha256_fingerprint());
}

void run_show(const std::string& file) {
  const auto certs = pki::load_certificates(file, "file");
  for (std::size_t i = 0; i < certs.size(); ++i) {
    if (i != 0) fmt::print("\n");
    fmt::print("Certificate {} of {}:\n{}", i + 1, certs.size(), certs[i].summary());
  }
}

void run_check(const check_options& o) {
  pki::key_password password;
  if (!o.password_file.empty()) {
    const std::string file = o.password_file;
    password = pki::key_password(
        std::function<std::string()>([file] { return read_password_file(file); }));
  }
  const pki::credentials creds = pki::load_credentials(o.cert, o.key, password);
  if (!o.cacert.empty()) {
    const auto cas = pki::load_ca_certificates(o.cacert);
    const pki::certificate& last = creds.chain.back();
    bool trusted = false;
    for (const auto& ca : cas) {
      if (last == ca || last.is_issued_by(ca)) {
        trusted = true;
        break;
      }
    }
    if (!trusted) {
      throw config_error(
          "cacertfile '" + o.cacert + "'", pki::errc::not_issued_by_ca,
          "the last certificate of certfile '" + o.cert + "' is issued by '" + last.issuer() + "'");
    }
  }
  const pki::certificate& leaf = creds.chain.front();
  fmt::print("OK: {}, expires {}\n", leaf.subject(), pki::format_utc(leaf.not_after()));
}

}  // namespace

void register_cert_commands(CLI::App& app) {
  CLI::App* cert =
      app.add_subcommand("cert", "Make, show and check certificates; obtain them with ACME");
  cert->require_subcommand(1);

  auto ss = std::make_shared<self_signed_options>();
  CLI::App* self_signed =
      cert->add_subcommand("self-signed", "Make a key and a self-signed certificate");
  self_signed->add_option("--cn", ss->cn, "Common name (also the default DNS name)")->required();
  self_signed->add_option("--san", ss->sans, "Alternative names: DNS:name,IP:addr,...")
      ->delimiter(',');
  self_signed->add_option("--key-type", ss->key_type, "Key type")
      ->check(CLI::IsMember(key_type_names()))
      ->capture_default_str();
  self_signed->add_option("--days", ss->days, "Validity in days")->capture_default_str();
  self_signed->add_option("--out-cert", ss->out_cert, "Certificate file to write (PEM)")
      ->required();
  self_signed->add_option("--out-key", ss->out_key, "Key file to write (PEM, mode 0600)")
      ->required();
  self_signed->callback([ss] { run_self_signed(*ss); });

  auto show_file = std::make_shared<std::string>();
  CLI::App* show = cert->add_subcommand("show", "Describe every certificate in a file");
  show->add_option("FILE", *show_file, "PEM or DER certificate file")->required();
  show->callback([show_file] { run_show(*show_file); });

  auto ck = std::make_shared<check_options>();
  CLI::App* check =
      cert->add_subcommand("check", "Check a certificate chain and key as a server would");
  check->add_option("--cert", ck->cert, "Certificate chain file (leaf first)")->required();
  check->add_option("--key", ck->key, "Private key file")->required();
  check->add_option("--cacert", ck->cacert, "CA certificates the chain must lead to");
  check->add_option("--password-file", ck->password_file,
                    "File whose first line is the key's password");
  check->callback([ck] { run_check(*ck); });

  register_cert_ca_commands(*cert);
  register_acme_cert_commands(*cert);
}

}  // namespace moat::cli
