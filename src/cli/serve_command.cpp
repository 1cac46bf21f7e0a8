// `moat serve`: the recipe's TLS echo server, supervised, on every core. Runs with no
// arguments: listens on port 7000 (IPv4 and IPv6) with {packet,4}, and without --cert makes
// (once) and reuses a local CA and a certificate from it in the data directory.
#include <fmt/chrono.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <moat/acme/solver.hpp>
#include <moat/admin/admin.hpp>
#include <moat/error.hpp>
#include <moat/http/router.hpp>
#include <moat/http/server.hpp>
#include <moat/server/server.hpp>
#include <thread>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/serve_acme.hpp"
#include "cli/settings.hpp"

namespace moat::cli {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct serve_config {
  std::vector<std::string> listen;
  std::string packet = "4";
  std::string cert;
  std::string key;
  std::string password_file;
  std::string cacert;
  bool verify_peer = false;
  bool fail_if_no_peer_cert = false;
  unsigned workers = 0;
  std::size_t max_connections = 16384;
  double handshake_timeout = 5;
  double idle_timeout = 0;
  double shutdown_grace = 10;
  std::string data_dir;
  std::string log_format = "text";
  std::string config;
  // Certificates through ACME (--acme): the manager certifies --domain names.
  std::vector<std::string> domain;
  std::string acme;
  std::vector<std::string> email;
  std::string profile;
  std::string acme_cacert;
  std::string http_listen;
  // The admin endpoint (--admin): /metrics, /status.json and the status page.
  std::string admin;
  std::string admin_token_file;
  bool admin_allow_remote = false;
};

[[noreturn]] void bad(const std::string& subject, const std::string& why) {
  throw config_error(subject, std::make_error_code(std::errc::invalid_argument), why);
}

// ---- Logging -------------------------------------------------------------------------------

// %* : the message, escaped for a JSON string.
class json_message_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char ch : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (ch) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(ch) < 0x20) {
            fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<unsigned>(ch));
          } else {
            dest.push_back(ch);
          }
      }
    }
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

void setup_logging(const std::string& format) {
  auto logger = spdlog::stderr_logger_mt("moat");
  if (format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<json_message_flag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
    logger->set_formatter(std::move(f));
  } else if (format == "text") {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  } else {
    bad("log_format", fmt::format("'{}' is not text or json", format));
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// ---- Addresses -----------------------------------------------------------------------------

// `subject`: the flag or the config-file key the address came from.
asio::ip::tcp::endpoint parse_listen(const std::string& s, const std::string& subject) {
  const auto hp = split_host_port(s, subject, true);
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(hp.host.empty() ? "0.0.0.0" : hp.host, ec);
  if (ec) {
    bad(fmt::format("{} '{}'", subject, s), "the address must be a numeric IPv4 or IPv6 address");
  }
  return {addr, hp.port};
}

// The settings table checked the range; this only changes the unit.
std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

// ---- The settings: one table makes the flags and the config-file keys -----------------------

constexpr double kMaxSeconds = 86400.0 * 365;  // a year

void describe_settings(settings& t, serve_config& c) {
  t.text_list(
      "listen", "ADDR:PORT to listen on (default: 0.0.0.0:7000 and [::]:7000)", c.listen,
      [](const std::string& v, const std::string& subject) { (void)parse_listen(v, subject); });
  t.text("packet", "framing", c.packet, {"raw", "0", "1", "2", "4", "line"});
  t.text("cert", "certificate chain (PEM); default: one from a local CA in --data-dir", c.cert);
  t.text("key", "private key (PEM)", c.key);
  t.text("password_file", "password of an encrypted key", c.password_file);
  t.text("cacert", "CA certificates for client certificates", c.cacert);
  t.boolean("verify_peer", "ask clients for a certificate and verify it", c.verify_peer);
  t.boolean("fail_if_no_peer_cert", "refuse clients without a certificate", c.fail_if_no_peer_cert);
  t.count("workers", "acceptor/io threads, 0: one per core", c.workers, 0, 1024);
  t.count("max_connections", "exact global connection limit", c.max_connections, 1, 10000000);
  t.seconds("handshake_timeout", "time a client has to complete the handshake", c.handshake_timeout,
            0.001, kMaxSeconds);
  t.seconds("idle_timeout", "close a connection without data for this long, 0: never",
            c.idle_timeout, 0, kMaxSeconds);
  t.seconds("shutdown_grace", "time to drain connections on SIGTERM", c.shutdown_grace, 0,
            kMaxSeconds);
  t.text("data_dir", "where the local CA and its certificate live", c.data_dir);
  t.text("log_format", "log lines", c.log_format, {"text", "json"});
  t.text_list("domain", "a name (or IP address) to certify through --acme; repeat for more",
              c.domain);
  t.text("acme",
         "obtain and renew the certificate through ACME: local (an in-process CA), staging, "
         "production (Let's Encrypt) or a directory URL",
         c.acme);
  t.text_list("email", "contact address for the ACME account", c.email);
  t.text("profile", "ACME certificate profile (e.g. shortlived)", c.profile);
  t.text("acme_cacert", "CA certificates to trust for a private ACME server's HTTPS",
         c.acme_cacert);
  t.text("http_listen",
         "ADDR:PORT of a plain HTTP listener answering HTTP-01 and redirecting to HTTPS",
         c.http_listen, {},
         [](const std::string& v, const std::string& subject) { (void)parse_listen(v, subject); });
  t.text("admin",
         "ADDR:PORT of the admin endpoint: /metrics (Prometheus), /status.json and a status page "
         "(loopback only unless --admin-allow-remote)",
         c.admin, {},
         [](const std::string& v, const std::string& subject) { (void)parse_listen(v, subject); });
  t.text("admin_token_file", "file holding a bearer token the admin endpoint requires",
         c.admin_token_file);
  t.boolean("admin_allow_remote", "let the admin endpoint listen on a non-loopback address",
            c.admin_allow_remote);
}

// The admin endpoint's token: the file's content without surrounding white space.
std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) bad("admin_token_file '" + path + "'", "cannot be read");
  std::string token{std::istreambuf_iterator<char>(in), {}};
  const auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) bad("admin_token_file '" + path + "'", "is empty");
  token = token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  return token;
}

// ---- The data directory and the self-signed certificate --------------------------------------

fs::path default_data_dir() {
  if (const char* d = std::getenv("MOAT_DATA_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x != nullptr && *x != '\0') {
    return fs::path(x) / "moat";
  }
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    return fs::path(h) / ".local" / "share" / "moat";
  }
  return fs::current_path() / "moat-data";
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// Without --cert, moat serve certifies itself like Caddy's local CA: a CA made once in the
// data directory (its certificate is what clients trust) and a server certificate it issues,
// both reused on the next start and renewed when they near expiry.
struct local_certificate {
  fs::path ca_certfile;
  fs::path certfile;
  fs::path keyfile;
  bool created = false;
};

bool usable_for_a_day(const fs::path& cert, const fs::path& key) {
  if (!fs::exists(cert) || !fs::exists(key)) return false;
  try {
    (void)pki::load_credentials(cert, key, {},
                                std::chrono::system_clock::now() + std::chrono::hours(24));
    return true;
  } catch (const config_error& e) {
    spdlog::warn("{} is unusable ({}); making a new one", cert.string(), e.what());
    return false;
  }
}

local_certificate ensure_local_certificate(const fs::path& dir) {
  const fs::path ca_dir = dir / "local-ca";
  const fs::path srv_dir = dir / "server";
  local_certificate r{ca_dir / "ca.pem", srv_dir / "cert.pem", srv_dir / "key.pem", false};
  for (const auto& d : {ca_dir, srv_dir}) {
    std::error_code ec;
    fs::create_directories(d, ec);
    if (ec) throw config_error(fmt::format("data_dir '{}'", d.string()), ec, "cannot create it");
  }
  const fs::path ca_keyfile = ca_dir / "ca.key";
  const std::string host = host_name();
  bool new_ca = false;
  if (!usable_for_a_day(r.ca_certfile, ca_keyfile)) {
    auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
    pki::certificate_builder b;
    b.common_name = fmt::format("moat local CA ({})", host);
    b.is_ca = true;
    b.validity = std::chrono::days(3650);
    key.write_file(ca_keyfile);
    pki::write_pem_file(r.ca_certfile, b.self_sign(key).pem(), false, "cacertfile");
    new_ca = true;
  }
  const auto ca = pki::load_credentials(r.ca_certfile, ca_keyfile);
  bool issued_by_ca = false;
  if (!new_ca && usable_for_a_day(r.certfile, r.keyfile)) {
    issued_by_ca = pki::load_certificates(r.certfile).front().is_issued_by(ca.chain.front());
  }
  if (!issued_by_ca) {
    std::vector<std::string> sans{"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
    if (host != "localhost") sans.insert(sans.begin(), "DNS:" + host);
    auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
    pki::certificate_builder b;
    b.common_name = host;
    b.subject_alt_names = sans;
    b.validity = std::chrono::days(365);
    auto cert = b.sign(key, ca.chain.front(), ca.key);
    key.write_file(r.keyfile);
    pki::write_pem_file(r.certfile, cert.pem(), false, "certfile");
    r.created = true;
  }
  return r;
}

tls::options tls_options(const serve_config& c, const local_certificate* ss) {
  tls::options o;
  o.certfile = ss != nullptr ? ss->certfile : fs::path(c.cert);
  o.keyfile = ss != nullptr ? ss->keyfile : fs::path(c.key.empty() ? c.cert : c.key);
  if (!c.password_file.empty()) o.password = read_password_file(c.password_file);
  if (!c.cacert.empty()) o.cacertfile = c.cacert;
  if (c.verify_peer) o.verify = tls::verify_mode::peer;
  o.fail_if_no_peer_cert = c.fail_if_no_peer_cert;
  return o;
}

// ---- The echo handler (the recipe's) ----------------------------------------------------------

server::coroutine_handler echo_handler() {
  return [](server::connection& c) -> asio::awaitable<void> {
    for (;;) {
      auto m = co_await c.recv_view();
      if (!m) co_return;
      if (co_await c.send(*m)) co_return;
    }
  };
}

int run_serve(serve_config c) {
  setup_logging(c.log_format);
  if (c.listen.empty()) c.listen = {"0.0.0.0:7000", "[::]:7000"};
  if (!c.key.empty() && c.cert.empty()) bad("--key", "given without --cert");
  if (c.fail_if_no_peer_cert && !c.verify_peer)
    bad("--fail-if-no-peer-cert", "needs --verify-peer");

  server::listener_options lo;
  lo.name = "serve";
  for (const auto& l : c.listen) lo.addresses.push_back(parse_listen(l, "listen"));
  lo.workers = c.workers;
  lo.max_connections = c.max_connections;
  lo.handshake_timeout = to_ms(c.handshake_timeout);
  lo.idle_timeout = to_ms(c.idle_timeout);
  lo.shutdown_grace = to_ms(c.shutdown_grace);
  lo.socket.packet = framing::parse_packet_mode(c.packet);

  const bool acme_mode = !c.acme.empty();
  if (acme_mode && !c.cert.empty()) bad("--cert", "give --cert or --acme, not both");
  if (acme_mode && c.domain.empty()) bad("--acme", "needs at least one --domain to certify");
  if (!acme_mode) {
    for (const auto& [given, flag] :
         {std::pair{!c.domain.empty(), "--domain"}, std::pair{!c.email.empty(), "--email"},
          std::pair{!c.profile.empty(), "--profile"},
          std::pair{!c.acme_cacert.empty(), "--acme-cacert"}}) {
      if (given) bad(flag, "only means something with --acme");
    }
  }
  const fs::path data_dir = c.data_dir.empty() ? default_data_dir() : fs::path(c.data_dir);
  std::optional<asio::ip::tcp::endpoint> http_endpoint;
  if (!c.http_listen.empty()) http_endpoint = parse_listen(c.http_listen, "http_listen");

  std::unique_ptr<serve_acme> acme;
  std::optional<local_certificate> ss;
  if (acme_mode) {
    acme = std::make_unique<serve_acme>(serve_acme_config{c.domain, c.acme, c.email, c.profile,
                                                          c.acme_cacert, data_dir, lo.addresses,
                                                          http_endpoint});
  } else if (c.cert.empty()) {
    ss = ensure_local_certificate(data_dir);
  }
  auto make_tls = [&] {
    auto o = tls_options(c, ss ? &*ss : nullptr);
    if (acme) o = acme->manager().tls_options(std::move(o));
    return o;
  };
  server::listener l(lo, make_tls(), echo_handler());

  // The admin endpoint, bound (and its options checked) before anything starts.
  std::unique_ptr<admin::endpoint> admin_endpoint;
  if (!c.admin.empty()) {
    admin::options ao;
    ao.addresses = {parse_listen(c.admin, "admin")};
    ao.allow_remote = c.admin_allow_remote;
    if (!c.admin_token_file.empty()) ao.bearer_token = read_token_file(c.admin_token_file);
    admin_endpoint = std::make_unique<admin::endpoint>(std::move(ao));
    admin_endpoint->watch(l);
    if (acme) admin_endpoint->watch(acme->manager());
    spdlog::default_logger()->sinks().push_back(admin_endpoint->events_sink());
  } else if (!c.admin_token_file.empty() || c.admin_allow_remote) {
    bad(c.admin_token_file.empty() ? "--admin-allow-remote" : "--admin-token-file",
        "only means something with --admin");
  }

  // The HTTP port: HTTP-01 answers, and a redirect to HTTPS for everything else.
  std::unique_ptr<http::server> http_port;
  if (http_endpoint) {
    auto routes = http::https_redirect(l.local_endpoints().front().port());
    if (acme) {
      routes.add_prefix(std::string(acme::http01_responder::path_prefix),
                        acme->manager().http01_handler());
    }
    http::server_options so;
    so.listener.name = "serve-http";
    so.listener.addresses = {*http_endpoint};
    so.listener.workers = 1;
    http_port = std::make_unique<http::server>(std::move(so), std::move(routes));
  }

  if (ss) {
    const auto leaf = pki::load_certificates(ss->certfile).front();
    const auto port = l.local_endpoints().front().port();
    spdlog::info("no --cert given: {} the certificate {} for [{}] from the local CA {} (sha256 {})",
                 ss->created ? "made" : "reusing", ss->certfile.string(),
                 fmt::join(leaf.subject_alt_names(), ", "), ss->ca_certfile.string(),
                 leaf.sha256_fingerprint());
    spdlog::info("reach it with: moat connect localhost:{} --packet {} --cacert {}", port,
                 framing::to_string(lo.socket.packet), ss->ca_certfile.string());
  }
  // The handlers are in place before anything says it started: a supervisor's SIGTERM the
  // moment the listener is up drains it instead of killing the process.
  asio::io_context signals_io;
  asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
  l.start();
  if (http_port) http_port->start();
  if (admin_endpoint) admin_endpoint->start();
  if (acme) {
    acme->start();
    spdlog::info("reach it with: moat connect {}:{} --packet {}{}", c.domain.front(),
                 l.local_endpoints().front().port(), framing::to_string(lo.socket.packet),
                 c.acme == "local" ? " --cacert " + (data_dir / "ca" / "root.pem").string() : "");
  }

  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          spdlog::info("SIGHUP: reloading the certificate and key");
          try {
            l.reload(make_tls());
          } catch (const std::exception&) {
            // reload() logged why; the old certificate stays in service.
          }
          signals.async_wait(on_signal);
          return;
        }
        spdlog::info("{}: draining connections (grace {} s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                     c.shutdown_grace);
        signals_io.stop();
      };
  signals.async_wait(on_signal);
  std::thread watcher([&] {
    l.wait();
    asio::post(signals_io, [&] { signals_io.stop(); });
  });
  signals_io.run();
  if (admin_endpoint) admin_endpoint->stop();
  if (http_port) http_port->stop();
  l.stop();
  watcher.join();
  if (acme) acme->stop();
  const auto failure = l.failure();
  if (!failure.empty()) {
    spdlog::critical("listener failed: {}", failure);
    return 1;
  }
  return 0;
}

}  // namespace

void register_serve_command(CLI::App& app) {
  // The command's state outlives this function: CLI11 keeps pointers into the table.
  struct serve_command {
    serve_config config;
    settings table;
  };
  auto st = std::make_shared<serve_command>();
  auto* cmd = app.add_subcommand(
      "serve", "Run a supervised TLS echo server ({packet,4} on port 7000 by default)");
  describe_settings(st->table, st->config);
  st->table.add_flags(*cmd);
  cmd->add_option("--config", st->config.config,
                  "TOML file with the same settings (keys as the flags, with _); flags win");
  cmd->callback([st] {
    // Defaults, then the file, then the flags: flags win.
    if (!st->config.config.empty()) st->table.load_toml(st->config.config);
    st->table.apply_flags();
    const int rc = run_serve(st->config);
    if (rc != 0) throw exit_code{rc};
  });
}

}  // namespace moat::cli
