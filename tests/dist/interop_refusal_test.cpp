// Connections a moat node refuses from (or to) real Erlang nodes: each is refused, logged once
// on the moat node with the peer and the reason, and nothing it carried is delivered.
#include "dist/interop_fixture.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct InteropRefusal : testing::interop {
  std::unique_ptr<testing::moat_inbox> inbox;

  void SetUp() override {
    start_moat(options());
    inbox = std::make_unique<testing::moat_inbox>(*moat, "inbox");
  }

  /// A certificate of the cluster's CA naming only `host`.
  test::dist_tls_files files_naming(const std::string& host) {
    auto leaf = c.ca.issue(host, pki::key_type::ecdsa_p256, {"DNS:" + host});
    return {.certfile = leaf.certfile, .keyfile = leaf.keyfile, .cacertfile = c.ca.certfile()};
  }

  /// The Erlang node sends to the moat node's inbox and pings it: pang, and the moat node
  /// logs exactly one refusal, which it returns.
  std::string refused_from_erlang(test::erlang_node& erl) {
    EXPECT_EQ(erl.eval("{inbox, 'm@localhost'} ! leaked, net_adm:ping('m@localhost')"), "pang")
        << erl.output();
    EXPECT_TRUE(log.wait_for("refused a connection"));
    const auto refused = log.lines("refused a connection");
    EXPECT_EQ(refused.size(), 1U) << ::testing::PrintToString(refused);
    expect_nothing_delivered(erl);
    return refused.empty() ? std::string() : refused[0];
  }

  void expect_nothing_delivered(test::erlang_node& erl) {
    EXPECT_EQ(inbox->count(), 0U);
    EXPECT_EQ(moat->stats().messages_in, 0U);
    EXPECT_GE(moat->stats().connections_refused, 1U);
    EXPECT_TRUE(moat->nodes().empty());
    EXPECT_EQ(erl.eval("nodes()"), "[]");
    EXPECT_EQ(events.count(node_event::kind::up, erl.node_name()), 0U);
    // Every line the moat node wrote since it started is about this refusal.
    std::size_t others = 0;
    for (const auto& l : log.lines(""))
      if (l.find("refused a connection") == std::string::npos &&
          l.find("could not connect") == std::string::npos &&
          l.find("' up on port") == std::string::npos)
        ++others;
    EXPECT_EQ(others, 0U) << ::testing::PrintToString(log.lines(""));
  }
};

TEST_F(InteropRefusal, AnErlangNodeWithTheWrongCookieIsRefused) {
  auto eo = c.erlang_options("a", c.files());
  eo.cookie = "not-the-cookie";
  auto erl = start_erlang(eo);
  const auto line = refused_from_erlang(*erl);
  EXPECT_NE(line.find("claiming 'a@localhost'"), std::string::npos) << line;
  EXPECT_NE(line.find("wrong cookie"), std::string::npos) << line;
}

TEST_F(InteropRefusal, AnErlangNodeWithACertificateFromAnotherCaIsRefused) {
  test::test_ca other(c.dir.path() / "other-ca", pki::key_type::ecdsa_p256, "another CA");
  auto leaf = other.issue("localhost", pki::key_type::ecdsa_p256, {"DNS:localhost"});
  // It trusts the cluster's CA, so it would accept the moat node's certificate.
  auto eo = c.erlang_options(
      "a", {.certfile = leaf.certfile, .keyfile = leaf.keyfile, .cacertfile = c.ca.certfile()});
  auto erl = start_erlang(eo);
  const auto line = refused_from_erlang(*erl);
  EXPECT_NE(line.find("from 127.0.0.1:"), std::string::npos) << line;
  EXPECT_NE(line.find("TLS handshake"), std::string::npos) << line;
}

TEST_F(InteropRefusal, AnErlangNodeWhoseCertificateDoesNotNameItsHostIsRefused) {
  // A certificate of the right CA, for another host: Erlang's own server takes it (it checks
  // only the chain), the moat node binds the node name to it and refuses.
  auto erl = start_erlang(c.erlang_options("a", files_naming("otherhost")));
  auto good = start_erlang(c.erlang_options("b", c.files()));
  EXPECT_EQ(erl->eval("net_adm:ping('b@localhost')"), "pong") << erl->output();
  EXPECT_EQ(erl->eval("erlang:disconnect_node('b@localhost')"), "true");
  const auto line = refused_from_erlang(*erl);
  EXPECT_NE(line.find("claiming 'a@localhost'"), std::string::npos) << line;
  EXPECT_NE(line.find("DNS:otherhost, not 'localhost'"), std::string::npos) << line;
}

TEST_F(InteropRefusal, AnErlangNodeThatPresentsNoClientCertificateIsRefused) {
  // The client side of its optfile has no certificate; the server side has one.
  const auto f = c.files();
  const auto optfile = c.dir.path() / "no-client-cert.conf";
  test::write_file(optfile, "[{server, [{certfile, " + test::erlang_string(f.certfile.string()) +
                                "}, {keyfile, " + test::erlang_string(f.keyfile.string()) +
                                "}, {cacertfile, " + test::erlang_string(f.cacertfile.string()) +
                                "}, {verify, verify_peer}, {fail_if_no_peer_cert, true}, "
                                "{secure_renegotiate, true}]},\n"
                                " {client, [{cacertfile, " +
                                test::erlang_string(f.cacertfile.string()) +
                                "}, {verify, verify_peer}, {secure_renegotiate, true}]}].\n");
  auto eo = c.erlang_options("a", f);
  eo.tls.reset();
  eo.optfile = optfile;
  auto erl = start_erlang(eo);
  const auto line = refused_from_erlang(*erl);
  EXPECT_NE(line.find("from 127.0.0.1:"), std::string::npos) << line;
  EXPECT_NE(line.find("TLS handshake"), std::string::npos) << line;
}

TEST_F(InteropRefusal, APlainTcpErlangNodeDialingTheTlsMoatNodeIsRefused) {
  auto eo = c.erlang_options("a", c.files());
  eo.tls.reset();
  eo.proto = test::dist_proto::tcp;
  auto erl = start_erlang(eo);
  const auto line = refused_from_erlang(*erl);
  EXPECT_NE(line.find("from 127.0.0.1:"), std::string::npos) << line;
  EXPECT_NE(line.find("TLS handshake"), std::string::npos) << line;
}

TEST_F(InteropRefusal, TheMoatNodeRefusesToDialAnErlangNodeWhoseCertificateDoesNotNameItsHost) {
  auto erl = start_erlang(c.erlang_options("a", files_naming("otherhost")));
  EXPECT_TRUE(moat->send(destination("test_inbox", "a@localhost"), atom("leaked")));
  EXPECT_FALSE(moat->ping("a@localhost", 5s));
  ASSERT_TRUE(log.wait_for("could not connect to 'a@localhost'"));
  const auto lines = log.lines("could not connect");
  ASSERT_EQ(lines.size(), 1U) << ::testing::PrintToString(lines);
  EXPECT_NE(lines[0].find("TLS connection"), std::string::npos) << lines[0];
  EXPECT_EQ(erl->eval("test_inbox:count()"), "0");
  expect_nothing_delivered(*erl);
}

}  // namespace
}  // namespace moat::dist
