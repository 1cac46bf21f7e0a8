// net_ticktime between a moat node and a real Erlang node: an idle connection stays up on
// ticks, a frozen peer is declared down within the tick time, a killed one at once.
#include <signal.h>

#include "dist/interop_fixture.hpp"
#include "moat/dist/errors.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

constexpr int ticktime_s = 4;
constexpr std::chrono::seconds ticktime{ticktime_s};

struct InteropTicks : testing::interop {
  std::unique_ptr<test::erlang_node> erl;

  void start_both(std::chrono::seconds moat_ticktime, int erlang_ticktime) {
    auto o = options();
    o.net_ticktime = moat_ticktime;
    start_moat(std::move(o));
    auto eo = c.erlang_options("a", c.files());
    eo.net_ticktime = erlang_ticktime;
    erl = start_erlang(eo);
    ASSERT_EQ(erl->eval("net_kernel:get_net_ticktime()"), std::to_string(erlang_ticktime));
  }

  /// The lines of the moat log about `peer` after it connected.
  std::vector<std::string> lines_after_connect(const std::string& peer) {
    std::vector<std::string> out;
    for (auto& l : log.lines("'" + peer + "'"))
      if (l.find("connected to") == std::string::npos) out.push_back(l);
    return out;
  }
};

TEST_F(InteropTicks, AnIdleConnectionStaysUpForMoreThanTwiceTheTickTime) {
  start_both(ticktime, ticktime_s);
  ASSERT_EQ(erl->eval("net_adm:ping('m@localhost')"), "pong");
  // Nothing but ticks crosses the connection for 2.5 tick times; neither side drops it.
  const auto until = clock::now() + ticktime * 5 / 2;
  while (clock::now() < until) {
    ASSERT_EQ(events.count(node_event::kind::down, "a@localhost"), 0U) << erl->output();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(moat->nodes(), std::vector<std::string>{"a@localhost"});
  EXPECT_EQ(erl->eval("nodes()"), "[m@localhost]");
  EXPECT_EQ(erl->eval("{echo, 'm@localhost'} ! {self(), still_here}, receive X -> X after 5000 -> "
                      "timeout end"),
            "still_here");
  EXPECT_EQ(events.count(node_event::kind::up, "a@localhost"), 1U);
  EXPECT_TRUE(lines_after_connect("a@localhost").empty());
}

TEST_F(InteropTicks, AFrozenErlangNodeIsDeclaredDownWithinTheTickTime) {
  start_both(ticktime, ticktime_s);
  ASSERT_TRUE(moat->ping("a@localhost"));
  ASSERT_EQ(::kill(-erl->pid(), SIGSTOP), 0);
  const auto frozen = clock::now();
  const bool down = testing::eventually(
      [&] { return events.count(node_event::kind::down, "a@localhost") == 1; }, ticktime * 3);
  ::kill(-erl->pid(), SIGCONT);
  ASSERT_TRUE(down);
  const auto ev = events.of(node_event::kind::down, "a@localhost").front();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(ev.at - frozen);
  // Between 0.75 and 1.25 tick times (as net_kernel), and a little slack for scheduling.
  EXPECT_GE(took, ticktime * 3 / 4 - 100ms) << took.count() << " ms";
  EXPECT_LE(took, ticktime * 5 / 4 + test::scaled(std::chrono::milliseconds(500)))
      << took.count() << " ms";
  EXPECT_EQ(ev.event.reason, make_error_code(errc::tick_timeout)) << ev.event.reason.message();
  EXPECT_TRUE(moat->nodes().empty());
  const auto lines = lines_after_connect("a@localhost");
  ASSERT_EQ(lines.size(), 1U) << ::testing::PrintToString(lines);
  EXPECT_NE(lines[0].find("tick"), std::string::npos) << lines[0];
}

TEST_F(InteropTicks, AKilledErlangNodeIsDownAtOnceNotAfterTheTickTime) {
  start_both(std::chrono::seconds(60), 60);
  ASSERT_EQ(erl->eval("net_adm:ping('m@localhost')"), "pong");
  erl->kill9();
  const auto killed = clock::now();
  ASSERT_TRUE(testing::eventually(
      [&] { return events.count(node_event::kind::down, "a@localhost") == 1; }, 10s));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      events.of(node_event::kind::down, "a@localhost").front().at - killed);
  EXPECT_LE(took, test::scaled(std::chrono::milliseconds(1000))) << took.count() << " ms";
  EXPECT_TRUE(moat->nodes().empty());
  EXPECT_EQ(lines_after_connect("a@localhost").size(), 1U);
}

}  // namespace
}  // namespace moat::dist
