#pragma once
// What the node tests share: a private epmd, a cluster CA whose node certificates name
// "localhost" (the host of short names in the tests), and moat nodes set up like the
// Erlang nodes of tests/support/erlang_node.hpp.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "moat/dist/node.hpp"
#include "support/captured_log.hpp"
#include "support/erlang_node.hpp"
#include "support/support.hpp"

namespace moat::dist::testing {

using namespace std::chrono_literals;

struct cluster {
  test::temp_dir dir;
  test::epmd epmd;
  test::test_ca ca{dir.path() / "ca"};

  /// Files for a node certificate (server and client auth) naming `host`.
  test::dist_tls_files files(const std::string& host = "localhost") {
    const bool ip = host.find_first_not_of("0123456789.:") == std::string::npos;
    auto leaf = ca.issue(host, pki::key_type::ecdsa_p256, {(ip ? "IP:" : "DNS:") + host});
    return {.certfile = leaf.certfile, .keyfile = leaf.keyfile, .cacertfile = ca.certfile()};
  }

  node_options moat_options(const std::string& name, const test::dist_tls_files& f) {
    node_options o;
    o.name = name + "@localhost";
    o.cookie = "moat-test-cookie";
    o.server.certfile = f.certfile;
    o.server.keyfile = f.keyfile;
    o.server.cacertfile = f.cacertfile;
    o.epmd_port = epmd.port();
    o.start_epmd = false;
    o.workers = 2;
    return o;
  }

  test::erlang_node_options erlang_options(const std::string& name, test::dist_tls_files f) {
    return {.name = name, .tls = std::move(f), .epmd_port = epmd.port()};
  }
};

}  // namespace moat::dist::testing

#include <thread>

namespace moat::dist::testing {

using test::captured_log;

/// Waits until `pred()` holds (scaled deadline).
template <class P>
[[nodiscard]] bool eventually(P pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(limit);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace moat::dist::testing
