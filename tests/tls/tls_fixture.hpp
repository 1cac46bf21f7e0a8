#pragma once
// A fixture for tests of one TLS connection: a test CA, a "localhost" leaf, a server context
// presenting it and a client context trusting the CA.

#include <gtest/gtest.h>

#include <moat/tls/socket.hpp>

#include "support/support.hpp"

namespace moat::tls::test_fixture {

struct tls_fixture : ::testing::Test {
  test::temp_dir dir;
  test::test_ca ca{dir.path() / "ca"};
  test::issued leaf = ca.issue("localhost");
  context sctx = [&] {
    options o;
    o.certfile = leaf.certfile;
    o.keyfile = leaf.keyfile;
    return context(role::server, o);
  }();
  context cctx = [&] {
    options o;
    o.cacertfile = ca.certfile();
    return context(role::client, o);
  }();
  static constexpr socket_options u32{.packet = framing::packet_mode::u32};
};

}  // namespace moat::tls::test_fixture
