// The real-node fixture (tests/support/erlang_node.hpp) against itself: Erlang and Elixir nodes
// over TLS distribution with certificates from `moat cert ca` / `moat cert issue`, verifying
// each other (verify_peer, fail_if_no_peer_cert). These also prove the optfile shape that
// docs/dist.md ("Certificates for a cluster") shows.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/erlang_node.hpp"

namespace moat {
namespace {

using namespace std::chrono_literals;

/// A cluster CA made with the moat binary, and node certificates it issues.
struct cluster_ca {
  const test::temp_dir& dir;
  std::string stem;
  int issued = 0;

  cluster_ca(const test::temp_dir& d, std::string s) : dir(d), stem(std::move(s)) {
    run({"cert", "ca", "--cn", stem + " CA", "--out-cert", path(stem + "-ca.pem"), "--out-key",
         path(stem + "-ca.key")});
  }
  [[nodiscard]] std::string path(const std::string& n) const { return (dir / n).string(); }
  static void run(std::vector<std::string> args) {
    args.insert(args.begin(), MOAT_BINARY);
    const auto r = test::run_process(std::move(args), 30s);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  /// A node certificate (server and client auth) for `san` (default: the CN), as the TLS
  /// files of an optfile that trusts this CA.
  [[nodiscard]] test::dist_tls_files node(const std::string& name, const std::string& san = {}) {
    const std::string file = stem + "-" + std::to_string(++issued);
    std::vector<std::string> args{"cert",
                                  "issue",
                                  "--ca-cert",
                                  path(stem + "-ca.pem"),
                                  "--ca-key",
                                  path(stem + "-ca.key"),
                                  "--cn",
                                  name,
                                  "--client-auth",
                                  "--out-cert",
                                  path(file + ".pem"),
                                  "--out-key",
                                  path(file + ".key")};
    if (!san.empty()) args.insert(args.end(), {"--san", san});
    run(args);
    return {.certfile = path(file + ".pem"),
            .keyfile = path(file + ".key"),
            .cacertfile = path(stem + "-ca.pem")};
  }
};

struct erlang_fixture : ::testing::Test {
  test::temp_dir dir;
  test::epmd epmd;
  cluster_ca ca{dir, "main"};

  test::erlang_node_options tls_node(const std::string& name, test::dist_tls_files files) {
    return {.name = name, .tls = std::move(files), .epmd_port = epmd.port()};
  }
  static void ready(test::erlang_node& n) { ASSERT_TRUE(n.wait_ready()) << n.output(); }
};

bool have_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

TEST_F(erlang_fixture, TwoErlangNodesPingAndMessageEachOtherOverMutuallyVerifiedTls) {
  test::erlang_node a(tls_node("a", ca.node("localhost")));
  test::erlang_node b(tls_node("b", ca.node("localhost")));
  ready(a);
  ready(b);
  EXPECT_NE(epmd.names().find("name a at port"), std::string::npos) << epmd.names();
  EXPECT_EQ(a.eval("net_adm:ping('b@localhost')"), "pong") << a.output() << b.output();
  EXPECT_EQ(a.eval("gen_server:call({erl_echo, 'b@localhost'}, {hello, <<\"x\">>})"),
            "{hello,<<\"x\">>}");
  EXPECT_EQ(a.eval("gen_server:cast({erl_echo, 'b@localhost'}, c1)"), "ok");
  EXPECT_EQ(b.eval("gen_server:call(erl_echo, get_last_cast)"), "c1");
  EXPECT_EQ(a.eval("{test_inbox, 'b@localhost'} ! {hi, node()}"), "{hi,a@localhost}");
  EXPECT_EQ(b.eval("test_inbox:take(5000)"), "{ok,{hi,a@localhost}}");
  EXPECT_EQ(b.eval("test_inbox:take(50)"), "timeout");
  // The connection is the TLS one the optfile describes.
  EXPECT_EQ(b.eval("init:get_argument(proto_dist)"), "{ok,[[\"inet_tls\"]]}");
  EXPECT_EQ(b.eval("nodes()"), "[a@localhost]");
}

TEST_F(erlang_fixture, ANodeWithACertificateFromAnotherCaIsRefusedBothWays) {
  cluster_ca other{dir, "other"};
  auto stranger_files = other.node("localhost");
  stranger_files.cacertfile = ca.path("main-ca.pem");  // it would trust us; we do not trust it
  test::erlang_node a(tls_node("a", ca.node("localhost")));
  test::erlang_node stranger(tls_node("stranger", stranger_files));
  ready(a);
  ready(stranger);
  EXPECT_EQ(stranger.eval("net_adm:ping('a@localhost')"), "pang");  // a refuses its client cert
  EXPECT_EQ(a.eval("net_adm:ping('stranger@localhost')"), "pang");  // a refuses its server cert
  EXPECT_EQ(a.eval("nodes()"), "[]");
}

TEST_F(erlang_fixture, TheClientChecksTheHostPartOfTheNodeNameAgainstTheCertificate) {
  test::erlang_node a(tls_node("a", ca.node("localhost")));
  test::erlang_node wrong(tls_node("wrong", ca.node("otherhost")));
  ready(a);
  ready(wrong);
  EXPECT_EQ(a.eval("net_adm:ping('wrong@localhost')"), "pang");
  // The other way round the name is not checked: a server does not check its client's host.
  EXPECT_EQ(wrong.eval("net_adm:ping('a@localhost')"), "pong");
}

TEST_F(erlang_fixture, AnElixirNodePingsAnErlangNodeOverTls) {
  auto o = tls_node("ex", ca.node("localhost"));
  o.kind = test::node_kind::elixir;
  test::erlang_node ex(o);
  test::erlang_node a(tls_node("a", ca.node("localhost")));
  ready(ex);
  ready(a);
  EXPECT_EQ(ex.eval_elixir("Node.ping(:\"a@localhost\")"), "pong") << ex.output();
  EXPECT_EQ(ex.eval_elixir("GenServer.call({:erl_echo, :\"a@localhost\"}, {:from, \"elixir\"})"),
            "{from,<<\"elixir\">>}");
  EXPECT_EQ(a.eval("gen_server:call({erl_echo, 'ex@localhost'}, 42)"), "42");
  EXPECT_EQ(ex.eval("is_binary('Elixir.System':version())"), "true");
}

TEST_F(erlang_fixture, LongNamesWithAnAddressNeedTheIpMatchFunctionOnTheClient) {
  auto with_match = ca.node("127.0.0.1");
  with_match.match_ip_addresses = true;
  auto without_match = ca.node("127.0.0.1");
  auto a_opts = tls_node("a", with_match);
  auto b_opts = tls_node("b", with_match);
  auto c_opts = tls_node("c", without_match);
  for (auto* o : {&a_opts, &b_opts, &c_opts}) o->long_names = true;
  test::erlang_node a(a_opts);
  test::erlang_node b(b_opts);
  test::erlang_node c(c_opts);
  ready(a);
  ready(b);
  ready(c);
  EXPECT_EQ(a.eval("net_adm:ping('b@127.0.0.1')"), "pong") << a.output();
  EXPECT_EQ(c.eval("net_adm:ping('a@127.0.0.1')"), "pang");  // "127.0.0.1" checked as a DNS name
}

TEST_F(erlang_fixture, Ipv6NodesConnectOverInet6Tls) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
  auto files = ca.node("ip6", "IP:::1");
  files.match_ip_addresses = true;
  auto a_opts = tls_node("a", files);
  auto b_opts = tls_node("b", files);
  for (auto* o : {&a_opts, &b_opts}) {
    o->long_names = true;
    o->proto = test::dist_proto::tls6;
  }
  test::erlang_node a(a_opts);
  test::erlang_node b(b_opts);
  ready(a);
  ready(b);
  EXPECT_EQ(a.node_name(), "a@::1");
  EXPECT_EQ(a.eval("net_adm:ping('b@::1')"), "pong") << a.output() << b.output();
}

// Erlang's distribution (OTP 25) uses TLS 1.2 alone unless the optfile lists versions.
TEST_F(erlang_fixture, TlsVersionsAreTheOptfilesAndTls12AloneWithoutThem) {
  auto v13 = ca.node("localhost");
  v13.versions = {"tlsv1.3"};
  auto v12_13 = ca.node("localhost");
  v12_13.versions = {"tlsv1.2", "tlsv1.3"};
  test::erlang_node only13(tls_node("only13", v13));
  test::erlang_node both(tls_node("both", v12_13));
  test::erlang_node unlisted(tls_node("unlisted", ca.node("localhost")));
  ready(only13);
  ready(both);
  ready(unlisted);
  EXPECT_EQ(both.eval("net_adm:ping('only13@localhost')"), "pong") << both.output();
  EXPECT_EQ(both.eval("net_adm:ping('unlisted@localhost')"), "pong") << both.output();
  EXPECT_EQ(unlisted.eval("net_adm:ping('only13@localhost')"), "pang");
  EXPECT_EQ(test::dist_optfile_text(v13).find("secure_renegotiate"), std::string::npos);
}

TEST_F(erlang_fixture, EvalReportsErrorsAndTimeoutsAndTheNodeStopsOrDiesOnRequest) {
  test::erlang_node a({.name = "a", .proto = test::dist_proto::tcp, .epmd_port = epmd.port()});
  test::erlang_node b({.name = "b", .proto = test::dist_proto::tcp, .epmd_port = epmd.port()});
  ready(a);
  ready(b);
  EXPECT_EQ(a.eval("1/0"), "{error,{error,badarith}}");
  EXPECT_EQ(a.eval("X = 20,\nX + 22."), "42");
  EXPECT_EQ(a.eval("timer:sleep(infinity)", 200ms), "{error,eval_timeout}");
  EXPECT_EQ(a.eval("lists:seq(1, 3)"), "[1,2,3]");  // the sleeping evaluation blocks nothing
  EXPECT_NE(a.eval("foo(").find("{error,"), std::string::npos);
  EXPECT_EQ(a.eval("gen_server:call({erl_echo, 'b@localhost'}, {sleep, 50, late})"), "late");
  ASSERT_EQ(a.eval("net_adm:ping('b@localhost')"), "pong");
  // A process that watches b and hands its nodedown to the inbox.
  EXPECT_EQ(a.eval("Self = self(), spawn(fun() -> monitor_node('b@localhost', true), Self ! "
                   "watching, receive M -> test_inbox ! M end end), receive watching -> ok end"),
            "ok");
  b.kill9();
  EXPECT_EQ(a.eval("test_inbox:take(5000)"), "{ok,{nodedown,b@localhost}}");
  EXPECT_EQ(b.eval("ok"), "{error,node_exited}");
  EXPECT_EQ(a.stop(), 0);
}

}  // namespace
}  // namespace moat
