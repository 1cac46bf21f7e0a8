// The EPMD client against the real `epmd` (OTP's), started on a free port per test.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <set>

#include "dist/epmd_test_util.hpp"
#include "moat/error.hpp"

namespace moat::dist {
namespace {

namespace asio = boost::asio;
using testing::real_epmd;
using namespace std::chrono_literals;

class EpmdClient : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("epmd")) GTEST_SKIP() << "no epmd on PATH (erlang-nox)";
    epmd_ = std::make_unique<real_epmd>();
    ASSERT_TRUE(epmd_->ready()) << epmd_->proc->output();
  }

  register_options reg_opts() const {
    register_options o;
    o.epmd_port = epmd_->port;
    return o;
  }
  query_options query_opts() const {
    query_options o;
    o.epmd_port = epmd_->port;
    return o;
  }
  template <class T>
  T run(asio::awaitable<T> aw) {
    return test::run(io_, std::move(aw));
  }

  asio::io_context io_;
  std::unique_ptr<real_epmd> epmd_;
};

TEST_F(EpmdClient, ARegistrationWithTheRealEpmdGetsA32BitCreationAndPortPleaseFindsTheNode) {
  auto o = reg_opts();
  o.hidden = true;
  o.extra = "moat";
  auto reg = run(register_node(io_.get_executor(), "moat_a", 12345, o));
  ASSERT_TRUE(reg) << reg.error().message();
  EXPECT_TRUE(reg->open());
  EXPECT_EQ(reg->name(), "moat_a");
  // epmd gives version-6 nodes a 32-bit creation from a counter seeded by the clock (>= 4).
  EXPECT_GE(reg->creation(), 4U);

  auto node = run(port_please(io_.get_executor(), "127.0.0.1", "moat_a", query_opts()));
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_EQ(node->name, "moat_a");
  EXPECT_EQ(node->port, 12345);
  EXPECT_TRUE(node->hidden());
  EXPECT_EQ(node->protocol, protocol_tcp);
  EXPECT_EQ(node->highest_version, 6);
  EXPECT_EQ(node->lowest_version, 6);
  EXPECT_EQ(node->extra, "moat");

  const auto listed = test::run_process({"epmd", "-port", std::to_string(epmd_->port), "-names"});
  EXPECT_NE(listed.output.find("name moat_a at port 12345"), std::string::npos) << listed.output;
}

TEST_F(EpmdClient, TheRealEpmdRefusesANameThatIsTaken) {
  auto first = run(register_node(io_.get_executor(), "taken", 1000, reg_opts()));
  ASSERT_TRUE(first) << first.error().message();
  auto second = run(register_node(io_.get_executor(), "taken", 1001, reg_opts()));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, epmd_errc::name_taken);
  EXPECT_NE(second.error().message().find("127.0.0.1:" + std::to_string(epmd_->port)),
            std::string::npos)
      << second.error().message();
  auto node = run(port_please(io_.get_executor(), "127.0.0.1", "taken", query_opts()));
  ASSERT_TRUE(node);
  EXPECT_EQ(node->port, 1000);
}

TEST_F(EpmdClient, ClosingTheRegistrationDropsTheNameAndANewOneGetsAnotherCreation) {
  auto reg = run(register_node(io_.get_executor(), "dropped", 2000, reg_opts()));
  ASSERT_TRUE(reg) << reg.error().message();
  const auto creation = reg->creation();
  ASSERT_TRUE(run(testing::eventually_listed(epmd_->port, "dropped", true)));
  reg->close();
  EXPECT_FALSE(reg->open());
  ASSERT_TRUE(run(testing::eventually_listed(epmd_->port, "dropped", false)));
  auto gone = run(port_please(io_.get_executor(), "127.0.0.1", "dropped", query_opts()));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, epmd_errc::not_registered);

  auto again = run(register_node(io_.get_executor(), "dropped", 2001, reg_opts()));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_NE(again->creation(), creation);
  EXPECT_NE(again->creation(), 0U);
}

TEST_F(EpmdClient, DestroyingTheRegistrationAlsoDropsTheName) {
  {
    auto reg = run(register_node(io_.get_executor(), "scoped", 2100, reg_opts()));
    ASSERT_TRUE(reg) << reg.error().message();
  }
  EXPECT_TRUE(run(testing::eventually_listed(epmd_->port, "scoped", false)));
}

TEST_F(EpmdClient, NamesListsEveryRegisteredNode) {
  auto a = run(register_node(io_.get_executor(), "alpha", 3001, reg_opts()));
  auto b = run(register_node(io_.get_executor(), "beta", 3002, reg_opts()));
  ASSERT_TRUE(a && b);
  auto listed = run(names(io_.get_executor(), "127.0.0.1", query_opts()));
  ASSERT_TRUE(listed) << listed.error().message();
  std::set<std::pair<std::string, std::uint16_t>> got;
  for (const auto& n : *listed) got.emplace(n.name, n.port);
  const std::set<std::pair<std::string, std::uint16_t>> want = {{"alpha", 3001}, {"beta", 3002}};
  EXPECT_EQ(got, want);
}

TEST_F(EpmdClient, ARegistrationLearnsThatEpmdWentAway) {
  auto reg = run(register_node(io_.get_executor(), "orphan", 4000, reg_opts()));
  ASSERT_TRUE(reg) << reg.error().message();
  epmd_->proc->kill();
  const auto why = run(reg->wait_lost());
  EXPECT_EQ(why, epmd_errc::connection_lost);
  EXPECT_FALSE(reg->open());
}

TEST_F(EpmdClient, WaitLostEndsWithUnregisteredWhenWeCloseIt) {
  auto reg = run(register_node(io_.get_executor(), "closer", 4100, reg_opts()));
  ASSERT_TRUE(reg) << reg.error().message();
  auto fut = asio::co_spawn(io_, reg->wait_lost(), asio::use_future);
  io_.poll();
  reg->close();
  io_.restart();
  io_.run_for(test::scaled(2s));
  ASSERT_EQ(fut.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(fut.get(), epmd_errc::unregistered);
}

TEST_F(EpmdClient, HostNamesAndIpv6AddressesReachEpmd) {
  auto reg = run(register_node(io_.get_executor(), "hosts", 5000, reg_opts()));
  ASSERT_TRUE(reg) << reg.error().message();
  auto by_name = run(port_please(io_.get_executor(), "localhost", "hosts", query_opts()));
  ASSERT_TRUE(by_name) << by_name.error().message();
  EXPECT_EQ(by_name->port, 5000);
  auto v6 = run(port_please(io_.get_executor(), "::1", "hosts", query_opts()));
  if (!v6 && v6.error().code == epmd_errc::unreachable) {
    GTEST_SKIP() << "no IPv6 loopback here: " << v6.error().message();
  }
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->port, 5000);
}

TEST_F(EpmdClient, AnUnknownNameIsNotRegistered) {
  auto r = run(port_please(io_.get_executor(), "127.0.0.1", "nobody", query_opts()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, epmd_errc::not_registered);
  EXPECT_NE(r.error().message().find("'nobody'"), std::string::npos) << r.error().message();
}

TEST(EpmdClientErrors, NoEpmdOnThePortFailsWithNotRunningNamingHostAndPort) {
  asio::io_context io;
  query_options o;
  o.epmd_port = test::free_port();
  auto r = test::run(io, names(io.get_executor(), "127.0.0.1", o));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, epmd_errc::not_running);
  EXPECT_EQ(r.error().message(), "EPMD at 127.0.0.1:" + std::to_string(*o.epmd_port) +
                                     ": no EPMD is running there (connection refused)");
}

TEST(EpmdClientErrors, ASilentPeerTimesOut) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  query_options o;
  o.epmd_port = acceptor.local_endpoint().port();
  o.timeout = 200ms;
  // The kernel completes the connection from the backlog; nobody ever answers.
  auto r = test::run(io, port_please(io.get_executor(), "127.0.0.1", "x", o));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, epmd_errc::timeout);
}

TEST(EpmdClientErrors, NamesEpmdCannotTakeAreRefusedBeforeConnecting) {
  asio::io_context io;
  register_options o;
  o.epmd_port = test::free_port();  // nothing listens: the check comes first
  for (const std::string& bad :
       {std::string(), std::string("a\0b", 3), std::string(256, 'x'), std::string("\xff\xfe")}) {
    auto r = test::run(io, register_node(io.get_executor(), bad, 1, o));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, epmd_errc::invalid_name);
  }
}

TEST(EpmdClientErrors, AnUnresolvableHostIsReported) {
  asio::io_context io;
  query_options o;
  o.epmd_port = 4369;
  auto r = test::run(io, names(io.get_executor(), "no-such-host.invalid", o));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, epmd_errc::host_not_found);
  EXPECT_NE(r.error().message().find("no-such-host.invalid:4369"), std::string::npos);
}

// Sets or unsets ERL_EPMD_PORT for one scope.
class env_var {
 public:
  env_var(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~env_var() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  env_var(const env_var&) = delete;
  env_var& operator=(const env_var&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(EpmdPort, FollowsErlEpmdPortAndAGivenPortWins) {
  {
    const env_var unset("ERL_EPMD_PORT", nullptr);
    EXPECT_EQ(epmd_port(), 4369);
    EXPECT_EQ(epmd_port(5000), 5000);
  }
  const env_var set("ERL_EPMD_PORT", "4400");
  EXPECT_EQ(epmd_port(), 4400);
  EXPECT_EQ(epmd_port(5000), 5000);
}

TEST(EpmdPort, ABadErlEpmdPortIsAConfigurationErrorAsErlangRefusesIt) {
  for (const char* bad : {"", "abc", "0", "65536", " 4369", "+4369", "-1", "43 69"}) {
    const env_var set("ERL_EPMD_PORT", bad);
    try {
      (void)epmd_port();
      ADD_FAILURE() << "'" << bad << "' was taken";
    } catch (const config_error& e) {
      EXPECT_EQ(e.code(), epmd_errc::invalid_port);
      EXPECT_NE(std::string(e.what()).find("ERL_EPMD_PORT"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_epmd_port("65535"), 65535);
  EXPECT_EQ(parse_epmd_port("1"), 1);
  EXPECT_FALSE(parse_epmd_port("100000"));
}

TEST(EpmdErrors, EveryCodeHasItsOwnMessage) {
  std::set<std::string> seen;
  for (int v = 1; v <= static_cast<int>(epmd_errc::not_epmd); ++v) {
    const std::string m = make_error_code(static_cast<epmd_errc>(v)).message();
    EXPECT_EQ(m.find("unknown"), std::string::npos) << v;
    EXPECT_TRUE(seen.insert(m).second) << m;
  }
  EXPECT_STREQ(epmd_category().name(), "moat.dist.epmd");
}

}  // namespace
}  // namespace moat::dist
