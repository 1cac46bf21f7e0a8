// How a moat node and a real Erlang node reach each other: the TLS version each side allows
// (the moat side's key log tells which one was negotiated), IPv6 (inet6_tls), and EPMD -- the
// real epmd and the moat node's embedded one.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "dist/interop_fixture.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// The labels of the NSS key-log lines a node's TLS sessions wrote: a TLS 1.3 handshake writes
// CLIENT_HANDSHAKE_TRAFFIC_SECRET and the other traffic secrets, a TLS 1.2 one CLIENT_RANDOM.
// The secrets themselves are dropped at once.
class keylog_labels {
 public:
  [[nodiscard]] tls::keylog_callback callback() {
    return [st = state_](std::string_view line) {
      const std::lock_guard lock(st->mu);
      st->labels.emplace_back(line.substr(0, line.find(' ')));
    };
  }
  [[nodiscard]] bool saw(const std::string& label) const {
    const std::lock_guard lock(state_->mu);
    return std::find(state_->labels.begin(), state_->labels.end(), label) != state_->labels.end();
  }
  void clear() {
    const std::lock_guard lock(state_->mu);
    state_->labels.clear();
  }
  /// "1.3", "1.2", or what was seen.
  [[nodiscard]] std::string version() const {
    const bool v13 = saw("CLIENT_HANDSHAKE_TRAFFIC_SECRET");
    const bool v12 = saw("CLIENT_RANDOM");
    if (v13 && !v12) return "1.3";
    if (v12 && !v13) return "1.2";
    return v12 ? "both" : "none";
  }

 private:
  struct shared {
    std::mutex mu;
    std::vector<std::string> labels;
  };
  std::shared_ptr<shared> state_ = std::make_shared<shared>();
};

struct InteropTls : testing::interop {
  keylog_labels keys;

  /// Starts the moat node allowing `versions` (empty: its default, 1.3 and 1.2) and an Erlang
  /// node `a` whose optfile lists `erlang_versions` (empty: Erlang's default for
  /// distribution).
  std::unique_ptr<test::erlang_node> start_pair(std::vector<tls::version> versions,
                                                std::vector<std::string> erlang_versions) {
    auto o = options();
    o.server.versions = versions;
    o.client.versions = versions;
    o.server.keylog = keys.callback();
    o.client.keylog = keys.callback();
    start_moat(std::move(o));
    auto files = c.files();
    files.versions = std::move(erlang_versions);
    return start_erlang(c.erlang_options("a", files));
  }

  /// Erlang dials and pings, then the connection is dropped and the moat node dials: the
  /// TLS version each connection negotiated, "accepted/dialled".
  std::string versions_both_ways(test::erlang_node& erl) {
    keys.clear();
    EXPECT_EQ(erl.eval("net_adm:ping('m@localhost')"), "pong") << erl.output();
    const std::string accepted = keys.version();
    EXPECT_EQ(erl.eval("erlang:disconnect_node('m@localhost')"), "true");
    // The down event comes after the node has dropped what hung on the old connection.
    EXPECT_TRUE(testing::eventually(
        [&] { return events.count(node_event::kind::down, "a@localhost") == 1; }));
    keys.clear();
    EXPECT_TRUE(moat->ping("a@localhost")) << erl.output();
    EXPECT_EQ(erl.eval("nodes()"), "[m@localhost]");
    return accepted + "/" + keys.version();
  }
};

TEST_F(InteropTls, TlsOneThreeAloneOnBothSidesConnectsBothWaysOverTlsOneThree) {
  auto erl = start_pair({tls::version::tls1_3}, {"tlsv1.3"});
  EXPECT_EQ(versions_both_ways(*erl), "1.3/1.3");
}

TEST_F(InteropTls, TlsOneTwoAloneOnBothSidesConnectsBothWaysOverTlsOneTwo) {
  auto erl = start_pair({tls::version::tls1_2}, {"tlsv1.2"});
  EXPECT_EQ(versions_both_ways(*erl), "1.2/1.2");
}

TEST_F(InteropTls, ErlangsDefaultForDistributionMeetsTheMoatDefaultOnTlsOneTwo) {
  auto erl = start_pair({}, {});
  EXPECT_EQ(versions_both_ways(*erl), "1.2/1.2");
}

TEST_F(InteropTls, AnErlangNodeListingBothVersionsMeetsTheMoatDefaultOnTlsOneThree) {
  auto erl = start_pair({}, {"tlsv1.2", "tlsv1.3"});
  EXPECT_EQ(versions_both_ways(*erl), "1.3/1.3");
}

TEST_F(InteropTls, AMoatNodeAllowingOnlyTlsOneThreeRefusesAnErlangNodeOnlyOnTlsOneTwo) {
  auto erl = start_pair({tls::version::tls1_3}, {"tlsv1.2"});
  testing::moat_inbox inbox(*moat, "inbox");
  // Erlang dials: the TLS handshake fails, the message waiting for the connection is lost.
  EXPECT_EQ(erl->eval("{inbox, 'm@localhost'} ! leaked, net_adm:ping('m@localhost')"), "pang");
  ASSERT_TRUE(log.wait_for("refused a connection"));
  const auto refused = log.lines("refused a connection");
  ASSERT_EQ(refused.size(), 1U);
  EXPECT_NE(refused[0].find("127.0.0.1:"), std::string::npos) << refused[0];
  EXPECT_NE(refused[0].find("TLS handshake"), std::string::npos) << refused[0];
  // The moat node dials: refused by the Erlang server.
  EXPECT_FALSE(moat->ping("a@localhost", 5s));
  ASSERT_TRUE(log.wait_for("could not connect to 'a@localhost'"));
  EXPECT_EQ(log.lines("could not connect").size(), 1U);
  EXPECT_EQ(inbox.count(), 0U);
  EXPECT_EQ(moat->stats().messages_in, 0U);
  EXPECT_TRUE(moat->nodes().empty());
  EXPECT_EQ(erl->eval("nodes()"), "[]");
  EXPECT_EQ(events.count(node_event::kind::up, "a@localhost"), 0U);
}

struct InteropNet : testing::interop {};

// ---- IPv6 ----------------------------------------------------------------------------------

bool have_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

struct InteropIpv6 : testing::interop {
  std::unique_ptr<test::erlang_node> erl;

  void SetUp() override {
    if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
    auto files = c.files("::1");
    files.match_ip_addresses = true;
    auto o = c.moat_options("m", files);
    o.name = "m@::1";
    o.mode = name_mode::long_names;
    o.ipv6 = true;
    o.logger = log.logger();
    o.on_event = events.callback();
    start_moat(std::move(o));
    auto eo = c.erlang_options("a", files);
    eo.long_names = true;
    eo.proto = test::dist_proto::tls6;
    erl = start_erlang(eo);
    ASSERT_EQ(erl->node_name(), "a@::1");
  }
};

TEST_F(InteropIpv6, AnIpv6MoatNodeDialsAnInet6TlsErlangNodeOverLoopback) {
  EXPECT_TRUE(moat->ping("a@::1")) << erl->output();
  EXPECT_EQ(erl->eval("nodes()"), "['m@::1']");
  EXPECT_EQ(erl->eval("{echo, 'm@::1'} ! {self(), over_ipv6}, receive X -> X after 5000 -> "
                      "timeout end"),
            "over_ipv6");
  EXPECT_EQ(events.count(node_event::kind::up, "a@::1"), 1U);
}

// Erlang's inet6_tls_dist sends the host part of the node name it dials as SNI: '::1' for
// 'm@::1'. RFC 6066 allows only host names there, and GnuTLS (moat's TLS library) refuses an
// IPv6 address with illegal_parameter -- it cannot be told not to. The refusal is logged once,
// saying so; nothing is delivered.
TEST_F(InteropIpv6, AnInet6TlsErlangNodeDialingAnIpv6LiteralNameIsRefusedWithAReasonSayingWhy) {
  EXPECT_EQ(erl->eval("net_adm:ping('m@::1')"), "pang");
  ASSERT_TRUE(log.wait_for("connect by host name"));
  EXPECT_EQ(log.lines("refused a connection from [::1]:").size(), 1U);
  EXPECT_EQ(moat->stats().messages_in, 0U);
  EXPECT_EQ(events.count(node_event::kind::up, "a@::1"), 0U);
}

// Named by a host name that resolves to ::1 (for the Erlang node, through an inetrc file), an
// inet6_tls Erlang node dials a moat node over IPv6.
TEST_F(InteropNet, AnInet6TlsErlangNodeDialsAMoatNodeNamedByAHostNameOverIpv6) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
  const std::string host = "moat6.test";
  auto moat_leaf = c.ca.issue(host, pki::key_type::ecdsa_p256, {"DNS:" + host});
  auto erl_files = c.files("::1");
  erl_files.match_ip_addresses = true;
  auto mf = erl_files;
  mf.certfile = moat_leaf.certfile;
  mf.keyfile = moat_leaf.keyfile;
  auto o = c.moat_options("m", mf);
  o.name = "m@" + host;
  o.mode = name_mode::long_names;
  o.ipv6 = true;
  o.logger = log.logger();
  start_moat(std::move(o));
  const auto inetrc = c.dir.path() / "inetrc";
  {
    std::ofstream f(inetrc);
    f << "{host, {0,0,0,0,0,0,0,1}, [\"" << host << "\"]}.\n{lookup, [file, native]}.\n";
  }
  auto eo = c.erlang_options("a", erl_files);
  eo.long_names = true;
  eo.name = "a@::1";
  eo.proto = test::dist_proto::tls6;
  eo.extra_args = {"-kernel", "inetrc", "\"" + inetrc.string() + "\""};
  auto erl = start_erlang(eo);
  EXPECT_EQ(erl->eval("net_adm:ping('m@moat6.test')"), "pong") << erl->output();
  EXPECT_EQ(erl->eval("{echo, 'm@moat6.test'} ! {self(), over_ipv6}, receive X -> X after 5000 "
                      "-> timeout end"),
            "over_ipv6");
  EXPECT_TRUE(log.wait_for("connected to 'a@::1' ([::1]:"));
}

// ---- EPMD ----------------------------------------------------------------------------------

TEST_F(InteropNet, BothNodesRegisterWithTheRealEpmdAndFindEachOtherThroughIt) {
  start_moat(options());
  auto erl = start_erlang(c.erlang_options("a", c.files()));
  const auto names = c.epmd.names();
  EXPECT_NE(names.find("name m at port " + std::to_string(moat->port())), std::string::npos)
      << names;
  EXPECT_NE(names.find("name a at port"), std::string::npos) << names;
  EXPECT_EQ(erl->eval("net_adm:ping('m@localhost')"), "pong");
  EXPECT_EQ(erl->eval("erlang:disconnect_node('m@localhost')"), "true");
  ASSERT_TRUE(testing::eventually(
      [&] { return events.count(node_event::kind::down, "a@localhost") == 1; }));
  EXPECT_TRUE(moat->ping("a@localhost"));
}

TEST_F(InteropNet, AnErlangNodeRegistersWithTheMoatNodesEmbeddedEpmdAndBothPing) {
  auto o = options();
  o.epmd_port = test::free_port();  // no epmd listens there: the node starts its own
  o.start_epmd = true;
  start_moat(o);
  auto eo = c.erlang_options("a", c.files());
  eo.epmd_port = *o.epmd_port;
  auto erl = start_erlang(eo);

  // Erlang asks the embedded EPMD for the names it knows.
  const auto names = erl->eval("{ok, Ns} = net_adm:names(), lists:sort([N || {N, _} <- Ns])");
  EXPECT_EQ(names, "[\"a\",\"m\"]") << erl->output();
  EXPECT_EQ(erl->eval("net_adm:ping('m@localhost')"), "pong") << erl->output();
  EXPECT_EQ(erl->eval("erlang:disconnect_node('m@localhost')"), "true");
  ASSERT_TRUE(testing::eventually(
      [&] { return events.count(node_event::kind::down, "a@localhost") == 1; }));
  EXPECT_TRUE(moat->ping("a@localhost")) << erl->output();
  // The private epmd of the cluster never heard of either.
  EXPECT_EQ(c.epmd.names().find("name m "), std::string::npos);
  EXPECT_EQ(c.epmd.names().find("name a "), std::string::npos);
}

}  // namespace
}  // namespace moat::dist
