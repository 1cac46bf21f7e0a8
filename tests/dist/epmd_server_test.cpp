// The embedded EPMD, checked by the real Erlang tools (epmd -names/-kill/-stop, erl nodes,
// net_adm:names/0, erl_epmd:port_please/2) and by moat's own client. The io_context runs on
// its own thread so that the tools, separate processes, are answered while the test waits.
#include "moat/dist/epmd_server.hpp"

#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "dist/epmd_test_util.hpp"
#include "dist/epmd_wire.hpp"

namespace moat::dist {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

class EmbeddedEpmd : public ::testing::Test {
 protected:
  void SetUp() override {
    logger_ = std::make_shared<spdlog::logger>("epmd-test", ring_);
    logger_->set_level(spdlog::level::info);
  }
  void TearDown() override {
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();  // the io_context no longer runs
  }

  void start(epmd_server_options o = {}) {
    if (!o.port) o.port = 0;
    o.logger = logger_;
    auto s = epmd_server::start(io_.get_executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    server_.emplace(std::move(*s));
    thread_ = std::thread([this] { io_.run(); });
  }
  std::uint16_t port() const { return server_->port(); }
  std::string port_text() const { return std::to_string(port()); }

  template <class T>
  T call(asio::awaitable<T> aw) {
    auto fut = asio::co_spawn(io_, std::move(aw), asio::use_future);
    if (fut.wait_for(test::scaled(30s)) != std::future_status::ready) {
      throw std::runtime_error("coroutine timed out");
    }
    return fut.get();
  }
  epmd_result<registration> register_as(const std::string& name, std::uint16_t listen,
                                        std::uint16_t highest = 6) {
    register_options o;
    o.epmd_port = port();
    o.highest_version = highest;
    o.lowest_version = std::min<std::uint16_t>(highest, 6);
    return call(register_node(io_.get_executor(), name, listen, o));
  }
  query_options query() const {
    query_options o;
    o.epmd_port = port();
    return o;
  }
  bool eventually(const std::function<bool()>& cond) {
    const auto deadline = std::chrono::steady_clock::now() + test::scaled(20s);
    while (std::chrono::steady_clock::now() < deadline) {
      if (cond()) return true;
      std::this_thread::sleep_for(10ms);  // polling a condition, not waiting for time to pass
    }
    return false;
  }
  bool listed(const std::string& name) const { return testing::lists(server_->names(), name); }

  // Sends raw bytes from `from` (or any address) to `to`:port and returns what comes back
  // before the server closes (empty if it closed without a word).
  std::string raw_exchange(const std::vector<std::uint8_t>& bytes, const std::string& to,
                           std::optional<asio::ip::address> from = std::nullopt) {
    asio::io_context io;
    tcp::socket s(io);
    const auto dest = asio::ip::make_address(to);
    s.open(dest.is_v6() ? tcp::v6() : tcp::v4());
    if (from) s.bind(tcp::endpoint(*from, 0));
    s.connect(tcp::endpoint(dest, port()));
    asio::write(s, asio::buffer(bytes));
    // A truncated request ends here. The server may have closed already (it needs only the
    // first bytes of some garbage to refuse it): then there is nothing left to shut.
    boost::system::error_code ec;
    s.shutdown(tcp::socket::shutdown_send, ec);
    std::string got;
    asio::read(s, asio::dynamic_buffer(got), ec);
    return got;
  }
  std::string erl_eval(const std::string& expr) {
    return test::run_process({"erl", "-noshell", "-epmd_port", port_text(), "-eval", expr}).output;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  std::thread thread_;
  std::optional<epmd_server> server_;
  // The server logs from the io thread; the ring buffer sink reads under its own lock.
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  std::string log_text() const {
    std::string all;
    for (const auto& line : ring_->last_formatted()) all += line;
    return all;
  }
  std::shared_ptr<spdlog::logger> logger_;
};

bool have_erlang() {
  return test::have_program("erl") && test::have_program("epmd");
}
#define REQUIRE_ERLANG() \
  if (!have_erlang()) GTEST_SKIP() << "no erl/epmd on PATH (erlang-nox)"

TEST_F(EmbeddedEpmd, TheRealEpmdToolListsWhatItsClientRegistered) {
  REQUIRE_ERLANG();
  start();
  auto reg = register_as("moat_x", 7001);
  ASSERT_TRUE(reg) << reg.error().message();
  EXPECT_GE(reg->creation(), 4U);
  const auto out = test::run_process({"epmd", "-port", port_text(), "-names"}).output;
  EXPECT_NE(out.find("up and running on port " + port_text()), std::string::npos) << out;
  EXPECT_NE(out.find("name moat_x at port 7001"), std::string::npos) << out;
}

TEST_F(EmbeddedEpmd, AnErlangNodeRegistersAndIsDroppedWhenItDies) {
  REQUIRE_ERLANG();
  start();
  test::child_process erl({"env", "ERL_EPMD_PORT=" + port_text(), "erl", "-sname", "erlnode",
                           "-start_epmd", "false", "-setcookie", "moattest", "-noshell"});
  ASSERT_TRUE(eventually([&] { return listed("erlnode"); })) << erl.output();
  auto node = call(port_please(io_.get_executor(), "127.0.0.1", "erlnode", query()));
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_EQ(node->highest_version, 6);
  EXPECT_FALSE(node->hidden());
  EXPECT_NE(node->port, 0);
  // The name is taken while the node lives.
  auto dup = register_as("erlnode", 9);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, epmd_errc::name_taken);
  erl.kill();
  EXPECT_TRUE(eventually([&] { return !listed("erlnode"); }));
}

TEST_F(EmbeddedEpmd, ErlangFindsAMoatRegisteredNameWithPortPleaseAndNetAdmNames) {
  REQUIRE_ERLANG();
  start();
  auto reg = register_as("moatnode", 5555);
  ASSERT_TRUE(reg) << reg.error().message();
  const auto out = erl_eval(
      "io:format(\"pp ~p~nnames ~p~n\", [erl_epmd:port_please(\"moatnode\", {127,0,0,1}), "
      "net_adm:names()]), halt().");
  EXPECT_NE(out.find("pp {port,5555,6}"), std::string::npos) << out;
  EXPECT_NE(out.find("names {ok,[{\"moatnode\",5555}]}"), std::string::npos) << out;
}

TEST_F(EmbeddedEpmd, CreationsAreNonZeroAndDifferForEachRegistrationOfAName) {
  start();
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 5; ++i) {
    auto reg = register_as("again", 100);
    ASSERT_TRUE(reg) << reg.error().message();
    EXPECT_NE(reg->creation(), 0U);
    EXPECT_TRUE(seen.insert(reg->creation()).second) << reg->creation();
    reg->close();
    ASSERT_TRUE(eventually([&] { return !listed("again"); }));
  }
  // A version-5 node gets the old 16-bit reply (ALIVE2_RESP) with a creation of 1 to 3.
  auto old = register_as("old", 101, 5);
  ASSERT_TRUE(old) << old.error().message();
  EXPECT_GE(old->creation(), 1U);
  EXPECT_LE(old->creation(), 3U);
}

TEST_F(EmbeddedEpmd, ItsOwnClientGetsPortsNamesAndRefusalsOverIpv4AndIpv6) {
  start();
  register_options o;
  o.epmd_port = port();
  o.hidden = true;
  o.extra = "xtra";
  auto reg = call(register_node(io_.get_executor(), "own", 4242, o));
  ASSERT_TRUE(reg) << reg.error().message();
  for (const std::string host : {"127.0.0.1", "localhost", "::1"}) {
    auto n = call(port_please(io_.get_executor(), host, "own", query()));
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(n->port, 4242);
    EXPECT_TRUE(n->hidden());
    EXPECT_EQ(n->extra, "xtra");
  }
  auto none = call(port_please(io_.get_executor(), "127.0.0.1", "other", query()));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, epmd_errc::not_registered);
  auto all = call(names(io_.get_executor(), "127.0.0.1", query()));
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (std::vector<epmd_name>{{"own", 4242}}));
}

TEST_F(EmbeddedEpmd, GarbageClosesOnlyItsConnectionAndIsLoggedOnce) {
  start();
  auto reg = register_as("steady", 6000);
  ASSERT_TRUE(reg) << reg.error().message();
  const std::vector<std::vector<std::uint8_t>> garbage = {
      {0xff, 0xff, 1, 2, 3},  // longer than any request
      {0, 0},                 // empty request
      {0, 1, 42},             // unknown command
      {0, 3, 122, 0, 'a'},    // a NUL in the name
      {0, 20, 120, 1, 2},     // truncated: the connection ends inside the request
  };
  for (const auto& g : garbage) {
    const auto before = ring_->last_formatted().size();
    EXPECT_EQ(raw_exchange(g, "127.0.0.1"), "");
    ASSERT_TRUE(eventually([&] { return ring_->last_formatted().size() != before; }));
    const auto lines = ring_->last_formatted();
    ASSERT_EQ(lines.size(), before + 1);  // one line for one bad request
    const auto& added = lines.back();
    EXPECT_NE(added.find("closed the connection from 127.0.0.1:"), std::string::npos) << added;
    // Everyone else is served as before.
    EXPECT_TRUE(listed("steady"));
    auto n = call(port_please(io_.get_executor(), "127.0.0.1", "steady", query()));
    ASSERT_TRUE(n) << n.error().message();
  }
  EXPECT_TRUE(reg->open());
  EXPECT_TRUE(server_->running());
}

// This host's first non-loopback address of the family, if it has one.
std::optional<asio::ip::address> non_loopback_address(bool v6) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::nullopt;
  std::optional<asio::ip::address> found;
  for (auto* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (!v6 && i->ifa_addr->sa_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      const asio::ip::address_v4 addr(ntohl(a->sin_addr.s_addr));
      if (!addr.is_loopback()) found = addr;
    }
  }
  ::freeifaddrs(list);
  return found;
}

TEST_F(EmbeddedEpmd, ARegistrationFromAnotherAddressIsClosedUnansweredAsTheRealEpmdDoes) {
  const auto other = non_loopback_address(false);
  if (!other) GTEST_SKIP() << "this host has no non-loopback IPv4 address";
  start();
  epmd_wire::node_fields f;
  f.port = 1;
  f.name = "remote";
  const auto request = epmd_wire::encode_alive2_request(f);
  // From this host's other address to 127.0.0.1: the peer is neither loopback nor the
  // connection's local address, so it counts as another host.
  EXPECT_EQ(raw_exchange(request, "127.0.0.1", other), "");
  EXPECT_FALSE(listed("remote"));
  EXPECT_NE(log_text().find("ALIVE2_REQ from a non-local address"), std::string::npos);
  // The same bytes from loopback register.
  EXPECT_EQ(raw_exchange(request, "127.0.0.1").substr(0, 2), std::string("v\0", 2));
  if (test::have_program("epmd")) {  // the real epmd decides the same way
    testing::real_epmd real;
    ASSERT_TRUE(real.ready());
    asio::io_context io;
    tcp::socket s(io);
    s.open(tcp::v4());
    s.bind(tcp::endpoint(*other, 0));
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), real.port));
    asio::write(s, asio::buffer(request));
    std::string got;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(got), ec);
    EXPECT_EQ(got, "");
  }
}

TEST_F(EmbeddedEpmd, RemoteRegistrationsAreTakenWhenAllowed) {
  const auto other = non_loopback_address(false);
  if (!other) GTEST_SKIP() << "this host has no non-loopback IPv4 address";
  epmd_server_options o;
  o.allow_remote_registration = true;
  start(o);
  epmd_wire::node_fields f;
  f.port = 1;
  f.name = "remote";
  EXPECT_EQ(raw_exchange(epmd_wire::encode_alive2_request(f), "127.0.0.1", other).substr(0, 2),
            std::string("v\0", 2));
}

TEST_F(EmbeddedEpmd, KillIsRefusedWhileNodesLiveAndThenStopsTheServer) {
  REQUIRE_ERLANG();
  start();
  auto reg = register_as("alive", 1);
  ASSERT_TRUE(reg) << reg.error().message();
  auto out = test::run_process({"epmd", "-port", port_text(), "-kill"}).output;
  EXPECT_NE(out.find("not allowed"), std::string::npos) << out;
  EXPECT_TRUE(server_->running());
  reg->close();
  ASSERT_TRUE(eventually([&] { return !listed("alive"); }));
  out = test::run_process({"epmd", "-port", port_text(), "-kill"}).output;
  EXPECT_NE(out.find("Killed"), std::string::npos) << out;
  EXPECT_TRUE(eventually([&] { return !server_->running(); }));
  auto after = call(names(io_.get_executor(), "127.0.0.1", query()));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, epmd_errc::not_running);
}

TEST_F(EmbeddedEpmd, StopUnregistersANameOnlyWithRelaxedCommandCheck) {
  REQUIRE_ERLANG();
  epmd_server_options o;
  o.relaxed_command_check = true;
  start(o);
  auto reg = register_as("victim", 1);
  ASSERT_TRUE(reg) << reg.error().message();
  auto lost = asio::co_spawn(io_, reg->wait_lost(), asio::use_future);
  auto out = test::run_process({"epmd", "-port", port_text(), "-stop", "victim"}).output;
  EXPECT_NE(out.find("STOPPED"), std::string::npos) << out;
  ASSERT_EQ(lost.wait_for(test::scaled(10s)), std::future_status::ready);
  EXPECT_EQ(lost.get(), epmd_errc::connection_lost);
  EXPECT_FALSE(listed("victim"));
  out = test::run_process({"epmd", "-port", port_text(), "-stop", "victim"}).output;
  EXPECT_NE(out.find("NOEXIST"), std::string::npos) << out;
}

TEST_F(EmbeddedEpmd, StopIsIgnoredWithoutRelaxedCommandCheck) {
  REQUIRE_ERLANG();
  start();
  auto reg = register_as("kept", 1);
  ASSERT_TRUE(reg) << reg.error().message();
  (void)test::run_process({"epmd", "-port", port_text(), "-stop", "kept"});
  EXPECT_NE(log_text().find("STOP_REQ without relaxed_command_check"), std::string::npos);
  EXPECT_TRUE(listed("kept"));
  EXPECT_TRUE(reg->open());
}

TEST(EpmdStartIfNone, UsesARealEpmdThatAlreadyRuns) {
  if (!test::have_program("epmd")) GTEST_SKIP() << "no epmd on PATH";
  testing::real_epmd real;
  ASSERT_TRUE(real.ready());
  asio::io_context io;
  epmd_server_options o;
  o.port = real.port;
  auto r = test::run(io, start_if_none(io.get_executor(), o));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->has_value());
}

TEST(EpmdStartIfNone, StartsTheEmbeddedOneWhenNoneAnswersAndThenFindsIt) {
  asio::io_context io;
  epmd_server_options o;
  o.port = test::free_port();
  auto first = test::run(io, start_if_none(io.get_executor(), o));
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->port(), *o.port);
  // A second caller finds the first one's server and uses it.
  auto second = test::run(io, start_if_none(io.get_executor(), o));
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_FALSE(second->has_value());
}

TEST(EpmdStartIfNone, SomethingElseOnThePortIsNotTakenForEpmd) {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await acceptor.async_accept(asio::use_awaitable);
        const std::string junk = "HTTP/1.1 400 Bad Request\r\n\r\n";
        co_await asio::async_write(s, asio::buffer(junk), asio::use_awaitable);
      },
      asio::detached);
  epmd_server_options o;
  o.port = acceptor.local_endpoint().port();
  auto r = test::run(io, start_if_none(io.get_executor(), o));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, epmd_errc::not_epmd);
}

TEST(EpmdServerStart, APortInUseIsReported) {
  asio::io_context io;
  epmd_server_options o;
  o.port = 0;
  o.loopback_only = true;
  auto first = epmd_server::start(io.get_executor(), o);
  ASSERT_TRUE(first) << first.error().message();
  o.port = first->port();
  auto second = epmd_server::start(io.get_executor(), o);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, std::errc::address_in_use);
  EXPECT_NE(second.error().message().find(std::to_string(first->port())), std::string::npos);
}

}  // namespace
}  // namespace moat::dist
