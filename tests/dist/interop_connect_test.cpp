// How connections come to be: a hidden moat node (not in Erlang's nodes(), in nodes(hidden)),
// and simultaneous connects -- both nodes sending to each other at once end with exactly one
// connection and every message delivered.
#include <latch>
#include <thread>

#include "dist/interop_fixture.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct InteropConnect : testing::interop {};

TEST_F(InteropConnect, AHiddenMoatNodeDialledByErlangIsListedOnlyInNodesHidden) {
  auto o = options();
  o.hidden = true;
  start_moat(std::move(o));
  auto erl = start_erlang(c.erlang_options("a", c.files()));
  EXPECT_EQ(erl->eval("net_adm:ping('m@localhost')"), "pong") << erl->output();
  EXPECT_EQ(erl->eval("nodes()"), "[]");
  EXPECT_EQ(erl->eval("nodes(hidden)"), "[m@localhost]");
  EXPECT_EQ(erl->eval("{echo, 'm@localhost'} ! {self(), hidden_but_there}, receive X -> X after "
                      "5000 -> timeout end"),
            "hidden_but_there");
  const auto up = events.of(node_event::kind::up, "a@localhost");
  ASSERT_EQ(up.size(), 1U);
  EXPECT_TRUE(up[0].event.hidden);
  EXPECT_EQ(moat->nodes(), std::vector<std::string>{"a@localhost"});
}

TEST_F(InteropConnect, AHiddenMoatNodeDialingErlangIsListedOnlyInNodesHidden) {
  auto o = options();
  o.hidden = true;
  start_moat(std::move(o));
  auto erl = start_erlang(c.erlang_options("a", c.files()));
  EXPECT_TRUE(moat->ping("a@localhost")) << erl->output();
  EXPECT_EQ(erl->eval("nodes()"), "[]");
  EXPECT_EQ(erl->eval("nodes(hidden)"), "[m@localhost]");
  EXPECT_EQ(erl->eval("nodes(connected)"), "[m@localhost]");
}

// Whether each sender's messages (`{Tag, I}` in format_term's text) came all and in order.
::testing::AssertionResult each_sender_in_order(const std::vector<std::string>& got,
                                                const std::vector<std::string>& tags, int count) {
  for (const auto& tag : tags) {
    int next = 0;
    const std::string prefix = "{" + tag + ",";
    for (const auto& m : got) {
      if (m.rfind(prefix, 0) != 0) continue;
      const int i = std::stoi(m.substr(prefix.size()));
      if (i != next)
        return ::testing::AssertionFailure()
               << "from " << tag << ": " << i << " came where " << next << " was due";
      ++next;
    }
    if (next != count)
      return ::testing::AssertionFailure() << "from " << tag << ": " << next << " of " << count;
  }
  return ::testing::AssertionSuccess();
}

TEST_F(InteropConnect,
       TwoMoatNodesSendingToEachOtherAtOnceMakeOneConnectionAndKeepEachSendersOrder) {
  constexpr int rounds = 20;
  constexpr int per_side = 200;
  const auto files = c.files();
  for (int r = 0; r < rounds; ++r) {
    SCOPED_TRACE("round " + std::to_string(r));
    testing::event_recorder ea;
    testing::event_recorder eb;
    auto oa = c.moat_options("s" + std::to_string(r) + "a", files);
    auto ob = c.moat_options("s" + std::to_string(r) + "b", files);
    oa.logger = ob.logger = log.logger();
    oa.on_event = ea.callback();
    ob.on_event = eb.callback();
    node a(oa);
    node b(ob);
    testing::moat_inbox ia(a, "inbox");
    testing::moat_inbox ib(b, "inbox");
    std::latch go(2);
    // Each side sends from a thread outside the node ({t, I}) and from a process ({p, I}),
    // paced so that sends go on while the connection is being made from both ends.
    auto sender = [&go](node& from, const std::string& to) {
      go.arrive_and_wait();
      (void)from.spawn([to](process& self) -> asio::awaitable<void> {
        for (int i = 0; i < per_side; ++i) {
          (void)self.send(destination("inbox", to), dist::make_tuple(atom("p"), std::int64_t{i}));
          if (i % 10 == 9) (void)co_await self.receive(1ms);
        }
      });
      for (int i = 0; i < per_side; ++i) {
        (void)from.send(destination("inbox", to), dist::make_tuple(atom("t"), std::int64_t{i}));
        if (i % 10 == 9) std::this_thread::sleep_for(1ms);
      }
    };
    std::thread ta(sender, std::ref(a), b.name());
    std::thread tb(sender, std::ref(b), a.name());
    ta.join();
    tb.join();
    const bool all = testing::eventually(
        [&] { return ia.count() == 2 * per_side && ib.count() == 2 * per_side; }, 20s);
    EXPECT_TRUE(all) << "a got " << ia.count() << ", b got " << ib.count();
    EXPECT_TRUE(each_sender_in_order(ia.messages(), {"t", "p"}, per_side)) << "at " << a.name();
    EXPECT_TRUE(each_sender_in_order(ib.messages(), {"t", "p"}, per_side)) << "at " << b.name();
    EXPECT_EQ(a.nodes(), std::vector<std::string>{b.name()});
    EXPECT_EQ(b.nodes(), std::vector<std::string>{a.name()});
    EXPECT_EQ(ea.count(node_event::kind::up, b.name()), 1U);
    EXPECT_EQ(eb.count(node_event::kind::up, a.name()), 1U);
    EXPECT_EQ(ea.count(node_event::kind::down, b.name()), 0U);
    EXPECT_EQ(eb.count(node_event::kind::down, a.name()), 0U);
    if (HasFailure()) break;
  }
  const auto simultaneous = log.lines("simultaneous connect").size();
  // The race was run, not avoided: in some rounds both dialled.
  EXPECT_GT(simultaneous, 0U) << log.lines("").size() << " log lines";
  RecordProperty("simultaneous_rounds", static_cast<int>(simultaneous));
}

TEST_F(InteropConnect, AMoatNodeAndErlangNodesSendingToEachOtherAtOnceMakeOneConnection) {
  start_moat(options());
  testing::moat_inbox inbox(*moat, "inbox");
  // "a" sorts before "m" and "z" after it: the moat node's attempt wins against one and
  // loses against the other.
  auto a = start_erlang(c.erlang_options("a", c.files()));
  auto z = start_erlang(c.erlang_options("z", c.files()));
  constexpr int rounds = 5;
  constexpr int per_side = 100;
  std::size_t sent_to_moat = 0;
  for (int r = 0; r < rounds; ++r) {
    for (auto* erl : {a.get(), z.get()}) {
      SCOPED_TRACE("round " + std::to_string(r) + " with " + erl->node_name());
      const auto& peer = erl->node_name();
      // Both start dialling before either connection is up: the moat node's dial runs on
      // its workers while the Erlang node starts its own.
      for (int i = 0; i < per_side; ++i)
        (void)moat->send(destination("test_inbox", peer),
                         dist::make_tuple(atom("m"), std::int64_t{r}, std::int64_t{i}));
      EXPECT_EQ(erl->eval("[{inbox, 'm@localhost'} ! {e, I} || I <- lists:seq(1, " +
                          std::to_string(per_side) + ")], ok"),
                "ok");
      sent_to_moat += per_side;
      EXPECT_TRUE(testing::eventually([&] { return inbox.count() == sent_to_moat; }, 20s))
          << inbox.count() << " of " << sent_to_moat;
      const auto want = std::to_string((r + 1) * per_side);
      EXPECT_TRUE(testing::eventually([&] { return erl->eval("test_inbox:count()") == want; }, 20s))
          << erl->eval("test_inbox:count()") << " of " << want;
      EXPECT_EQ(erl->eval("nodes()"), "[m@localhost]");
      EXPECT_EQ(events.count(node_event::kind::up, peer), static_cast<std::size_t>(r + 1));
      EXPECT_EQ(events.count(node_event::kind::down, peer), static_cast<std::size_t>(r));
      // Drop the connection for the next round.
      EXPECT_EQ(erl->eval("erlang:disconnect_node('m@localhost')"), "true");
      EXPECT_TRUE(testing::eventually([&] {
        return events.count(node_event::kind::down, peer) == static_cast<std::size_t>(r + 1);
      }));
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace moat::dist
