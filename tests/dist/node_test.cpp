// moat nodes with each other: the runtime's sends, calls, links, monitors and node downs,
// and every refusal (cookie, certificate, name), each logged once with nothing delivered.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

#include "dist/node_fixture.hpp"
#include "moat/error.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using testing::eventually;

// A process registered as `inbox` that keeps what it gets for the test to read.
struct inbox {
  std::mutex mu;
  std::vector<term> got;
  std::size_t size() {
    std::lock_guard lock(mu);
    return got.size();
  }
  term at(std::size_t i) {
    std::lock_guard lock(mu);
    return got.at(i);
  }
};

pid start_inbox(node& n, const std::shared_ptr<inbox>& box, const std::string& name = "inbox",
                bool trap = false) {
  auto p = n.spawn([box, name, trap](process& self) -> asio::awaitable<void> {
    self.register_name(name);
    self.trap_exit(trap);
    for (;;) {
      term m = co_await self.receive();
      std::lock_guard lock(box->mu);
      box->got.push_back(std::move(m));
    }
  });
  EXPECT_TRUE(eventually([&] { return n.whereis(name).has_value(); }));
  return p;
}

struct Nodes : ::testing::Test {
  testing::cluster c;
};

TEST_F(Nodes, TwoMoatNodesPingAndSendToRegisteredNamesBothWays) {
  node a(c.moat_options("a", c.files()));
  node b(c.moat_options("b", c.files()));
  auto box_a = std::make_shared<inbox>();
  auto box_b = std::make_shared<inbox>();
  start_inbox(a, box_a);
  start_inbox(b, box_b);
  EXPECT_TRUE(a.ping("b@localhost"));
  EXPECT_TRUE(b.ping("a@localhost"));
  EXPECT_TRUE(a.send(destination("inbox", "b@localhost"), make_tuple(atom("hello"), 1)));
  EXPECT_TRUE(b.send(destination("inbox", "a@localhost"), make_tuple(atom("hello"), 2)));
  ASSERT_TRUE(eventually([&] { return box_a->size() == 1 && box_b->size() == 1; }));
  EXPECT_EQ(box_b->at(0), term(make_tuple(atom("hello"), 1)));
  EXPECT_EQ(box_a->at(0), term(make_tuple(atom("hello"), 2)));
  EXPECT_EQ(a.nodes(), std::vector<std::string>{"b@localhost"});
}

TEST_F(Nodes, MessagesBetweenTwoProcessesArriveInTheOrderSent) {
  node a(c.moat_options("a", c.files()));
  node b(c.moat_options("b", c.files()));
  auto box = std::make_shared<inbox>();
  start_inbox(b, box);
  constexpr int count = 5000;
  (void)a.spawn([](process& self) -> asio::awaitable<void> {
    for (int i = 0; i < count; ++i) (void)self.send(destination("inbox", "b@localhost"), i);
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return box->size() == count; }, 30s)) << box->size();
  for (int i = 0; i < count; ++i) ASSERT_EQ(box->at(static_cast<std::size_t>(i)), term(i));
}

TEST_F(Nodes, ACallAcrossNodesGetsItsReplyAndACallToNobodyFailsWithNoproc) {
  node a(c.moat_options("a", c.files()));
  node b(c.moat_options("b", c.files()));
  (void)b.spawn([](process& self) -> asio::awaitable<void> {
    self.register_name("server");
    for (;;) {
      term m = co_await self.receive();
      if (auto call = process::as_call(m))
        self.reply(call->from, make_tuple(atom("ok"), call->request));
    }
  });
  ASSERT_TRUE(eventually([&] { return b.whereis("server").has_value(); }));
  auto result = std::make_shared<std::promise<std::pair<term, term>>>();
  auto f = result->get_future();
  (void)a.spawn([result](process& self) -> asio::awaitable<void> {
    auto ok = co_await self.call(destination("server", "b@localhost"), 42);
    auto missing = co_await self.call(destination("nobody", "b@localhost"), 1);
    result->set_value(
        {ok ? *ok : term(atom("error")), missing ? term(atom("reply")) : missing.error().reason});
  });
  ASSERT_EQ(f.wait_for(test::scaled(20s)), std::future_status::ready);
  auto [ok, missing] = f.get();
  EXPECT_EQ(ok, term(make_tuple(atom("ok"), 42)));
  EXPECT_EQ(missing, term(atom("noproc")));
}

TEST_F(Nodes, ALinkAcrossNodesCarriesTheExitReasonAndANodeStopSaysNoconnection) {
  node a(c.moat_options("a", c.files()));
  auto b = std::make_unique<node>(c.moat_options("b", c.files()));
  auto box = std::make_shared<inbox>();
  const pid watcher = start_inbox(a, box, "inbox", true);
  // A process on b links to the watcher on a, then ends with reason `because`.
  (void)b->spawn([watcher](process& self) -> asio::awaitable<void> {
    self.link(watcher);
    throw process_exit(atom("because"));
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return box->size() == 1; }));
  const term m0 = box->at(0);
  const tuple* t = m0.as_tuple();
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE((*t)[0].is_atom("EXIT"));
  EXPECT_EQ((*t)[2], term(atom("because")));

  // A process on a monitors one on b; b stops: DOWN with noconnection.
  const pid sleeper = b->spawn([](process& self) -> asio::awaitable<void> {
    self.register_name("sleeper");
    (void)co_await self.receive();
  });
  ASSERT_TRUE(eventually([&] { return b->whereis("sleeper").has_value(); }));
  (void)a.spawn([sleeper, box](process& self) -> asio::awaitable<void> {
    (void)self.monitor(sleeper);
    term m = co_await self.receive();
    std::lock_guard lock(box->mu);
    box->got.push_back(std::move(m));
  });
  ASSERT_TRUE(eventually([&] { return !a.nodes().empty(); }));
  b->stop();
  ASSERT_TRUE(eventually([&] { return box->size() == 2; }, 20s));
  const term m1 = box->at(1);
  const tuple* d = m1.as_tuple();
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE((*d)[0].is_atom("DOWN"));
  EXPECT_TRUE((*d)[4].is_atom("noconnection") || (*d)[4].is_atom("shutdown")) << (*d)[4];
}

// A process that ends with reason `bye` when it gets any message.
asio::awaitable<void> ends_when_told(process& self) {
  (void)co_await self.receive();
  throw process_exit(atom("bye"));
}

bool is_down(const term& t, const term& ref, const char* reason) {
  const tuple* d = t.as_tuple();
  return d != nullptr && d->size() == 5 && (*d)[0].is_atom("DOWN") && (*d)[1] == ref &&
         (*d)[4].is_atom(reason);
}

bool is_exit(const term& t, const pid& from, const char* reason) {
  const tuple* e = t.as_tuple();
  return e != nullptr && e->size() == 3 && (*e)[0].is_atom("EXIT") && (*e)[1] == term(from) &&
         (*e)[2].is_atom(reason);
}

TEST_F(Nodes, LinksAndMonitorsMadeRightAfterADisconnectOutliveTheOldConnectionsNodeDown) {
  // One worker, so the process runs between the old connection's end and the sweep of that
  // connection's links and monitors: what it makes over the new connection must survive it.
  auto oa = c.moat_options("a", c.files());
  oa.workers = 1;
  node a(oa);
  node b(c.moat_options("b", c.files()));
  const auto m_target = b.spawn_registered("m_target", ends_when_told);
  const auto l_target = b.spawn_registered("l_target", ends_when_told);
  ASSERT_TRUE(m_target && l_target);
  auto box = std::make_shared<inbox>();
  auto refs = std::make_shared<std::promise<std::pair<term, term>>>();
  auto refs_made = refs->get_future();
  (void)a.spawn(
      [&a, box, refs, m = *m_target, l = *l_target](process& self) -> asio::awaitable<void> {
        self.trap_exit(true);
        const auto is_auth = make_tuple(atom("is_auth"), atom(a.name()));
        const term first = self.monitor(m);
        (void)co_await self.call(destination("net_kernel", "b@localhost"), is_auth);
        EXPECT_TRUE(a.disconnect("b@localhost"));
        // Let the connection's end run (it was posted first); its sweep is posted after this.
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        const term second = self.monitor(m);
        self.link(l);
        // Everything sent before the call's reply has reached b over the new connection.
        (void)co_await self.call(destination("net_kernel", "b@localhost"), is_auth);
        refs->set_value({first, second});
        for (;;) {
          term got = co_await self.receive();
          std::lock_guard lock(box->mu);
          box->got.push_back(std::move(got));
        }
      });
  ASSERT_EQ(refs_made.wait_for(test::scaled(20s)), std::future_status::ready);
  const auto [first, second] = refs_made.get();
  ASSERT_TRUE(eventually([&] { return box->size() >= 1; }));
  EXPECT_TRUE(is_down(box->at(0), first, "noconnection")) << box->at(0);
  EXPECT_TRUE(b.send(destination("m_target"), atom("go")));
  EXPECT_TRUE(b.send(destination("l_target"), atom("go")));
  ASSERT_TRUE(eventually([&] { return box->size() >= 3; })) << box->size();
  EXPECT_EQ(box->size(), 3U);
  for (std::size_t i = 1; i < box->size(); ++i)
    EXPECT_TRUE(is_down(box->at(i), second, "bye") || is_exit(box->at(i), *l_target, "bye"))
        << box->at(i);
}

TEST_F(Nodes, AWrongCookieIsRefusedLoggedOnceAndDeliversNothing) {
  testing::captured_log log_b;
  auto oa = c.moat_options("a", c.files());
  oa.cookie = "other-cookie";
  auto ob = c.moat_options("b", c.files());
  ob.logger = log_b.logger();
  node a(oa);
  node b(ob);
  auto box = std::make_shared<inbox>();
  start_inbox(b, box);
  EXPECT_FALSE(a.ping("b@localhost", 5s));
  (void)a.send(destination("inbox", "b@localhost"), atom("must_not_arrive"));
  ASSERT_TRUE(log_b.wait_for("refused"));
  const auto refused = log_b.lines("refused");
  ASSERT_GE(refused.size(), 1U);
  EXPECT_NE(refused[0].find("claiming 'a@localhost'"), std::string::npos) << refused[0];
  EXPECT_NE(refused[0].find("wrong cookie"), std::string::npos) << refused[0];
  EXPECT_EQ(box->size(), 0U);
  EXPECT_TRUE(b.nodes().empty());
}

TEST_F(Nodes, ACertificateFromAnotherCaIsRefusedBothWays) {
  testing::cluster other;
  testing::captured_log log_b;
  auto stranger = other.files();
  stranger.cacertfile = c.ca.certfile();  // it trusts us; we do not trust it
  auto oa = c.moat_options("a", stranger);
  oa.epmd_port = c.epmd.port();
  auto ob = c.moat_options("b", c.files());
  ob.logger = log_b.logger();
  node a(oa);
  node b(ob);
  EXPECT_FALSE(a.ping("b@localhost", 5s));
  ASSERT_TRUE(log_b.wait_for("refused"));
  EXPECT_FALSE(b.ping("a@localhost", 5s));
  EXPECT_TRUE(a.nodes().empty());
  EXPECT_TRUE(b.nodes().empty());
}

TEST_F(Nodes, ACertificateThatDoesNotNameTheClaimedHostIsRefusedByTheServer) {
  testing::captured_log log_b;
  auto oa = c.moat_options("a", c.files("otherhost"));
  auto ob = c.moat_options("b", c.files());
  ob.logger = log_b.logger();
  node a(oa);
  node b(ob);
  auto box = std::make_shared<inbox>();
  start_inbox(b, box);
  EXPECT_FALSE(a.ping("b@localhost", 5s));
  ASSERT_TRUE(log_b.wait_for("refused"));
  const auto refused = log_b.lines("refused");
  EXPECT_NE(refused[0].find("does not name the host"), std::string::npos) << refused[0];
  EXPECT_NE(refused[0].find("DNS:otherhost"), std::string::npos) << refused[0];
  EXPECT_EQ(box->size(), 0U);
  // And the other way: a dials b... b's certificate names localhost, fine; but b dialling a
  // finds a certificate that does not name a's host.
  testing::captured_log log_b2;
  EXPECT_FALSE(b.ping("a@localhost", 5s));
}

TEST_F(Nodes, AFullMailboxKillsItsProcessWithAVisibleReason) {
  auto o = c.moat_options("a", c.files());
  o.mailbox_limit = 10;
  node a(o);
  auto box = std::make_shared<inbox>();
  const pid watcher = start_inbox(a, box, "inbox", true);
  const pid slow = a.spawn([watcher](process& self) -> asio::awaitable<void> {
    self.link(watcher);
    self.register_name("slow");
    (void)co_await self.receive_if([](const term&) { return false; });
  });
  ASSERT_TRUE(eventually([&] { return a.whereis("slow").has_value(); }));
  for (int i = 0; i < 20; ++i) (void)a.send(slow, i);
  ASSERT_TRUE(eventually([&] { return box->size() == 1; }));
  const term m0 = box->at(0);
  const tuple* t = m0.as_tuple();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ((*t)[2], term(make_tuple(atom("mailbox_overflow"), 10)));
}

// Node a for the set-up tests: one worker, so a process that sends without waiting runs ahead
// of its dial and every message waits for the set-up; a limit of 64 KiB (three 20 KiB chunks
// fit, four do not); and an up callback that first runs `on_up` (once) then records the event.
struct set_up_node {
  testing::captured_log log;
  std::mutex mu;
  std::vector<node_event::kind> events;
  std::atomic<node*> self{nullptr};
  std::function<void(node&)> on_up;
  std::optional<node> n;

  set_up_node(testing::cluster& c, std::function<void(node&)> up) : on_up(std::move(up)) {
    auto o = c.moat_options("a", c.files());
    o.workers = 1;
    o.send_buffer_limit = 64 * 1024;
    o.logger = log.logger();
    o.on_event = [this](const node_event& e) {
      if (e.what == node_event::kind::up && on_up) std::exchange(on_up, nullptr)(*self.load());
      std::lock_guard lock(mu);
      events.push_back(e.what);
    };
    n.emplace(o);
    self.store(&*n);
  }
  std::vector<node_event::kind> seen() {
    std::lock_guard lock(mu);
    return events;
  }
  // Sends chunks first..last-1 ({I, 20 KiB}) to inbox@b from one process, without waiting.
  void send_chunks(int first, int last) {
    (void)n->spawn([first, last](process& p) -> asio::awaitable<void> {
      const binary chunk(std::vector<std::uint8_t>(20 * 1024, 7));
      for (int i = first; i < last; ++i)
        (void)p.send(destination("inbox", "b@localhost"), make_tuple(i, chunk));
      co_return;
    });
  }
};

std::vector<std::int64_t> numbers(inbox& box) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < box.size(); ++i) {
    const term m = box.at(i);
    const tuple* t = m.as_tuple();
    out.push_back(t != nullptr ? (*t)[0].try_as<std::int64_t>().value_or(-1) : -1);
  }
  return out;
}

TEST_F(Nodes, MoreThanTheSendBufferLimitQueuedDuringSetUpClosesTheDialAndLosesNoOrder) {
  // What is queued while a connection is set up counts against send_buffer_limit: going over
  // it closes that dial (as over an up connection) instead of growing without bound. 14
  // chunks: three dials take four each and close; the fourth carries the last two.
  node b(c.moat_options("b", c.files()));
  auto box = std::make_shared<inbox>();
  start_inbox(b, box);
  set_up_node a(c, [](node& self) {
    // Sent by the up callback: after what was queued during the set-up.
    (void)self.send(destination("inbox", "b@localhost"), make_tuple(100, atom("up")));
  });
  a.send_chunks(0, 14);
  ASSERT_TRUE(eventually([&] { return box->size() == 3; })) << box->size();
  ASSERT_TRUE(a.n->ping("b@localhost", test::scaled(10s)));
  ASSERT_TRUE(a.n->send(destination("inbox", "b@localhost"), make_tuple(200, atom("after"))));
  ASSERT_TRUE(eventually([&] { return box->size() == 4; })) << box->size();
  EXPECT_EQ(numbers(*box), (std::vector<std::int64_t>{12, 13, 100, 200}));
  EXPECT_EQ(a.log.lines("more than send_buffer_limit").size(), 3U);
  EXPECT_EQ(a.seen(), std::vector<node_event::kind>{node_event::kind::up});
}

TEST_F(Nodes, AnUpCallbackThatSendsPastTheLimitSeesTheConnectionGoDownAfterItSawItUp) {
  // Three chunks fit under the limit while the connection is set up; the up callback's fourth
  // passes it. The connection closes -- after the callback has returned, not inside it.
  node b(c.moat_options("b", c.files()));
  auto box = std::make_shared<inbox>();
  start_inbox(b, box);
  set_up_node a(c, [](node& self) {
    const binary chunk(std::vector<std::uint8_t>(20 * 1024, 7));
    (void)self.send(destination("inbox", "b@localhost"), make_tuple(3, chunk));
  });
  a.send_chunks(0, 3);
  ASSERT_TRUE(a.log.wait_for("more than send_buffer_limit"));
  ASSERT_TRUE(eventually([&] { return a.seen().size() >= 2; }));
  EXPECT_EQ(a.seen(),
            (std::vector<node_event::kind>{node_event::kind::up, node_event::kind::down}));
}

TEST_F(Nodes, AMessageSentRightAfterASpawnOnTheSameCoreReachesTheNewProcess) {
  auto o = c.moat_options("a", c.files());
  o.workers = 1;  // the spawner and its children share the core
  node a(o);
  auto box = std::make_shared<inbox>();
  start_inbox(a, box);
  constexpr int count = 100;
  (void)a.spawn([](process& self) -> asio::awaitable<void> {
    for (int i = 0; i < count; ++i) {
      const pid child = self.node().spawn([](process& me) -> asio::awaitable<void> {
        term m = co_await me.receive();
        (void)me.send("inbox", std::move(m));
      });
      (void)self.send(child, i);
    }
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return box->size() == count; })) << box->size();
}

TEST_F(Nodes, SpawnRegisteredTakesTheNameBeforeTheProcessRunsAndRefusesATakenOne) {
  node a(c.moat_options("a", c.files()));
  auto box = std::make_shared<inbox>();
  start_inbox(a, box);
  const auto p = a.spawn_registered("forwarder", [](process& self) -> asio::awaitable<void> {
    for (;;) (void)self.send("inbox", co_await self.receive());
  });
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(a.send("forwarder", atom("first")));  // no wait: the name is there already
  ASSERT_TRUE(eventually([&] { return box->size() == 1; }));
  EXPECT_FALSE(
      a.spawn_registered("forwarder", [](process&) -> asio::awaitable<void> { co_return; }));
}

TEST_F(Nodes, BadOptionsAreConfigurationErrorsNamingTheOption) {
  auto o = c.moat_options("a", c.files());
  o.name = "bad name@localhost";
  EXPECT_THROW((node{o}), config_error);
  o = c.moat_options("a", c.files());
  o.server.certfile = c.dir.path() / "missing.pem";
  EXPECT_THROW((node{o}), config_error);
  o = c.moat_options("a", c.files());
  node first(o);
  try {
    node second(o);
    FAIL() << "a second node of the same name started";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("a@localhost"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moat::dist
