// `moat serve` as a real process: defaults, signals, loud configuration errors, the Erlang
// recipe's client, and descriptor exhaustion.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <moat/tls/socket.hpp>

#include "support/support.hpp"

namespace moat {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct serve : ::testing::Test {
  test::temp_dir dir;
  unsigned short port = test::free_port();
  std::string listen() const { return "127.0.0.1:" + std::to_string(port); }
  std::filesystem::path self_signed() const { return dir / "data" / "local-ca" / "ca.pem"; }

  std::unique_ptr<test::child_process> start(std::vector<std::string> args,
                                             const std::string& prefix = {}) {
    std::vector<std::string> argv;
    if (!prefix.empty()) {
      argv = {"bash", "-c", prefix + " exec \"$0\" \"$@\"", MOAT_BINARY};
    } else {
      argv = {MOAT_BINARY};
    }
    argv.emplace_back("serve");
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<test::child_process>(argv);
  }

  // One {packet,4} exchange with moat's client, returning the reply or the error and the
  // server certificate's fingerprint.
  std::pair<std::string, std::string> exchange(const std::filesystem::path& ca,
                                               const std::string& msg) {
    asio::io_context io;
    tls::options o;
    o.cacertfile = ca;
    tls::context ctx(tls::role::client, o);
    return test::run(io, [&]() -> asio::awaitable<std::pair<std::string, std::string>> {
      auto s = co_await tls::socket::connect(io.get_executor(), "localhost", port, ctx, 5s,
                                             {.packet = framing::packet_mode::u32});
      if (!s) co_return std::pair{"error: " + tls::format_error(s.error()), std::string()};
      (void)co_await s->send(msg);
      auto r = co_await s->recv(0, 5s);
      const auto fp = s->peer_certificate()->sha256_fingerprint();
      co_await s->close();
      co_return std::pair{r ? std::string(r->begin(), r->end()) : r.error().message(), fp};
    }());
  }
};

TEST_F(serve, RunsWithNoArgumentsOnPort7000AndSaysHowToReachIt) {
  auto p = start({"--workers", "1"}, "export MOAT_DATA_DIR=" + (dir / "data").string() + ";");
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  port = 7000;
  EXPECT_NE(
      p->output().find("moat connect localhost:7000 --packet 4 --cacert " + self_signed().string()),
      std::string::npos)
      << p->output();
  EXPECT_NE(p->output().find("made the certificate"), std::string::npos) << p->output();
  EXPECT_EQ(exchange(self_signed(), "ping").first, "ping");
  // IPv6 too.
  asio::io_context io;
  asio::ip::tcp::socket v6(io);
  boost::system::error_code ec;
  v6.connect({asio::ip::make_address("::1"), 7000}, ec);
  EXPECT_FALSE(ec) << ec.message();
  v6.close();
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(15s), 0) << p->output();

  // The next start reuses the certificate.
  const auto first = test::read_file(self_signed());
  const auto first_leaf = test::read_file(dir / "data" / "server" / "cert.pem");
  auto again = start({"--workers", "1"}, "export MOAT_DATA_DIR=" + (dir / "data").string() + ";");
  ASSERT_TRUE(again->wait_for_output("listener serve started")) << again->output();
  EXPECT_NE(again->output().find("reusing the certificate"), std::string::npos) << again->output();
  EXPECT_EQ(test::read_file(self_signed()), first);
  EXPECT_EQ(test::read_file(dir / "data" / "server" / "cert.pem"), first_leaf);
  again->kill(SIGTERM);
  EXPECT_EQ(again->wait(15s), 0);
}

TEST_F(serve, SigtermDrainsAndExitsZero) {
  auto p = start({"--listen", listen(), "--data-dir", (dir / "data").string()});
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  EXPECT_EQ(exchange(self_signed(), "x").first, "x");
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(15s), 0);
  EXPECT_NE(p->output().find("SIGTERM: draining"), std::string::npos) << p->output();
  EXPECT_NE(p->output().find("listener serve stopped"), std::string::npos) << p->output();
}

// The signal handlers are in place before the listener says it started: a supervisor that
// stops the server as soon as it is up gets the drain, not death by the signal.
TEST_F(serve, ASigtermTheMomentTheListenerHasStartedStillDrainsAndExitsZero) {
  for (int i = 0; i < 5; ++i) {
    auto p = start({"--listen", listen(), "--data-dir", (dir / "data").string()});
    ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
    p->kill(SIGTERM);
    ASSERT_EQ(p->wait(15s), 0) << "attempt " << i << "\n" << p->output();
  }
}

TEST_F(serve, SighupReloadsTheCertificateAndKeepsTheOldOneWhenTheNewOneIsBroken) {
  test::test_ca ca(dir / "ca");
  auto a = ca.issue("localhost");
  const auto cert = dir / "cert.pem";
  const auto key = dir / "key.pem";
  std::filesystem::copy_file(a.certfile, cert);
  std::filesystem::copy_file(a.keyfile, key);
  auto p = start({"--listen", listen(), "--cert", cert.string(), "--key", key.string()});
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  EXPECT_EQ(exchange(ca.certfile(), "1").second, a.cert.sha256_fingerprint());

  auto b = ca.issue("localhost");
  std::filesystem::copy_file(b.certfile, cert, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(b.keyfile, key, std::filesystem::copy_options::overwrite_existing);
  p->kill(SIGHUP);
  ASSERT_TRUE(p->wait_for_output("reloaded")) << p->output();
  EXPECT_EQ(exchange(ca.certfile(), "2").second, b.cert.sha256_fingerprint());

  test::write_file(cert, "not a certificate\n");
  p->kill(SIGHUP);
  ASSERT_TRUE(p->wait_for_output("reload rejected")) << p->output();
  EXPECT_NE(p->output().find(cert.string()), std::string::npos) << p->output();
  EXPECT_EQ(exchange(ca.certfile(), "3").second, b.cert.sha256_fingerprint());
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(15s), 0);
}

TEST_F(serve, ABadCertificateExitsTwoBeforeListeningNamingTheFileAndTheReason) {
  test::write_file(dir / "bad.pem",
                   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  auto p = start({"--listen", listen(), "--cert", (dir / "bad.pem").string()});
  EXPECT_EQ(p->wait(15s), 2) << p->output();
  EXPECT_NE(p->output().find((dir / "bad.pem").string()), std::string::npos) << p->output();
  EXPECT_NE(p->output().find("certfile"), std::string::npos) << p->output();
  EXPECT_EQ(p->output().find("listener serve started"), std::string::npos);

  auto missing = start({"--listen", listen(), "--cert", (dir / "nope.pem").string()});
  EXPECT_EQ(missing->wait(15s), 2);
  EXPECT_NE(missing->output().find("nope.pem"), std::string::npos) << missing->output();

  test::write_file(dir / "moat.toml", "listen = [\"" + listen() + "\"]\nworkerz = 3\n");
  auto typo = start({"--config", (dir / "moat.toml").string()});
  EXPECT_EQ(typo->wait(15s), 2);
  EXPECT_NE(typo->output().find("workerz"), std::string::npos) << typo->output();
}

TEST_F(serve, TheConfigFileCarriesTheSameSettingsAsTheFlags) {
  test::write_file(dir / "moat.toml", "listen = [\"" + listen() + "\"]\npacket = \"line\"\n" +
                                          "workers = 1\ndata_dir = \"" + (dir / "data").string() +
                                          "\"\nlog_format = \"json\"\n");
  auto p = start({"--config", (dir / "moat.toml").string()});
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  EXPECT_NE(p->output().find("\"level\":\"info\""), std::string::npos) << p->output();
  EXPECT_NE(p->output().find("packet line"), std::string::npos) << p->output();
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(15s), 0);
}

// Each bad value: the setting line, the key (or flag) and the accepted range the message must
// name.
struct bad_value {
  std::string line;  // in the config file
  std::string key;
  std::string accepted;
};

const std::vector<bad_value>& bad_values() {
  static const std::vector<bad_value> v{
      {"workers = -1", "workers", "from 0 to 1024"},
      {"max_connections = 1e30", "max_connections", "from 1 to 10000000"},
      {"handshake_timeout = nan", "handshake_timeout", "from 0.001 to 31536000"},
      {"workers = \"four\"", "workers", "from 0 to 1024"},
      {"max_connections = 0", "max_connections", "from 1 to 10000000"},
      {"max_connections = 2.5", "max_connections", "a whole number"},
      {"idle_timeout = -inf", "idle_timeout", "from 0 to 31536000"},
      {"shutdown_grace = inf", "shutdown_grace", "from 0 to 31536000"},
      {"handshake_timeout = \"5s\"", "handshake_timeout", "from 0.001 to 31536000"},
      {"verify_peer = 1", "verify_peer", "true or false"},
      {"packet = 3", "packet", "one of raw, 0, 1, 2, 4, line"},
      {"log_format = \"xml\"", "log_format", "one of text, json"},
      {"listen = [7000]", "listen", "an array of strings"},
  };
  return v;
}

TEST_F(serve, ABadValueInTheConfigFileExitsTwoNamingTheFileTheKeyAndTheAcceptedRange) {
  for (const auto& b : bad_values()) {
    SCOPED_TRACE(b.line);
    const auto file = dir / "moat.toml";
    const std::string good_listen =
        b.key == "listen" ? std::string() : "listen = [\"" + listen() + "\"]\n";
    test::write_file(
        file, good_listen + "data_dir = \"" + (dir / "data").string() + "\"\n" + b.line + "\n");
    auto p = start({"--config", file.string()});
    EXPECT_EQ(p->wait(15s), 2) << p->output();
    const std::string out = p->output();
    EXPECT_NE(out.find("config '" + file.string() + "': " + b.key + ":"), std::string::npos) << out;
    EXPECT_NE(out.find(b.accepted), std::string::npos) << out;
    EXPECT_EQ(out.find("listener serve started"), std::string::npos) << out;
  }
}

TEST_F(serve, ABadValueOfAFlagExitsTwoNamingTheFlagAndTheAcceptedRange) {
  struct row {
    std::vector<std::string> args;
    std::string flag;
    std::string accepted;
  };
  for (const row& r : {
           row{{"--workers", "-1"}, "--workers", "from 0 to 1024"},
           row{{"--workers=-1"}, "--workers", "from 0 to 1024"},
           row{{"--max-connections", "1e30"}, "--max-connections", "from 1 to 10000000"},
           row{{"--max-connections", "99999999999"}, "--max-connections", "from 1 to 10000000"},
           row{{"--handshake-timeout", "nan"}, "--handshake-timeout", "from 0.001 to 31536000"},
           row{{"--workers", "four"}, "--workers", "from 0 to 1024"},
           row{{"--idle-timeout", "-5"}, "--idle-timeout", "from 0 to 31536000"},
           row{{"--shutdown-grace", "1e400"}, "--shutdown-grace", "from 0 to 31536000"},
           row{{"--handshake-timeout", "0"}, "--handshake-timeout", "from 0.001 to 31536000"},
           row{{"--packet", "3"}, "--packet", "one of raw, 0, 1, 2, 4, line"},
           row{{"--log-format", "xml"}, "--log-format", "one of text, json"},
       }) {
    SCOPED_TRACE(r.args.front());
    std::vector<std::string> args{"--listen", listen(), "--data-dir", (dir / "data").string()};
    args.insert(args.end(), r.args.begin(), r.args.end());
    auto p = start(args);
    EXPECT_EQ(p->wait(15s), 2) << p->output();
    const std::string out = p->output();
    EXPECT_NE(out.find(r.flag + ":"), std::string::npos) << out;
    EXPECT_NE(out.find(r.accepted), std::string::npos) << out;
    EXPECT_EQ(out.find("listener serve started"), std::string::npos) << out;
  }
}

TEST_F(serve, AnUnknownKeyInTheConfigFileListsTheKnownOnes) {
  test::write_file(dir / "moat.toml", "listen = [\"" + listen() + "\"]\nworkerz = 3\n");
  auto p = start({"--config", (dir / "moat.toml").string()});
  EXPECT_EQ(p->wait(15s), 2);
  const std::string out = p->output();
  EXPECT_NE(out.find("workerz"), std::string::npos) << out;
  for (const char* known : {"listen", "packet", "workers", "max_connections", "handshake_timeout",
                            "idle_timeout", "shutdown_grace", "data_dir", "log_format"}) {
    EXPECT_NE(out.find(known), std::string::npos) << known << " in " << out;
  }
}

TEST_F(serve, FlagsWinOverTheConfigFile) {
  test::write_file(dir / "moat.toml", "listen = [\"127.0.0.1:1\"]\npacket = \"line\"\n" +
                                          std::string("workers = 3\nmax_connections = 7\n") +
                                          "data_dir = \"" + (dir / "data").string() + "\"\n");
  auto p = start({"--config", (dir / "moat.toml").string(), "--listen", listen(), "--packet", "2",
                  "--workers", "1"});
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  const std::string out = p->output();
  EXPECT_NE(out.find(listen()), std::string::npos) << out;
  EXPECT_NE(out.find("1 workers"), std::string::npos) << out;
  EXPECT_NE(out.find("max 7 connections"), std::string::npos) << out;  // from the file
  EXPECT_NE(out.find("packet 2"), std::string::npos) << out;
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(15s), 0);
}

TEST_F(serve, TheRecipeAnErlangSslClientWithPacket4GetsPingBack) {
  if (!test::have_program("escript")) GTEST_SKIP() << "Erlang is not installed";
  auto p = start({"--listen", listen(), "--data-dir", (dir / "data").string()});
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  test::child_process erl(
      {"escript", (test::source_dir() / "tests/tls/peers/erlang_ssl_client.escript").string(),
       std::to_string(port), self_signed().string(), "tlsv1.3,tlsv1.2", "-", "-", "ping"});
  EXPECT_EQ(erl.wait(30s), 0) << erl.output();
  EXPECT_NE(erl.output().find("tlsv1.3 reply 1 4 match ping"), std::string::npos) << erl.output();
  EXPECT_NE(erl.output().find("tlsv1.2 reply 1 4 match ping"), std::string::npos) << erl.output();
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(15s), 0);
}

TEST_F(serve, AtItsConnectionLimitOnTwoAddressesItUsesNoCpu) {
  // The shape that spun before: IPv4 and IPv6, a worker per core, the limit reached.
  const auto p6 = std::to_string(port);
  auto p = start({"--listen", listen(), "--listen", "[::1]:" + p6, "--max-connections", "1",
                  "--shutdown-grace", "1", "--data-dir", (dir / "data").string()});
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  asio::io_context io;
  tls::options o;
  o.cacertfile = self_signed();
  tls::context ctx(tls::role::client, o);
  std::optional<tls::socket> holder;  // holds the only slot
  test::run(io, [&]() -> asio::awaitable<void> {
    auto s =
        co_await tls::socket::connect(io.get_executor(), "localhost", port, ctx, test::scaled(10s),
                                      {.packet = framing::packet_mode::u32});
    if (!s) throw std::runtime_error("connect: " + s.error().message());
    (void)co_await s->send("hold");
    (void)co_await s->recv(0, test::scaled(10s));
    holder.emplace(std::move(*s));
  }());
  asio::ip::tcp::socket waiting(io);  // a second client, waiting for the slot on IPv6
  waiting.connect({asio::ip::make_address("::1"), port});
  const double share = test::cpu_share(p->pid(), 3s);  // from /proc/<pid>/stat
  EXPECT_LT(share, 0.02) << "moat serve spins at its connection limit";
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(30s), 0) << p->output();
}

TEST_F(serve, OutOfDescriptorsItLogsBacksOffAndRecovers) {
  auto p = start({"--listen", listen(), "--workers", "1", "--data-dir", (dir / "data").string()},
                 "ulimit -n 48;");
  ASSERT_TRUE(p->wait_for_output("listener serve started")) << p->output();
  // Flood: more idle TCP connections than the server has descriptors.
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> flood;
  for (int i = 0; i < 80; ++i) {
    flood.emplace_back(io);
    boost::system::error_code ec;
    flood.back().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  }
  ASSERT_TRUE(p->wait_for_output("Too many open files", 10s)) << p->output();
  EXPECT_NE(p->output().find("backing off"), std::string::npos) << p->output();
  flood.clear();  // descriptors free up (the handshake timeout closes the server's side too)
  // Served again once descriptors are back: retried until then, within a generous deadline.
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(60s);
  while ((reply = exchange(self_signed(), "after").first) != "after" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(reply, "after") << p->output();
  p->kill(SIGTERM);
  EXPECT_EQ(p->wait(15s), 0);
}

}  // namespace
}  // namespace moat
