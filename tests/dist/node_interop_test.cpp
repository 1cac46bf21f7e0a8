// A moat node with real Erlang and Elixir nodes over TLS distribution (inet_tls), both
// directions: ping, registered sends, gen_server calls, rpc, links, monitors, node down.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

#include "dist/interop_fixture.hpp"
#include "dist/node_fixture.hpp"
#include "moat/dist/term_text.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

using testing::echo_process;

struct Interop : ::testing::Test {
  testing::cluster c;
  std::unique_ptr<node> moat;
  std::unique_ptr<test::erlang_node> erl;

  void start(bool with_erlang = true) {
    moat = std::make_unique<node>(c.moat_options("m", c.files()));
    (void)moat->spawn(echo_process);
    for (int i = 0; i < 1000 && !moat->whereis("echo"); ++i) std::this_thread::sleep_for(1ms);
    if (with_erlang) {
      erl = std::make_unique<test::erlang_node>(c.erlang_options("a", c.files()));
      ASSERT_TRUE(erl->wait_ready()) << erl->output();
    }
  }

  // Runs `body` as a moat process and waits for what it sets.
  template <class T>
  T in_process(std::function<asio::awaitable<T>(process&)> body, std::chrono::seconds limit = 20s) {
    auto p = std::make_shared<std::promise<T>>();
    auto f = p->get_future();
    (void)moat->spawn(
        [body, p](process& self) -> asio::awaitable<void> { p->set_value(co_await body(self)); });
    EXPECT_EQ(f.wait_for(test::scaled(limit)), std::future_status::ready);
    return f.get();
  }
};

TEST_F(Interop, AnErlangNodePingsAMoatNodeAndTheMoatNodePingsBack) {
  start();
  EXPECT_EQ(erl->eval("net_adm:ping('m@localhost')"), "pong") << erl->output();
  EXPECT_EQ(erl->eval("nodes()"), "[m@localhost]");
  EXPECT_TRUE(moat->ping("a@localhost"));
  EXPECT_EQ(moat->nodes(), std::vector<std::string>{"a@localhost"});
}

TEST_F(Interop, AMoatNodeDialsAnErlangNodeAndPingsIt) {
  start();
  EXPECT_TRUE(moat->ping("a@localhost")) << erl->output();
  EXPECT_EQ(erl->eval("nodes()"), "[m@localhost]");
}

TEST_F(Interop, ARegisteredSendFromErlangComesBackFromTheEchoProcess) {
  start();
  EXPECT_EQ(
      erl->eval("{echo, 'm@localhost'} ! {self(), {hello, <<\"bin\">>, [1,2,3], #{k => 1.5}}}, "
                "receive X -> X after 5000 -> timeout end"),
      "{hello,<<\"bin\">>,[1,2,3],#{k => 1.5}}");
}

TEST_F(Interop, ErlangCallsAMoatProcessWithGenServerCall) {
  start();
  EXPECT_EQ(erl->eval("gen_server:call({echo, 'm@localhost'}, ping)"), "{echo,ping}");
}

TEST_F(Interop, AMoatProcessCallsAnErlangGenServerAndTheReplyComesToItsAlias) {
  start();
  auto r = in_process<std::string>([](process& self) -> asio::awaitable<std::string> {
    auto reply = co_await self.call(destination("erl_echo", "a@localhost"), atom("hi"));
    co_return reply ? format_term(*reply) : "error " + format_term(reply.error().reason);
  });
  EXPECT_EQ(r, "hi");
}

TEST_F(Interop, AMoatProcessRunsRpcCallOnAnErlangNode) {
  start();
  auto r = in_process<std::string>([](process& self) -> asio::awaitable<std::string> {
    auto reply =
        co_await self.rpc("a@localhost", "lists", "reverse", make_list(make_list(1, 2, 3)));
    co_return reply ? format_term(*reply) : "error " + format_term(reply.error().reason);
  });
  EXPECT_EQ(r, "[3,2,1]");
}

TEST_F(Interop, ALinkBreaksBothWaysWithTheExitReason) {
  start();
  // Erlang -> moat: a moat process trapping exits links to an Erlang process, which then
  // exits with boom.
  auto f = testing::start_link_trapper(*moat);
  EXPECT_EQ(erl->eval("P = spawn(fun() -> {trapper, 'm@localhost'} ! {hello, self()}, "
                      "receive die -> exit(boom) end end), is_pid(P)"),
            "true");
  ASSERT_EQ(f.wait_for(test::scaled(30s)), std::future_status::ready);
  const auto exit_msg = f.get();
  EXPECT_EQ(exit_msg.rfind("{'EXIT',#Pid<", 0), 0U) << exit_msg;
  EXPECT_NE(exit_msg.find(",boom}"), std::string::npos) << exit_msg;

  // moat -> Erlang: an Erlang process trapping exits is linked by a moat process that ends
  // with reason bye.
  EXPECT_EQ(erl->eval("L = spawn(fun() -> process_flag(trap_exit, true), register(linkee, self()), "
                      "receive {'EXIT', _, R} -> test_inbox ! {got, R} end end), is_pid(L)"),
            "true");
  (void)moat->spawn([](process& self) -> asio::awaitable<void> {
    auto p = co_await self.rpc("a@localhost", "erlang", "whereis", make_list(atom("linkee")));
    if (p && p->is_pid()) self.link(*p->as_pid());
    throw process_exit(atom("bye"));
  });
  EXPECT_EQ(erl->eval("test_inbox:take(10000)"), "{ok,{got,bye}}");
}

TEST_F(Interop, AMonitorOfAnErlangProcessFiresOnItsExitAndOnNodeDown) {
  start();
  // A moat process monitors erl_echo by name, then the Erlang node is killed.
  auto r = std::async(std::launch::async, [&] {
    return in_process<std::string>(
        [](process& self) -> asio::awaitable<std::string> {
          (void)self.monitor(destination("erl_echo", "a@localhost"));
          auto m = co_await self.receive(60s);
          co_return m ? format_term(*m) : "nothing";
        },
        90s);
  });
  ASSERT_TRUE(moat->ping("a@localhost"));
  erl->kill9();
  const auto down = r.get();
  EXPECT_NE(down.find("'DOWN'"), std::string::npos) << down;
  EXPECT_NE(down.find("noconnection"), std::string::npos) << down;
}

TEST_F(Interop, ASpawnRequestFromErlangIsAnsweredNotsupAndRpcIntoMoatIsABadrpcNotAHang) {
  start();
  EXPECT_EQ(erl->eval("R = erlang:spawn_request('m@localhost', fun() -> ok end, []), "
                      "receive {spawn_reply, R, error, Why} -> Why after 5000 -> no_reply end"),
            "notsup");
  const auto rpc = erl->eval("rpc:call('m@localhost', erlang, node, [], 5000)");
  EXPECT_EQ(rpc, "{badrpc,notsup}");
}

TEST_F(Interop, APeerThatStopsTakingMessagesHasItsConnectionClosedAtTheSendBufferLimit) {
  testing::captured_log log;
  auto o = c.moat_options("m", c.files());
  o.send_buffer_limit = 256 * 1024;
  o.logger = log.logger();
  moat = std::make_unique<node>(o);
  erl = std::make_unique<test::erlang_node>(c.erlang_options("a", c.files()));
  ASSERT_TRUE(erl->wait_ready()) << erl->output();
  ASSERT_TRUE(moat->ping("a@localhost"));
  ASSERT_EQ(::kill(-erl->pid(), SIGSTOP), 0);
  // 64 MiB at most: the kernel's buffers take a few MiB, then the queue passes the limit.
  (void)moat->spawn([](process& self) -> asio::awaitable<void> {
    const binary chunk(std::vector<std::uint8_t>(64 * 1024, 7));
    for (int i = 0; i < 1024; ++i) {
      (void)self.send(destination("sink", "a@localhost"), chunk);
      if (i % 16 == 0) (void)co_await self.receive(std::chrono::milliseconds(1));
    }
  });
  EXPECT_TRUE(log.wait_for("more than send_buffer_limit", 60s));
  EXPECT_TRUE(testing::eventually([&] { return moat->nodes().empty(); }));
  ::kill(-erl->pid(), SIGCONT);
}

}  // namespace
}  // namespace moat::dist
