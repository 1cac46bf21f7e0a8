// `moat node start | ping | send | names` as real processes, with real Erlang nodes and a
// private epmd per test.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "support/erlang_node.hpp"
#include "support/support.hpp"

namespace moat {
namespace {

using namespace std::chrono_literals;

struct node_command : ::testing::Test {
  test::temp_dir dir;
  test::epmd epmd;
  test::test_ca ca{dir / "ca"};
  test::dist_tls_files files;
  std::filesystem::path optfile = dir / "ssl_dist.conf";
  std::string cookie = "moat-test-cookie";

  void SetUp() override {
    if (!test::have_program("erl")) GTEST_SKIP() << "no erl";
    auto leaf = ca.issue("localhost", pki::key_type::ecdsa_p256, {"DNS:localhost"});
    files = {.certfile = leaf.certfile, .keyfile = leaf.keyfile, .cacertfile = ca.certfile()};
    test::write_dist_optfile(optfile, files);
  }

  // The flags that connect to the test's cluster.
  std::vector<std::string> cluster_flags() const {
    return {"--cookie",       cookie,        "--dist-optfile",
            optfile.string(), "--epmd-port", std::to_string(epmd.port())};
  }

  std::vector<std::string> moat(std::vector<std::string> args, bool with_cluster = true) const {
    std::vector<std::string> argv{MOAT_BINARY, "node"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (with_cluster) {
      const auto f = cluster_flags();
      argv.insert(argv.end(), f.begin(), f.end());
    }
    return argv;
  }

  std::unique_ptr<test::erlang_node> erlang(const std::string& name) {
    auto n = std::make_unique<test::erlang_node>(
        test::erlang_node_options{.name = name, .optfile = optfile, .epmd_port = epmd.port()});
    EXPECT_TRUE(n->wait_ready()) << n->output();
    return n;
  }
};

TEST_F(node_command, AnErlangNodePingsMoatNodeStartAndTalksToItsEchoAndSink) {
  test::child_process m(moat({"start", "--name", "m@localhost", "--no-epmd"}));
  ASSERT_TRUE(m.wait_for_output("node m@localhost up on port")) << m.output();
  auto a = erlang("a");
  EXPECT_EQ(a->eval("net_adm:ping('m@localhost')"), "pong") << a->output() << m.output();
  EXPECT_EQ(a->eval("{echo, 'm@localhost'} ! {self(), {hello, <<\"bin\">>, [1,2|3], #{k => 1.5}}}, "
                    "receive X -> X after 5000 -> timeout end"),
            "{hello,<<\"bin\">>,[1,2|3],#{k => 1.5}}");
  EXPECT_EQ(a->eval("gen_server:call({echo, 'm@localhost'}, {question, 42})"), "{question,42}");
  EXPECT_EQ(a->eval("[{sink, 'm@localhost'} ! N || N <- [1, 2, 3]], "
                    "gen_server:call({sink, 'm@localhost'}, count)"),
            "3");
  m.kill(SIGTERM);
  EXPECT_EQ(m.wait(test::scaled(15s)), 0) << m.output();
  EXPECT_NE(m.output().find("SIGTERM: stopping node m@localhost"), std::string::npos) << m.output();
}

TEST_F(node_command, MoatNodeStartTakesTheTlsOptionsFromTomlAndTheCookieFromAFile) {
  const auto toml = dir / "dist.toml";
  test::write_file(toml, "[server]\ncertfile = \"" + files.certfile.string() + "\"\nkeyfile = \"" +
                             files.keyfile.string() + "\"\ncacertfile = \"" +
                             files.cacertfile.string() + "\"\nversions = [\"tlsv1.2\"]\n");
  test::write_file(dir / "cookie", cookie + "\n");
  test::child_process m({MOAT_BINARY, "node", "start", "--name", "t", "--cookie-file",
                         (dir / "cookie").string(), "--config", toml.string(), "--epmd-port",
                         std::to_string(epmd.port()), "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(m.wait_for_output(" up on port")) << m.output();
  // `--name t` takes this host's name, as erl -sname does.
  const auto names = epmd.names();
  EXPECT_NE(names.find("name t at port"), std::string::npos) << names;
  m.kill(SIGINT);
  EXPECT_EQ(m.wait(test::scaled(15s)), 0) << m.output();
}

TEST_F(node_command, MoatNodePingSaysPongForAnErlangNodeAndPangForAMissingOne) {
  auto a = erlang("a");
  const auto pong = test::run_process(moat({"ping", "a@localhost"}));
  EXPECT_EQ(pong.status, 0) << pong.output;
  EXPECT_NE(pong.output.find("pong"), std::string::npos) << pong.output;
  // The pinging node was hidden: it does not stay among the Erlang node's visible nodes.
  EXPECT_EQ(a->eval("nodes()"), "[]");

  const auto pang = test::run_process(moat({"ping", "nobody@localhost"}));
  EXPECT_EQ(pang.status, 1) << pang.output;
  EXPECT_NE(pang.output.find("pang"), std::string::npos) << pang.output;
}

TEST_F(node_command, MoatNodeSendDeliversATermWrittenInErlangSyntax) {
  auto a = erlang("a");
  const auto r = test::run_process(
      moat({"send", "a@localhost", "test_inbox",
            "{hello, <<\"bin\">>, [1, 2 | 3], #{k => 1.5}, \"text\", 'Quoted atom', 16#ff}."}));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(a->eval("test_inbox:take(5000)"),
            "{ok,{hello,<<\"bin\">>,[1,2|3],#{k => 1.5},\"text\",'Quoted atom',255}}");

  const auto missing = test::run_process(moat({"send", "nobody@localhost", "test_inbox", "x"}));
  EXPECT_EQ(missing.status, 1) << missing.output;
  EXPECT_NE(missing.output.find("nobody@localhost: not reachable"), std::string::npos)
      << missing.output;
}

TEST_F(node_command, MoatNodeNamesListsTheNamesOfAnEpmdAsEpmdDoes) {
  auto a = erlang("a");
  auto b = erlang("b");
  const auto r = test::run_process(
      {MOAT_BINARY, "node", "names", "localhost", "--epmd-port", std::to_string(epmd.port())});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("name a at port [0-9]+\n"))) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("name b at port [0-9]+\n"))) << r.output;
  // The same lines as epmd -names prints.
  const auto theirs = epmd.names();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(theirs, m, std::regex("name a at port [0-9]+"))) << theirs;
  EXPECT_NE(r.output.find(m.str()), std::string::npos) << r.output << theirs;

  // ERL_EPMD_PORT is honoured without --epmd-port.
  const auto env = test::run_process(
      {"bash", "-c", "ERL_EPMD_PORT=" + std::to_string(epmd.port()) + " exec \"$0\" node names",
       MOAT_BINARY});
  EXPECT_EQ(env.status, 0) << env.output;
  EXPECT_NE(env.output.find(m.str()), std::string::npos) << env.output;

  // No EPMD there: a runtime failure saying so.
  const auto none = test::run_process(
      {MOAT_BINARY, "node", "names", "--epmd-port", std::to_string(test::free_port())});
  EXPECT_EQ(none.status, 1) << none.output;
}

TEST_F(node_command, BadFlagsExitWithCode2NamingTheFlagOrFile) {
  const std::string opt = optfile.string();
  const std::string ep = std::to_string(epmd.port());
  struct bad_case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<bad_case> cases{
      {{"start", "--cookie", "c", "--dist-optfile", opt}, "--name"},
      {{"start", "--name", "m", "--cookie", "c", "--epmd-port", "0", "--dist-optfile", opt},
       "--epmd-port"},
      {{"start", "--name", "m", "--cookie", "c", "--net-ticktime", "0", "--dist-optfile", opt},
       "--net-ticktime"},
      {{"start", "--name", "m", "--cookie", "c", "--epmd-port", ep}, "--dist-optfile"},
      {{"start", "--name", "m", "--cookie", "c", "--dist-optfile", "/nonexistent/ssl.conf"},
       "ssl_dist_optfile '/nonexistent/ssl.conf'"},
      {{"start", "--name", "m", "--cookie", "c", "--config", "/nonexistent/dist.toml"},
       "config '/nonexistent/dist.toml'"},
      {{"start", "--name", "m", "--cookie", "c", "--dist-optfile", opt, "--config", "x.toml"},
       "--config"},
      {{"start", "--name", "m", "--cookie", "c", "--cookie-file", "f", "--dist-optfile", opt},
       "--cookie"},
      {{"start", "--name", "m", "--cookie-file", "/nonexistent/cookie", "--dist-optfile", opt},
       "--cookie-file '/nonexistent/cookie'"},
      {{"start", "--name", "m@host.example.com", "--cookie", "c", "--dist-optfile", opt}, "--name"},
      {{"start", "--name", "bad name", "--cookie", "c", "--dist-optfile", opt}, "--name"},
      {{"start", "--name", "m", "--cookie", "c", "--dist-optfile", opt, "--listen", "nowhere"},
       "--listen 'nowhere'"},
      {{"start", "--name", "m", "--cookie", "c", "--dist-optfile", opt, "--listen", "host:1"},
       "--listen 'host:1'"},
      {{"ping", "no-host", "--cookie", "c", "--dist-optfile", opt}, "NODE 'no-host'"},
      {{"send", "a@localhost", "inbox", "{unclosed", "--cookie", "c", "--dist-optfile", opt},
       "TERM '{unclosed'"},
      {{"names", "--epmd-port", "70000"}, "--epmd-port"},
      {{"start", "--name", "m", "--frobnicate"}, "--frobnicate"},
  };
  for (const auto& c : cases) {
    const auto r = test::run_process(moat(c.args, false));
    EXPECT_EQ(r.status, 2) << c.says << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.says << "\n" << r.output;
  }
  // A bad optfile names the file and the option.
  test::write_file(dir / "bad.conf", "[{server, [{verify_fun, {fun m:f/3, []}}]}].");
  const auto r = test::run_process(
      moat({"ping", "a@localhost", "--cookie", "c", "--dist-optfile", (dir / "bad.conf").string()},
           false));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("bad.conf': server: verify_fun"), std::string::npos) << r.output;
  // A bad ERL_EPMD_PORT names it.
  const auto env =
      test::run_process({"bash", "-c", "ERL_EPMD_PORT=nope exec \"$0\" node names", MOAT_BINARY});
  EXPECT_EQ(env.status, 2) << env.output;
  EXPECT_NE(env.output.find("ERL_EPMD_PORT"), std::string::npos) << env.output;
}

}  // namespace
}  // namespace moat
