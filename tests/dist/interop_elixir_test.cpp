// A moat node with a real Elixir node (1.14) over TLS distribution, both directions: ping,
// registered sends, GenServer calls, links and monitors.
#include "dist/interop_fixture.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;
using testing::printed;
namespace asio = boost::asio;

struct InteropElixir : testing::interop {
  std::unique_ptr<test::erlang_node> ex;

  void SetUp() override {
    start_moat(options());
    auto o = c.erlang_options("e", c.files());
    o.kind = test::node_kind::elixir;
    ex = start_erlang(o);
  }
};

TEST_F(InteropElixir, AnElixirNodePingsTheMoatNodeAndTheMoatNodePingsBack) {
  EXPECT_EQ(ex->eval_elixir("Node.ping(:\"m@localhost\")"), "pong") << ex->output();
  EXPECT_EQ(ex->eval_elixir("Node.list()"), "[m@localhost]");
  EXPECT_TRUE(moat->ping("e@localhost"));
  EXPECT_EQ(moat->nodes(), std::vector<std::string>{"e@localhost"});
  EXPECT_EQ(events.count(node_event::kind::up, "e@localhost"), 1U);
}

TEST_F(InteropElixir, TheMoatNodeDialsTheElixirNodeFirst) {
  EXPECT_TRUE(moat->ping("e@localhost")) << ex->output();
  EXPECT_EQ(ex->eval_elixir("Node.list()"), "[m@localhost]");
}

TEST_F(InteropElixir, ARegisteredSendFromElixirComesBackFromTheMoatEchoProcess) {
  EXPECT_EQ(ex->eval_elixir("send({:echo, :\"m@localhost\"}, {self(), {:hello, \"bin\", [1, 2, 3], "
                            "%{k: 1.5}}}); receive do x -> x after 5000 -> :timeout end"),
            "{hello,<<\"bin\">>,[1,2,3],#{k => 1.5}}");
}

TEST_F(InteropElixir, AMoatProcessSendsToANameRegisteredOnTheElixirNodeAndGetsTheAnswer) {
  EXPECT_EQ(ex->eval_elixir("pid = spawn(fn -> receive do {from, x} -> send(from, {:elixir_got, "
                            "x}) end end); Process.register(pid, :ex_echo)"),
            "true");
  const auto r = in_process<std::string>(*moat, [](process& self) -> asio::awaitable<std::string> {
    (void)self.send(destination("ex_echo", "e@localhost"),
                    dist::make_tuple(self.self(), binary("from moat")));
    auto m = co_await self.receive(10s);
    co_return m ? format_term(*m, term_style::readable) : "nothing";
  });
  EXPECT_EQ(r, "{elixir_got,<<\"from moat\">>}");
}

TEST_F(InteropElixir, ElixirCallsAMoatProcessWithGenServerCall) {
  EXPECT_EQ(ex->eval_elixir("GenServer.call({:echo, :\"m@localhost\"}, {:ping, 1})"),
            "{echo,{ping,1}}");
}

TEST_F(InteropElixir, AMoatProcessCallsAGenServerDefinedAndRegisteredInElixir) {
  EXPECT_EQ(ex->eval_elixir(
                "defmodule MoatKV do use GenServer; def init(s), do: {:ok, s}; "
                "def handle_call({:put, k, v}, _from, s), do: {:reply, :ok, Map.put(s, k, v)}; "
                "def handle_call({:get, k}, _from, s), do: {:reply, Map.get(s, k, :none), s} end; "
                "{:ok, _} = GenServer.start(MoatKV, %{}, name: :kv); :started",
                30s),
            "started")
      << ex->output();
  const auto r = in_process<std::string>(*moat, [](process& self) -> asio::awaitable<std::string> {
    const destination kv("kv", "e@localhost");
    const auto put = co_await self.call(kv, dist::make_tuple(atom("put"), atom("k"), binary("v")));
    const auto got = co_await self.call(kv, dist::make_tuple(atom("get"), atom("k")));
    const auto none = co_await self.call(kv, dist::make_tuple(atom("get"), atom("other")));
    co_return printed(put) + " " + printed(got) + " " + printed(none);
  });
  EXPECT_EQ(r, "ok <<\"v\">> none");
}

TEST_F(InteropElixir, ALinkBreaksBothWaysWithTheExitReason) {
  // Elixir -> moat: a moat process trapping exits links to an Elixir process that then exits
  // with :boom.
  auto f = testing::start_link_trapper(*moat, term_style::readable);
  EXPECT_EQ(ex->eval_elixir("pid = spawn(fn -> send({:trapper, :\"m@localhost\"}, {:hello, "
                            "self()}); receive do :die -> exit(:boom) end end); is_pid(pid)"),
            "true");
  ASSERT_EQ(f.wait_for(test::scaled(30s)), std::future_status::ready);
  const auto exit_msg = f.get();
  EXPECT_EQ(exit_msg.rfind("{'EXIT',#Pid<", 0), 0U) << exit_msg;
  EXPECT_NE(exit_msg.find(",boom}"), std::string::npos) << exit_msg;

  // moat -> Elixir: an Elixir process trapping exits is linked by a moat process that ends
  // with reason bye.
  EXPECT_EQ(ex->eval_elixir("pid = spawn(fn -> Process.flag(:trap_exit, true); "
                            "Process.register(self(), :linkee); receive do {:EXIT, _, r} -> "
                            "send(:test_inbox, {:got, r}) end end); is_pid(pid)"),
            "true");
  (void)moat->spawn([](process& self) -> asio::awaitable<void> {
    auto p = co_await self.rpc("e@localhost", "erlang", "whereis", make_list(atom("linkee")));
    if (p && p->is_pid()) self.link(*p->as_pid());
    throw process_exit(atom("bye"));
  });
  EXPECT_EQ(ex->eval("test_inbox:take(10000)"), "{ok,{got,bye}}");
}

TEST_F(InteropElixir, MonitorsFireDownBothWays) {
  // moat watches an Elixir process by its registered name; it ends with :done.
  EXPECT_EQ(ex->eval_elixir("pid = spawn(fn -> receive do :stop -> exit(:done) end end); "
                            "Process.register(pid, :watched)"),
            "true");
  const auto down =
      in_process<std::string>(*moat, [](process& self) -> asio::awaitable<std::string> {
        const destination watched("watched", "e@localhost");
        (void)self.monitor(watched);
        (void)self.send(watched, atom("stop"));
        auto m = co_await self.receive(10s);
        co_return m ? format_term(*m, term_style::readable) : "nothing";
      });
  EXPECT_EQ(down.rfind("{'DOWN',#Ref<", 0), 0U) << down;
  EXPECT_NE(down.find(",process,{watched,e@localhost},done}"), std::string::npos) << down;

  // Elixir watches a moat process by name; it ends with reason finished when told.
  (void)moat->spawn([](process& self) -> asio::awaitable<void> {
    self.register_name("short_lived");
    (void)co_await self.receive();
    throw process_exit(atom("finished"));
  });
  ASSERT_TRUE(testing::eventually([&] { return moat->whereis("short_lived").has_value(); }));
  EXPECT_EQ(ex->eval_elixir("ref = Process.monitor({:short_lived, :\"m@localhost\"}); "
                            "send({:short_lived, :\"m@localhost\"}, :stop); "
                            "receive do {:DOWN, ^ref, :process, who, r} -> {who, r} "
                            "after 5000 -> :timeout end"),
            "{{short_lived,m@localhost},finished}")
      << ex->output();
}

}  // namespace
}  // namespace moat::dist
