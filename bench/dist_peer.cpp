// moat_dist_peer: the moat target of moat's distribution benchmark (bench/dist.sh,
// docs/bench.md). A moat node with the two registered processes bench/peers/dist_peer.erl
// runs on the Erlang target:
//
//   echo  {From, Term}          -> Term to From
//   sink  {From, Binary}        -> counts it; every K-th: {sink, Count, Bytes} to From
//         {From, count}         -> {sink_count, Count, Bytes} to From
//         {From, reset, K}      -> Count = Bytes = 0, acks every K; {sink, 0, 0} to From
//
//   moat_dist_peer --name p@localhost --cookie C --cert node.pem --key node.key
//                  --cacert ca.pem --epmd-port P [--versions 1.3] [--workers 1]
//
// Prints "ready <node> <os pid>" once both names are registered, then runs until SIGINT or
// SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

#include "dist_common.hpp"

namespace {

namespace asio = boost::asio;
namespace dist = moat::dist;

asio::awaitable<void> echo(dist::process& self) {
  self.register_name("echo");
  for (;;) {
    dist::term m = co_await self.receive();
    auto* t = m.get_if<dist::tuple>();
    if (t == nullptr || t->elements.size() != 2) continue;
    auto* from = t->elements[0].get_if<dist::pid>();
    if (from == nullptr) continue;
    (void)self.send(std::move(*from), std::move(t->elements[1]));
  }
}

asio::awaitable<void> sink(dist::process& self) {
  self.register_name("sink");
  std::int64_t every = 1;
  std::int64_t count = 0;
  std::int64_t bytes = 0;
  for (;;) {
    dist::term m = co_await self.receive();
    auto* t = m.get_if<dist::tuple>();
    if (t == nullptr || t->elements.size() < 2) continue;
    auto* from = t->elements[0].get_if<dist::pid>();
    if (from == nullptr) continue;
    const dist::term& what = t->elements[1];
    if (const auto* b = what.as_binary(); b != nullptr && t->elements.size() == 2) {
      ++count;
      bytes += static_cast<std::int64_t>(b->size());
      if (count % every == 0)
        (void)self.send(std::move(*from), dist::make_tuple(dist::atom("sink"), count, bytes));
    } else if (what.is_atom("count") && t->elements.size() == 2) {
      (void)self.send(std::move(*from), dist::make_tuple(dist::atom("sink_count"), count, bytes));
    } else if (what.is_atom("reset") && t->elements.size() == 3) {
      const auto k = t->elements[2].try_as<std::int64_t>();
      if (!k || *k < 1) continue;
      every = *k;
      count = 0;
      bytes = 0;
      (void)self.send(std::move(*from),
                      dist::make_tuple(dist::atom("sink"), std::int64_t{0}, std::int64_t{0}));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  (void)dist::tune_allocator();  // as the moat command does (docs/dist.md, "Performance")
  CLI::App app{"moat_dist_peer: the moat target of bench/dist.sh (echo and sink)"};
  moat::bench::node_args a;
  moat::bench::add_node_args(app, a);
  CLI11_PARSE(app, argc, argv);

  // The node's threads inherit the mask: the signals come to sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    dist::node n(moat::bench::make_node_options(a, a.name));
    (void)n.spawn(echo);
    (void)n.spawn(sink);
    for (int i = 0; i < 5000 && !(n.whereis("echo") && n.whereis("sink")); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!n.whereis("echo") || !n.whereis("sink")) {
      std::fprintf(stderr, "moat_dist_peer: echo and sink did not register\n");
      return 1;
    }
    std::printf("ready %s %d\n", n.name().c_str(), static_cast<int>(::getpid()));
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    n.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moat_dist_peer: %s\n", e.what());
    return 1;
  }
  return 0;
}
