// `moat serve`: the recipe's TLS echo server, supervised, on every core. Runs with no
// arguments: listens on port 7000 (IPv4 and IPv6) with {packet,4}, and without --cert makes
// (once) and reuses a local CA and a certificate from it in the data directory.
#include <fmt/chrono.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <moat/error.hpp>
#include <moat/server/server.hpp>
#include <set>
#include <thread>

#include "cli/args.hpp"
#include "cli/commands.hpp"

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
};

[[noreturn]] void bad(const std::string& subject, const std::string& why) {
  throw config_error(subject, std::make_error_code(std::errc::invalid_argument), why);
}

// ---- The configuration file: the same settings as the flags --------------------------------

void load_toml(const std::string& path, serve_config& c, const std::set<std::string>& from_flags) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    bad(fmt::format("config '{}'", path),
        fmt::format("line {}, column {}: {}", where.line, where.column, e.description()));
  }
  auto subject = [&](std::string_view key) {
    return fmt::format("config '{}': {}", path, key);
  };
  for (const auto& [name, node] : t) {
    const std::string key(name.str());
    const toml::node& v = node;  // lambdas below capture it (structured bindings: C++20 only)
    if (from_flags.count(key) != 0) continue;  // flags win
    auto str = [&]() -> std::string {
      if (auto s = v.value<std::string>()) return *s;
      bad(subject(key), "must be a string");
    };
    auto num = [&]() -> double {
      if (auto d = v.value<double>()) return *d;
      bad(subject(key), "must be a number");
    };
    auto boolean = [&]() -> bool {
      if (auto b = v.value<bool>()) return *b;
      bad(subject(key), "must be true or false");
    };
    if (key == "listen") {
      c.listen.clear();
      if (auto* arr = v.as_array()) {
        for (const auto& e : *arr) {
          if (auto s = e.value<std::string>())
            c.listen.push_back(*s);
          else
            bad(subject(key), "must be a list of \"ADDR:PORT\" strings");
        }
      } else {
        c.listen.push_back(str());
      }
    } else if (key == "packet") {
      c.packet = v.is_integer() ? std::to_string(*v.value<std::int64_t>()) : str();
    } else if (key == "cert") {
      c.cert = str();
    } else if (key == "key") {
      c.key = str();
    } else if (key == "password_file") {
      c.password_file = str();
    } else if (key == "cacert") {
      c.cacert = str();
    } else if (key == "verify_peer") {
      c.verify_peer = boolean();
    } else if (key == "fail_if_no_peer_cert") {
      c.fail_if_no_peer_cert = boolean();
    } else if (key == "workers") {
      c.workers = static_cast<unsigned>(num());
    } else if (key == "max_connections") {
      c.max_connections = static_cast<std::size_t>(num());
    } else if (key == "handshake_timeout") {
      c.handshake_timeout = num();
    } else if (key == "idle_timeout") {
      c.idle_timeout = num();
    } else if (key == "shutdown_grace") {
      c.shutdown_grace = num();
    } else if (key == "data_dir") {
      c.data_dir = str();
    } else if (key == "log_format") {
      c.log_format = str();
    } else {
      bad(subject(key),
          "unknown setting (known: listen, packet, cert, key, password_file, cacert, verify_peer, "
          "fail_if_no_peer_cert, workers, max_connections, handshake_timeout, idle_timeout, "
          "shutdown_grace, data_dir, log_format)");
    }
  }
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
    bad("--log-format", fmt::format("'{}' is not text or json", format));
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// ---- Addresses -----------------------------------------------------------------------------

asio::ip::tcp::endpoint parse_listen(const std::string& s) {
  const auto hp = split_host_port(s, "--listen", true);
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(hp.host.empty() ? "0.0.0.0" : hp.host, ec);
  if (ec)
    bad(fmt::format("--listen '{}'", s), "the address must be a numeric IPv4 or IPv6 address");
  return {addr, hp.port};
}

std::chrono::milliseconds seconds(double s, const char* option) {
  if (s < 0 || s > 86400 * 365) bad(option, "must be a number of seconds from 0 to 31536000");
  return std::chrono::milliseconds(static_cast<long>(s * 1000));
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
      auto m = co_await c.recv();
      if (!m) co_return;
      if (co_await c.send(std::span<const std::uint8_t>(*m))) co_return;
    }
  };
}

int run_serve(serve_config c, const std::set<std::string>& from_flags) {
  if (!c.config.empty()) load_toml(c.config, c, from_flags);
  setup_logging(c.log_format);
  if (c.listen.empty()) c.listen = {"0.0.0.0:7000", "[::]:7000"};
  if (!c.key.empty() && c.cert.empty()) bad("--key", "given without --cert");
  if (c.fail_if_no_peer_cert && !c.verify_peer)
    bad("--fail-if-no-peer-cert", "needs --verify-peer");

  server::listener_options lo;
  lo.name = "serve";
  for (const auto& l : c.listen) lo.addresses.push_back(parse_listen(l));
  lo.workers = c.workers;
  lo.max_connections = c.max_connections;
  lo.handshake_timeout = seconds(c.handshake_timeout, "--handshake-timeout");
  lo.idle_timeout = seconds(c.idle_timeout, "--idle-timeout");
  lo.shutdown_grace = seconds(c.shutdown_grace, "--shutdown-grace");
  lo.socket.packet = framing::parse_packet_mode(c.packet);

  std::optional<local_certificate> ss;
  if (c.cert.empty()) {
    const fs::path dir = c.data_dir.empty() ? default_data_dir() : fs::path(c.data_dir);
    ss = ensure_local_certificate(dir);
  }
  server::listener l(lo, tls_options(c, ss ? &*ss : nullptr), echo_handler());

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
  l.start();

  asio::io_context signals_io;
  asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          spdlog::info("SIGHUP: reloading the certificate and key");
          try {
            l.reload(tls_options(c, ss ? &*ss : nullptr));
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
  l.stop();
  watcher.join();
  const auto failure = l.failure();
  if (!failure.empty()) {
    spdlog::critical("listener failed: {}", failure);
    return 1;
  }
  return 0;
}

}  // namespace

void register_serve_command(CLI::App& app) {
  auto c = std::make_shared<serve_config>();
  auto* cmd = app.add_subcommand(
      "serve", "Run a supervised TLS echo server ({packet,4} on port 7000 by default)");
  cmd->add_option("--listen", c->listen, "ADDR:PORT to listen on (repeatable)");
  cmd->add_option("--packet", c->packet, "framing: raw|1|2|4|line")->capture_default_str();
  cmd->add_option("--cert", c->cert,
                  "certificate chain (PEM); default: one from a local CA in --data-dir");
  cmd->add_option("--key", c->key, "private key (PEM)");
  cmd->add_option("--password-file", c->password_file, "password of an encrypted key");
  cmd->add_option("--cacert", c->cacert, "CA certificates for client certificates");
  cmd->add_flag("--verify-peer", c->verify_peer, "ask clients for a certificate and verify it");
  cmd->add_flag("--fail-if-no-peer-cert", c->fail_if_no_peer_cert,
                "refuse clients without a certificate");
  cmd->add_option("--workers", c->workers, "acceptor/io threads (default: one per core)");
  cmd->add_option("--max-connections", c->max_connections, "exact global connection limit")
      ->capture_default_str();
  cmd->add_option("--handshake-timeout", c->handshake_timeout, "seconds")->capture_default_str();
  cmd->add_option("--idle-timeout", c->idle_timeout, "seconds without data (0: none)")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", c->shutdown_grace, "seconds to drain on SIGTERM")
      ->capture_default_str();
  cmd->add_option("--data-dir", c->data_dir, "where the local CA and its certificate live");
  cmd->add_option("--log-format", c->log_format, "text|json")->capture_default_str();
  cmd->add_option("--config", c->config, "TOML file with the same settings");
  cmd->callback([c, cmd] {
    std::set<std::string> from_flags;
    for (const auto* opt : cmd->get_options()) {
      if (opt->count() == 0) continue;
      std::string name = opt->get_name(false, true);
      while (!name.empty() && name.front() == '-') name.erase(name.begin());
      std::replace(name.begin(), name.end(), '-', '_');
      from_flags.insert(name);
    }
    const int rc = run_serve(*c, from_flags);
    if (rc != 0) throw exit_code{rc};
  });
}

}  // namespace moat::cli
