// A C++ process that Erlang and Elixir call as a gen_server:
//   GenServer.call({:counter, :"cpp@localhost"}, {:add, 2})   # => 2
//   gen_server:call({counter, 'cpp@localhost'}, get)          % => 2
// Usage: dist_gen_server NAME@HOST COOKIE CERTFILE KEYFILE CACERTFILE [EPMD_PORT]
#include <csignal>
#include <moat/dist/node.hpp>

namespace dist = moat::dist;

// {add, N} adds N and replies with the total; get replies with it; a cast {add, N} adds.
boost::asio::awaitable<void> counter(dist::process& self) {
  self.register_name("counter");
  std::int64_t total = 0;
  for (;;) {
    const dist::term message = co_await self.receive();
    const auto call = dist::process::as_call(message);
    const dist::tuple* t = message.as_tuple();
    const bool cast = t && t->size() == 2 && (*t)[0].is_atom("$gen_cast");
    const dist::term& request = call ? call->request : cast ? (*t)[1] : message;
    const dist::tuple* add = request.as_tuple();
    if (add && add->size() == 2 && (*add)[0].is_atom("add"))
      total += (*add)[1].try_as<std::int64_t>().value_or(0);
    if (call)
      self.reply(call->from, request.is_atom("get") || add ? dist::term(total)
                                                           : dist::term(dist::atom("badarg")));
  }
}

int main(int argc, char** argv) {
  if (argc < 6) return 2;
  dist::node_options o;
  o.name = argv[1];
  o.cookie = argv[2];
  o.server.certfile = argv[3];  // the client side takes the same certificate, key and CAs
  o.server.keyfile = argv[4];
  o.server.cacertfile = argv[5];
  if (argc > 6) o.epmd_port = static_cast<std::uint16_t>(std::stoi(argv[6]));
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the node's threads start
  dist::node node(o);
  (void)node.spawn(counter);
  int received = 0;
  sigwait(&signals, &received);
}
