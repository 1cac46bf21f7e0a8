// `moat ca serve | root | issue`: the in-process ACME CA (include/moat/acme/ca.hpp) as a
// standalone HTTPS server, and its root and direct issuance from the command line.
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <moat/acme/ca.hpp>
#include <moat/error.hpp>
#include <moat/http/server.hpp>
#include <moat/pki/pki.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.hpp"
#include "cli/commands.hpp"

namespace moat::cli {
namespace {

namespace net = boost::asio;
namespace fs = std::filesystem;

struct serve_options {
  std::string listen = "127.0.0.1:14000";
  std::string data_dir;
  std::uint16_t http01_port = 80;
  std::uint16_t tls_alpn01_port = 443;
};

struct issue_options {
  std::string data_dir;
  std::string cn;
  std::vector<std::string> sans;
  bool client_auth = false;
  int days = 90;
  std::string out_cert;
  std::string out_key;
};

/// $XDG_DATA_HOME/moat/ca, else ~/.local/share/moat/ca.
fs::path data_dir_of(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x != nullptr && *x != '\0') {
    return fs::path(x) / "moat" / "ca";
  }
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    return fs::path(h) / ".local" / "share" / "moat" / "ca";
  }
  throw moat::config_error("--data-dir", pki::errc::invalid_argument,
                           "neither XDG_DATA_HOME nor HOME is set: give --data-dir");
}

/// "ADDR:PORT" ("[::1]:14000" for IPv6).
net::ip::tcp::endpoint parse_listen(const std::string& s) {
  const auto hp = split_host_port(s, "--listen", true);
  boost::system::error_code ec;
  const auto a = net::ip::make_address(hp.host, ec);
  if (ec) {
    throw moat::config_error("--listen '" + s + "'", pki::errc::invalid_argument,
                             "an IP address and a port, e.g. 127.0.0.1:14000 or [::1]:14000");
  }
  return {a, hp.port};
}

/// The SAN of a host argument: "IP:..." for an address, else "DNS:...".
std::string san_of(const std::string& v) {
  if (v.starts_with("DNS:") || v.starts_with("IP:")) return v;
  boost::system::error_code ec;
  (void)net::ip::make_address(v, ec);
  return (ec ? "DNS:" : "IP:") + v;
}

int run_serve(const serve_options& o) {
  const auto ep = parse_listen(o.listen);
  net::io_context io;
  acme::ca_options co;
  co.data_dir = data_dir_of(o.data_dir);
  co.http01_port = o.http01_port;
  co.tls_alpn01_port = o.tls_alpn01_port;
  acme::ca ca(io.get_executor(), co);
  acme::ca_server server(ca, {.address = ep, .name = "moat-ca", .workers = 0});
  fmt::print("directory: {}\nroot: {}\n", ca.directory_url(), ca.root_certificate_path().string());
  std::fflush(stdout);
  // Validations run on `io` (one thread); the server has its own.
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("{}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    io.stop();
  });
  io.run();
  server.stop();
  return 0;
}

void run_root(const std::string& dir) {
  net::io_context io;
  acme::ca ca(io.get_executor(), {.data_dir = data_dir_of(dir)});
  fmt::print("{}", ca.root_certificate().pem());
}

void run_issue(const issue_options& o) {
  if (o.days <= 0)
    throw moat::config_error("--days", pki::errc::invalid_argument, "must be positive");
  net::io_context io;
  acme::ca ca(io.get_executor(), {.data_dir = data_dir_of(o.data_dir)});
  acme::ca_issue_request req;
  req.common_name = o.cn;
  for (const auto& s : o.sans) req.subject_alt_names.push_back(san_of(s));
  if (req.subject_alt_names.empty()) req.subject_alt_names.push_back(san_of(o.cn));
  req.lifetime = std::chrono::days(o.days);
  req.client_auth = o.client_auth;
  const auto issued = ca.issue(req);
  std::string chain;
  for (const auto& c : issued.chain) chain += c.pem();
  issued.key.write_file(o.out_key);
  {
    std::FILE* f = std::fopen(o.out_cert.c_str(), "wb");
    if (f == nullptr || std::fwrite(chain.data(), 1, chain.size(), f) != chain.size()) {
      if (f != nullptr) std::fclose(f);
      throw runtime_failure("cannot write --out-cert '" + o.out_cert + "'");
    }
    std::fclose(f);
  }
  fmt::print("issued {} (serial {}, until {}) by {}\n", issued.chain[0].subject(),
             issued.chain[0].serial_hex(), pki::format_utc(issued.chain[0].not_after()),
             ca.root_certificate_path().string());
}

}  // namespace

void register_ca_commands(CLI::App& app) {
  CLI::App* ca = app.add_subcommand(
      "ca", "An ACME certificate authority (RFC 8555) for private networks and tests");
  ca->require_subcommand(1);
  const std::string dd_help =
      "The CA's directory (root, intermediate, accounts, certificates); default "
      "$XDG_DATA_HOME/moat/ca or ~/.local/share/moat/ca";

  auto so = std::make_shared<serve_options>();
  CLI::App* serve = ca->add_subcommand("serve", "Serve the CA over HTTPS until SIGINT/SIGTERM");
  serve->add_option("--listen", so->listen, "Address and port (ADDR:PORT)")->capture_default_str();
  serve->add_option("--data-dir", so->data_dir, dd_help);
  serve->add_option("--http01-port", so->http01_port, "Port HTTP-01 validation connects to")
      ->capture_default_str();
  serve
      ->add_option("--tls-alpn01-port", so->tls_alpn01_port,
                   "Port TLS-ALPN-01 validation connects to")
      ->capture_default_str();
  serve->callback([so] {
    const int rc = run_serve(*so);
    if (rc != 0) throw exit_code{rc};
  });

  auto root_dir = std::make_shared<std::string>();
  CLI::App* root = ca->add_subcommand("root", "Print the CA's root certificate (PEM)");
  root->add_option("--data-dir", *root_dir, dd_help);
  root->callback([root_dir] { run_root(*root_dir); });

  auto io = std::make_shared<issue_options>();
  CLI::App* issue = ca->add_subcommand("issue", "Issue a certificate directly, without ACME");
  issue->add_option("--cn", io->cn, "Subject common name")->required();
  issue->add_option("--san", io->sans,
                    "A DNS name or IP address (repeat for more; default: the CN)");
  issue->add_flag("--client-auth", io->client_auth, "Also usable for TLS client authentication");
  issue->add_option("--days", io->days, "Lifetime in days")->capture_default_str();
  issue->add_option("--out-cert", io->out_cert, "Chain file to write (PEM, leaf first)")
      ->required();
  issue->add_option("--out-key", io->out_key, "Key file to write (PEM, mode 0600)")->required();
  issue->add_option("--data-dir", io->data_dir, dd_help);
  issue->callback([io] { run_issue(*io); });
}

}  // namespace moat::cli
