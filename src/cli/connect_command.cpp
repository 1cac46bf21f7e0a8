// `moat connect HOST:PORT`: like `openssl s_client`, for framed protocols. Each line of
// standard input is sent as one message; each message received is printed on its own line.
// The connection summary (or the precise reason it failed) goes to standard error.
#include <fmt/chrono.h>
#include <fmt/core.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <deque>
#include <iostream>
#include <moat/error.hpp>
#include <moat/framing/framing.hpp>
#include <moat/tls/socket.hpp>
#include <thread>

#include "cli/args.hpp"
#include "cli/commands.hpp"

namespace moat::cli {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct connect_args {
  std::string target;
  std::string packet = "4";
  std::string cacert;
  std::string cert;
  std::string key;
  std::string password_file;
  std::string sni;
  std::string alpn;
  std::string tls_version;
  bool insecure_skip_verify = false;
  double timeout_s = 10;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

tls::options make_options(const connect_args& a) {
  tls::options o;
  if (!a.cacert.empty()) o.cacertfile = a.cacert;
  if (!a.cert.empty()) o.certfile = a.cert;
  if (!a.key.empty()) o.keyfile = a.key;
  if (!a.password_file.empty()) o.password = read_password_file(a.password_file);
  if (!a.sni.empty()) o.server_name_indication = a.sni;
  o.alpn = split_list(a.alpn);
  if (!a.tls_version.empty()) o.versions = {tls::parse_version(a.tls_version)};
  if (a.insecure_skip_verify) o.verify = tls::verify_mode::none;
  return o;
}

std::string describe(const tls::connection_info& ci, const tls::socket& s) {
  std::string out = fmt::format("connected: {} {}", tls::to_string(ci.protocol), ci.cipher_suite);
  if (!ci.group.empty()) out += fmt::format(" {}", ci.group);
  if (!ci.alpn.empty()) out += fmt::format(", alpn {}", ci.alpn);
  if (ci.resumed) out += ", resumed";
  if (auto peer = s.peer_certificate()) {
    out += fmt::format("\npeer: {}\nissuer: {}\nexpires: {:%Y-%m-%d}\nsha256: {}", peer->subject(),
                       peer->issuer(),
                       fmt::gmtime(std::chrono::system_clock::to_time_t(peer->not_after())),
                       peer->sha256_fingerprint());
  }
  out += ci.peer_verified ? "\nverified: yes" : "\nverified: NO (--insecure-skip-verify)";
  return out;
}

/// Lines of standard input, read by a plain thread and handed to the I/O thread.
struct stdin_lines {
  std::deque<std::string> lines;
  bool eof = false;
  asio::steady_timer signal;
  explicit stdin_lines(asio::any_io_executor ex) : signal(ex) {
    signal.expires_at(asio::steady_timer::time_point::max());
  }
};

asio::awaitable<int> run_connect(connect_args a, tls::context ctx, framing::packet_mode mode) {
  auto ex = co_await asio::this_coro::executor;
  const auto [host, port] = split_host_port(a.target, "target", false);
  const auto timeout = std::chrono::milliseconds(static_cast<long>(a.timeout_s * 1000));
  auto s = co_await tls::socket::connect(ex, host, port, ctx, timeout, {.packet = mode});
  if (!s) {
    fmt::print(stderr, "moat: connect {}: {} [{}]\n", a.target, tls::format_error(s.error()),
               tls::reason_name(s.error()));
    co_return 1;
  }
  fmt::print(stderr, "{}\n", describe(s->connection_information().value(), *s));

  auto in = std::make_shared<stdin_lines>(ex);
  std::thread reader([in, ex, line_mode = mode == framing::packet_mode::line] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line_mode) line += '\n';
      asio::post(ex, [in, l = std::move(line)]() mutable {
        in->lines.push_back(std::move(l));
        in->signal.cancel();
      });
      line.clear();
    }
    asio::post(ex, [in] {
      in->eof = true;
      in->signal.cancel();
    });
  });
  reader.detach();

  // The receiver runs beside the sender; what both touch lives in `shared`, which the
  // receiver co-owns, and the sender waits for the receiver before it returns.
  struct session_state {
    tls::socket sock;
    std::size_t sent = 0;
    std::size_t received = 0;
    bool done = false;
    bool receiver_finished = false;
    int rc = 0;
  };
  auto shared = std::make_shared<session_state>(session_state{std::move(*s)});
  asio::co_spawn(
      ex,
      [shared, in, mode]() -> asio::awaitable<void> {
        for (;;) {
          auto m = co_await shared->sock.recv(0, tls::infinity);
          if (!m) {
            if (m.error() != std::error_code(tls::errc::closed) && !shared->done) {
              fmt::print(stderr, "moat: {}\n", tls::format_error(m.error()));
              shared->rc = 1;
            }
            break;
          }
          ++shared->received;
          std::fwrite(m->data(), 1, m->size(), stdout);
          if (mode != framing::packet_mode::line) std::fputc('\n', stdout);
          std::fflush(stdout);
          in->signal.cancel();
        }
        shared->done = true;
        shared->receiver_finished = true;
        in->signal.cancel();
      },
      asio::detached);

  auto pause = [&](std::chrono::milliseconds d) -> asio::awaitable<void> {
    asio::steady_timer t(ex, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  };
  while (!shared->done) {
    while (!in->lines.empty()) {
      auto line = std::move(in->lines.front());
      in->lines.pop_front();
      if (auto ec = co_await shared->sock.send(line)) {
        fmt::print(stderr, "moat: send: {}\n", tls::format_error(ec));
        shared->rc = 1;
        shared->done = true;
        break;
      }
      ++shared->sent;
    }
    if (in->eof || shared->done) break;
    in->signal.expires_at(asio::steady_timer::time_point::max());
    co_await in->signal.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  // Standard input ended: wait for the replies (until each message has one, or `timeout`
  // without any), then close with close_notify.
  auto last = shared->received;
  auto quiet_since = std::chrono::steady_clock::now();
  while (!shared->done && shared->received < shared->sent) {
    co_await pause(50ms);
    if (shared->received != last) {
      last = shared->received;
      quiet_since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - quiet_since > timeout) {
      break;
    }
  }
  shared->done = true;
  co_await shared->sock.close();
  while (!shared->receiver_finished) co_await pause(10ms);
  co_return shared->rc;
}

}  // namespace

void register_connect_command(CLI::App& app) {
  auto args = std::make_shared<connect_args>();
  auto* cmd = app.add_subcommand(
      "connect", "Connect over TLS and exchange framed messages (one per line of stdin)");
  cmd->add_option("target", args->target, "HOST:PORT")->required();
  cmd->add_option("--packet", args->packet, "framing: raw|1|2|4|line")->capture_default_str();
  cmd->add_option("--cacert", args->cacert, "CA certificates to verify the server (PEM)");
  cmd->add_option("--cert", args->cert, "client certificate (mutual TLS)");
  cmd->add_option("--key", args->key, "client private key");
  cmd->add_option("--password-file", args->password_file, "password of an encrypted key");
  cmd->add_option("--sni", args->sni, "server name to send and verify (default: HOST)");
  cmd->add_option("--alpn", args->alpn, "protocols to offer, comma-separated");
  cmd->add_option("--tls", args->tls_version, "force one version: 1.2 or 1.3");
  cmd->add_option("--timeout", args->timeout_s, "seconds for connect+handshake and replies")
      ->capture_default_str();
  cmd->add_flag("--insecure-skip-verify", args->insecure_skip_verify,
                "do not verify the server (INSECURE)");
  cmd->callback([args] {
    const auto mode = framing::parse_packet_mode(args->packet);
    if (!args->cert.empty() != !args->key.empty()) {
      throw config_error("--cert/--key", std::make_error_code(std::errc::invalid_argument),
                         "give both or neither");
    }
    tls::context ctx(tls::role::client, make_options(*args));
    asio::io_context io;
    auto fut = asio::co_spawn(io, run_connect(*args, ctx, mode), asio::use_future);
    io.run();
    const int rc = fut.get();
    if (rc != 0) throw exit_code{rc};
  });
}

}  // namespace moat::cli
