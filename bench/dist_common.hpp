#pragma once
// What bench/dist_peer.cpp and bench/dist_driver.cpp share (bench/dist.sh, docs/bench.md):
// a moat node's options from the command line, set up as bench/dist.sh sets up the Erlang
// nodes' optfile (one certificate naming the host for both sides, verify_peer, the TLS
// versions asked for, no session resumption on the client side), and the CPU time of a
// process.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <fstream>
#include <moat/dist/node.hpp>
#include <moat/tls/options.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace moat::bench {

struct node_args {
  std::string name{};
  std::string cookie{};
  std::string cert{};
  std::string key{};
  std::string cacert{};
  std::vector<std::string> versions{};
  std::uint16_t epmd_port{0};
  unsigned workers{1};
};

inline void add_node_args(CLI::App& app, node_args& a) {
  app.add_option("--name", a.name, "Node name, name@host (short names)")->required();
  app.add_option("--cookie", a.cookie, "The cookie")->required();
  app.add_option("--cert", a.cert, "The node's certificate chain (PEM)")->required();
  app.add_option("--key", a.key, "Its key (PEM)")->required();
  app.add_option("--cacert", a.cacert, "The CA certificates peers chain to (PEM)")->required();
  app.add_option("--versions", a.versions, "TLS versions: 1.2, 1.3 (comma-separated)")
      ->delimiter(',');
  app.add_option("--epmd-port", a.epmd_port, "The EPMD to register with (not started here)")
      ->required();
  app.add_option("--workers", a.workers, "Worker threads of the node")->capture_default_str();
}

/// The node's options; `name` overrides `a.name` (the driver's fresh nodes for set-up).
inline dist::node_options make_node_options(const node_args& a, const std::string& name) {
  dist::node_options o;
  o.name = name;
  o.cookie = a.cookie;
  o.server.certfile = a.cert;
  o.server.keyfile = a.key;
  o.server.cacertfile = a.cacert;
  for (const auto& v : a.versions) o.server.versions.push_back(tls::parse_version(v));
  o.client = o.server;
  // Every connection a full handshake, as for the Erlang nodes ({reuse_sessions, false}).
  o.client.reuse_sessions = false;
  o.epmd_port = a.epmd_port;
  o.start_epmd = false;
  o.workers = a.workers;
  return o;
}

/// utime + stime of process `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat), or
/// -1 when it cannot be read.
inline long long cpu_ticks(long pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(s.substr(close + 1));
  std::string f;
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && (fields >> f); ++i) {
    if (i == 14) utime = std::stoll(f);
    if (i == 15) stime = std::stoll(f);
  }
  return utime + stime;
}

}  // namespace moat::bench
