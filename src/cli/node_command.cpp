// `moat node start | ping | send | names`: a moat node of an Erlang cluster from the command
// line. `start` runs a node with an `echo` and a `sink` process until SIGINT or SIGTERM; `ping`
// and `send` run a short-lived hidden node (`moat_ping_<pid>`) as `erl -remsh` tools do;
// `names` asks an EPMD as `epmd -names` does.
#include <fmt/core.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <moat/dist/epmd.hpp>
#include <moat/dist/node.hpp>
#include <moat/dist/optfile.hpp>
#include <moat/dist/term_text.hpp>
#include <moat/error.hpp>
#include <thread>

#include "cli/args.hpp"
#include "cli/commands.hpp"

namespace moat::cli {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

[[noreturn]] void bad(const std::string& subject, const std::string& why) {
  throw config_error(subject, std::make_error_code(std::errc::invalid_argument), why);
}

// The flags every node-running subcommand takes.
struct node_flags {
  std::string name;
  bool longnames = false;
  std::string cookie;
  std::string cookie_file;
  std::string optfile;
  std::string config;
  bool hidden = false;
  std::string listen;
  unsigned epmd_port = 0;
  bool no_epmd = false;
  unsigned net_ticktime = 60;
  bool inet6 = false;
};

void add_node_flags(CLI::App& cmd, node_flags& f, bool with_name) {
  if (with_name) {
    cmd.add_option("--name", f.name, "the node's name, NAME or NAME@HOST (as erl -sname)")
        ->required();
  } else {
    cmd.add_option("--name", f.name,
                   "this short-lived node's name (default moat_ping_<pid> on this host)");
  }
  cmd.add_flag("--longnames", f.longnames, "long names, NAME@FQDN or NAME@ADDRESS (as erl -name)");
  auto* cookie = cmd.add_option(
      "--cookie", f.cookie, "the cookie (default: the one in ~/.erlang.cookie, as erl reads it)");
  cmd.add_option("--cookie-file", f.cookie_file, "a file whose first line is the cookie")
      ->excludes(cookie);
  auto* optfile = cmd.add_option("--dist-optfile", f.optfile,
                                 "Erlang's ssl_dist_optfile: [{server, [...]}, {client, [...]}]");
  cmd.add_option("--config", f.config,
                 "TOML file with [server] and [client] tables of TLS options (see docs/dist.md)")
      ->excludes(optfile);
  if (with_name) cmd.add_flag("--hidden", f.hidden, "a hidden node (as erl -hidden)");
  cmd.add_option("--listen", f.listen,
                 "ADDR:PORT for distribution connections (default: every address, any port)");
  cmd.add_option("--epmd-port", f.epmd_port, "the EPMD port (default: ERL_EPMD_PORT or 4369)")
      ->check(CLI::Range(1, 65535));
  cmd.add_flag("--no-epmd", f.no_epmd,
               "do not start an embedded EPMD when none answers (fail instead)");
  cmd.add_option("--net-ticktime", f.net_ticktime,
                 "seconds of silence after which a peer is down (as -kernel net_ticktime)")
      ->check(CLI::Range(1, 86400))
      ->default_str("60");
  cmd.add_flag("--inet6", f.inet6, "distribution over IPv6 (as -proto_dist inet6_tls)");
}

std::string read_cookie(const std::string& path) {
  try {
    return read_password_file(path);
  } catch (const config_error& e) {
    // read_password_file names --password-file; the flag here is --cookie-file.
    throw config_error("--cookie-file '" + path + "'", e.code());
  }
}

std::shared_ptr<spdlog::logger> make_logger(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_logger_mt("moat");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return logger;
}

// Options for a node from the flags; every misconfiguration names its flag or file.
dist::node_options node_options_from(const node_flags& f, const std::string& name,
                                     std::shared_ptr<spdlog::logger> logger) {
  dist::node_options o;
  o.mode = f.longnames ? dist::name_mode::long_names : dist::name_mode::short_names;
  o.name = dist::make_local_name(name, o.mode, "--name").full();
  o.cookie = f.cookie_file.empty() ? f.cookie : read_cookie(f.cookie_file);
  if (o.cookie.size() > 255) bad("--cookie", "a cookie is 1 to 255 characters");
  if (f.optfile.empty() && f.config.empty()) {
    bad("--dist-optfile",
        "a node needs its certificate: give --dist-optfile FILE or --config FILE");
  }
  auto files = !f.optfile.empty() ? dist::read_ssl_dist_optfile(f.optfile)
                                  : dist::read_dist_tls_toml(f.config);
  o.server = std::move(files.server);
  o.client = std::move(files.client);
  o.hidden = f.hidden;
  o.ipv6 = f.inet6;
  if (!f.listen.empty()) {
    const auto hp = split_host_port(f.listen, "--listen", true);
    if (!hp.host.empty()) {
      boost::system::error_code ec;
      (void)asio::ip::make_address(hp.host, ec);
      if (ec) bad("--listen '" + f.listen + "'", "the address must be a numeric IP address");
    }
    o.listen_address = hp.host;
    o.listen_port = hp.port;
  }
  if (f.epmd_port != 0) o.epmd_port = static_cast<std::uint16_t>(f.epmd_port);
  o.start_epmd = !f.no_epmd;
  o.net_ticktime = std::chrono::seconds(f.net_ticktime);
  o.logger = std::move(logger);
  return o;
}

// ---- The processes of `moat node start` ------------------------------------------------------

// `echo`: {Pid, Term} sends Term to Pid; a gen_server call is answered with its request.
asio::awaitable<void> echo(dist::process& self) {
  (void)self.register_name("echo");
  for (;;) {
    dist::term m = co_await self.receive();
    if (auto call = dist::process::as_call(m)) {
      self.reply(call->from, call->request);
      continue;
    }
    const dist::tuple* t = m.as_tuple();
    if (t != nullptr && t->size() == 2 && (*t)[0].is_pid())
      (void)self.send(*(*t)[0].as_pid(), (*t)[1]);
  }
}

// `sink`: discards every message, counting; a gen_server call `count` is answered with the
// number of messages discarded so far (calls not counted).
asio::awaitable<void> sink(dist::process& self) {
  (void)self.register_name("sink");
  std::int64_t count = 0;
  for (;;) {
    dist::term m = co_await self.receive();
    if (auto call = dist::process::as_call(m)) {
      self.reply(call->from, call->request.is_atom("count") ? dist::term(count)
                                                            : dist::term(dist::atom("badarg")));
      continue;
    }
    ++count;
  }
}

int run_start(const node_flags& f) {
  auto log = make_logger(spdlog::level::info);
  // Signals are caught from before the node is up: a SIGTERM right after the "up" line stops
  // the node instead of killing the process.
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  dist::node n(node_options_from(f, f.name, log));
  (void)n.spawn(echo);
  (void)n.spawn(sink);
  for (int i = 0; i < 5000 && (!n.whereis("echo") || !n.whereis("sink")); ++i) {
    std::this_thread::sleep_for(1ms);  // the processes register as their first step
  }
  log->info("node {} up on port {}", n.name(), n.port());
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) log->info("{}: stopping node {}", sig == SIGINT ? "SIGINT" : "SIGTERM", n.name());
  });
  io.run();
  n.stop();
  return 0;
}

// ---- ping and send: a short-lived hidden node -------------------------------------------------

void check_target(const std::string& target) {
  if (!dist::parse_node_name(target)) bad("NODE '" + target + "'", "expected name@host");
}

std::unique_ptr<dist::node> short_lived_node(node_flags f) {
  auto log = make_logger(spdlog::level::warn);
  f.hidden = true;
  const std::string name = f.name.empty() ? fmt::format("moat_ping_{}", ::getpid()) : f.name;
  return std::make_unique<dist::node>(node_options_from(f, name, std::move(log)));
}

int run_ping(const node_flags& f, const std::string& target) {
  check_target(target);
  auto n = short_lived_node(f);
  const bool pong = n->ping(target);
  fmt::print("{}\n", pong ? "pong" : "pang");
  std::fflush(stdout);
  n->stop();
  return pong ? 0 : 1;
}

int run_send(const node_flags& f, const std::string& target, const std::string& name,
             const std::string& text) {
  check_target(target);
  if (name.empty()) bad("NAME", "the registered name to send to is empty");
  dist::text_error err;
  auto message = dist::parse_term(text, err);
  if (!message) bad("TERM '" + text + "'", err.message());
  auto n = short_lived_node(f);
  // Connect first (a ping), send, then ping again: the second pong comes back after the
  // peer has taken the message, which the same connection carried before it.
  if (!n->ping(target)) {
    fmt::print(stderr, "moat: {}: not reachable (pang)\n", target);
    n->stop();
    return 1;
  }
  const bool sent = n->send(dist::destination(name, target), std::move(*message));
  const bool delivered = sent && n->ping(target);
  if (!delivered) fmt::print(stderr, "moat: {}: the connection went down while sending\n", target);
  n->stop();
  return delivered ? 0 : 1;
}

// ---- names --------------------------------------------------------------------------------

int run_names(const std::string& host, unsigned epmd_port) {
  dist::query_options q;
  if (epmd_port != 0) q.epmd_port = static_cast<std::uint16_t>(epmd_port);
  asio::io_context io;
  auto f = asio::co_spawn(io, dist::names(io.get_executor(), host, q), asio::use_future);
  io.run();
  auto r = f.get();
  if (!r) {
    fmt::print(stderr, "moat: {}\n", r.error().message());
    return 1;
  }
  for (const auto& n : *r) fmt::print("name {} at port {}\n", n.name, n.port);
  return 0;
}

}  // namespace

void register_node_commands(CLI::App& app) {
  struct state {
    node_flags start;
    node_flags ping;
    node_flags send;
    std::string ping_target;
    std::string send_target;
    std::string send_name;
    std::string send_term;
    std::string names_host = "localhost";
    unsigned names_epmd_port = 0;
  };
  auto st = std::make_shared<state>();
  auto* node = app.add_subcommand("node", "A node of an Erlang cluster over TLS distribution");
  node->require_subcommand(1);

  auto* start = node->add_subcommand(
      "start", "Run a node with `echo` and `sink` processes until SIGINT or SIGTERM");
  add_node_flags(*start, st->start, true);
  start->callback([st] {
    if (const int rc = run_start(st->start); rc != 0) throw exit_code{rc};
  });

  auto* ping = node->add_subcommand("ping", "net_adm:ping(NODE): prints pong (exit 0) or pang (1)");
  ping->add_option("NODE", st->ping_target, "name@host")->required();
  add_node_flags(*ping, st->ping, false);
  ping->callback([st] {
    if (const int rc = run_ping(st->ping, st->ping_target); rc != 0) throw exit_code{rc};
  });

  auto* send = node->add_subcommand(
      "send", "Send TERM (Erlang syntax) to the process registered as NAME on NODE");
  send->add_option("NODE", st->send_target, "name@host")->required();
  send->add_option("NAME", st->send_name, "the registered name")->required();
  send->add_option("TERM", st->send_term, "the message, e.g. '{hello, <<\"x\">>, [1,2]}'")
      ->required();
  add_node_flags(*send, st->send, false);
  send->callback([st] {
    if (const int rc = run_send(st->send, st->send_target, st->send_name, st->send_term); rc != 0)
      throw exit_code{rc};
  });

  auto* names = node->add_subcommand("names", "The names an EPMD knows (as epmd -names)");
  names->add_option("HOST", st->names_host, "the EPMD's host")->default_str("localhost");
  names
      ->add_option("--epmd-port", st->names_epmd_port,
                   "the EPMD port (default: ERL_EPMD_PORT or 4369)")
      ->check(CLI::Range(1, 65535));
  names->callback([st] {
    if (const int rc = run_names(st->names_host, st->names_epmd_port); rc != 0) throw exit_code{rc};
  });
}

}  // namespace moat::cli
