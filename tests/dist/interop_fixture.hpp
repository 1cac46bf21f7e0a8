#pragma once
// What the interop matrix tests (interop_*_test.cpp) share: moat processes that answer like
// the Erlang helpers (an echo server, an inbox that records what it gets), a recorder of a
// node's up/down events, and a test fixture holding a cluster, a captured log and the nodes.
#include <gtest/gtest.h>

#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dist/node_fixture.hpp"
#include "moat/dist/term_text.hpp"

namespace moat::dist::testing {

namespace asio = boost::asio;

/// Registered as `echo`: a gen_server call gets {echo, Request}; {Pid, Term} sends Term to Pid.
inline asio::awaitable<void> echo_process(process& self) {
  self.register_name("echo");
  for (;;) {
    term m = co_await self.receive();
    if (auto call = process::as_call(m)) {
      self.reply(call->from, dist::make_tuple(atom("echo"), call->request));
      continue;
    }
    const tuple* t = m.as_tuple();
    if (t != nullptr && t->size() == 2 && (*t)[0].is_pid())
      (void)self.send(*(*t)[0].as_pid(), (*t)[1]);
  }
}

/// A moat process registered as `trapper`, trapping exits: it waits for {hello, Pid}, links
/// to Pid, sends it `die`, and gives the next message it gets, printed in `style` (the
/// {'EXIT', Pid, Reason} of the link when the peer dies).
inline std::future<std::string> start_link_trapper(node& n, term_style style = term_style::plain) {
  auto got = std::make_shared<std::promise<std::string>>();
  auto f = got->get_future();
  (void)n.spawn_registered("trapper", [got, style](process& self) -> asio::awaitable<void> {
    self.trap_exit(true);
    auto hello = co_await self.receive(std::chrono::seconds(30));
    const pid* p = hello && hello->is_tuple(2) ? (*hello->as_tuple())[1].as_pid() : nullptr;
    if (p == nullptr) {
      got->set_value("no hello");
      co_return;
    }
    self.link(*p);
    (void)self.send(*p, atom("die"));
    auto m = co_await self.receive(std::chrono::seconds(30));
    got->set_value(m ? format_term(*m, style) : "nothing");
  });
  return f;
}

/// The messages a moat process registered under a name received (as format_term prints
/// them), readable from the test's thread.
class moat_inbox {
 public:
  /// Spawns the process on `n` and waits until its name is registered.
  moat_inbox(node& n, std::string name) : state_(std::make_shared<shared>()) {
    auto st = state_;
    (void)n.spawn([st, name](process& self) -> asio::awaitable<void> {
      self.register_name(name);
      for (;;) {
        term m = co_await self.receive();
        const std::lock_guard lock(st->mu);
        st->got.push_back(format_term(m));
      }
    });
    EXPECT_TRUE(eventually([&] { return n.whereis(name).has_value(); }));
  }
  [[nodiscard]] std::vector<std::string> messages() const {
    const std::lock_guard lock(state_->mu);
    return state_->got;
  }
  [[nodiscard]] std::size_t count() const {
    const std::lock_guard lock(state_->mu);
    return state_->got.size();
  }

 private:
  struct shared {
    std::mutex mu;
    std::vector<std::string> got;
  };
  std::shared_ptr<shared> state_;
};

/// Records a node's events (pass `callback()` as node_options::on_event).
class event_recorder {
 public:
  [[nodiscard]] std::function<void(const node_event&)> callback() {
    return [st = state_](const node_event& e) {
      const std::lock_guard lock(st->mu);
      st->events.push_back({e, std::chrono::steady_clock::now()});
    };
  }
  struct entry {
    node_event event;
    std::chrono::steady_clock::time_point at;
  };
  [[nodiscard]] std::vector<entry> of(node_event::kind k, const std::string& peer) const {
    const std::lock_guard lock(state_->mu);
    std::vector<entry> out;
    for (const auto& e : state_->events)
      if (e.event.what == k && e.event.node == peer) out.push_back(e);
    return out;
  }
  [[nodiscard]] std::size_t count(node_event::kind k, const std::string& peer) const {
    return of(k, peer).size();
  }

 private:
  struct shared {
    std::mutex mu;
    std::vector<entry> events;
  };
  std::shared_ptr<shared> state_ = std::make_shared<shared>();
};

/// A cluster (private epmd, CA), a captured log, a moat node `m@localhost` and Erlang peers.
struct interop : ::testing::Test {
  cluster c;
  captured_log log;
  event_recorder events;
  std::unique_ptr<node> moat;

  /// A failed test shows what its moat nodes logged.
  void TearDown() override {
    if (!HasFailure()) return;
    for (const auto& l : log.lines("")) std::cerr << "moat log: " << l << "\n";
  }

  /// Options of a moat node named `name` with the cluster's certificate for localhost, the
  /// captured log and the event recorder.
  node_options options(const std::string& name = "m") {
    auto o = c.moat_options(name, c.files());
    o.logger = log.logger();
    o.on_event = events.callback();
    return o;
  }
  /// Starts `moat` with `o` and its echo process.
  void start_moat(node_options o) {
    moat = std::make_unique<node>(std::move(o));
    (void)moat->spawn(echo_process);
    ASSERT_TRUE(eventually([&] { return moat->whereis("echo").has_value(); }));
  }
  /// Starts an Erlang (or Elixir) node and waits until it is ready.
  std::unique_ptr<test::erlang_node> start_erlang(test::erlang_node_options o) {
    auto n = std::make_unique<test::erlang_node>(std::move(o));
    EXPECT_TRUE(n->wait_ready(30s)) << n->output();
    return n;
  }

  /// Runs `body` as a process of `on` and returns what it returns.
  template <class T>
  T in_process(node& on, std::function<asio::awaitable<T>(process&)> body,
               std::chrono::seconds limit = 20s) {
    auto p = std::make_shared<std::promise<T>>();
    auto f = p->get_future();
    (void)on.spawn(
        [body, p](process& self) -> asio::awaitable<void> { p->set_value(co_await body(self)); });
    if (f.wait_for(test::scaled(limit)) != std::future_status::ready) {
      ADD_FAILURE() << "the process did not finish";
      return T{};
    }
    return f.get();
  }
};

/// The printed reply of a call, or "error <reason>".
inline std::string printed(const call_result& r) {
  return r ? format_term(*r, term_style::readable) : "error " + format_term(r.error().reason);
}

}  // namespace moat::dist::testing
