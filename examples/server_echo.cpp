// docs/server.md: a supervised {packet,4} server in both handler styles. Runs a client
// against itself and exits, so it doubles as a test:
//   ./example_server_echo   -> prints "coroutine: hello", "events: HELLO" and exits 0
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cctype>
#include <cstdio>
#include <moat/pki/pki.hpp>
#include <moat/server/server.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace moat;

// [coroutine]
// The coroutine style: the handler owns its connection until it returns. Returning closes
// it normally; throwing takes down this connection only (the peer gets an alert, the log a line).
asio::awaitable<void> echo(server::connection& c) {
  for (;;) {
    auto msg = co_await c.recv_view();  // one {packet,4} message; the idle timeout applies
    if (!msg) co_return;                // closed, idle, or the server is draining
    if (co_await c.send(*msg)) co_return;  // the view is valid until the next recv
  }
}
// [coroutine]

// [events]
// The event style: the recipe's GenServer, one object per connection.
struct shouter : server::event_handler {
  std::size_t messages = 0;  // per-connection state lives in members
  asio::awaitable<void> on_message(server::connection& c,
                                   std::span<const std::uint8_t> msg) override {
    ++messages;
    std::string up(msg.begin(), msg.end());
    for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    (void)co_await c.send(up);
  }
};
// [events]

std::string ask(std::uint16_t port, const tls::context& ctx, const std::string& what) {
  asio::io_context io;
  auto f = asio::co_spawn(
      io,
      [&]() -> asio::awaitable<std::string> {
        auto s = co_await tls::socket::connect(io.get_executor(), "localhost", port, ctx, 5s,
                                               {.packet = framing::packet_mode::u32});
        if (!s) co_return tls::format_error(s.error());
        (void)co_await s->send(what);
        auto r = co_await s->recv(0, 5s);
        co_await s->close();
        co_return r ? std::string(r->begin(), r->end()) : tls::format_error(r.error());
      },
      asio::use_future);
  io.run();
  return f.get();
}

int main() {
  auto ca_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto ca = pki::certificate_builder{.common_name = "example CA", .is_ca = true}.self_sign(ca_key);
  auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto cert =
      pki::certificate_builder{.common_name = "localhost", .subject_alt_names = {"DNS:localhost"}}
          .sign(key, ca, ca_key);

  // [listener]
  server::listener_options lo;
  lo.name = "echo";
  lo.addresses = {{asio::ip::make_address("127.0.0.1"), 0}};  // port 0: any free port
  lo.socket.packet = framing::packet_mode::u32;               // {packet,4}
  lo.max_connections = 10'000;                                // exact, global
  lo.handshake_timeout = 5s;
  lo.idle_timeout = 60s;

  tls::options tls_opts;
  tls_opts.cert = {cert};  // or certfile/keyfile: checked now, loudly
  tls_opts.key = key;

  server::listener coroutine_server(lo, tls_opts, server::coroutine_handler(echo));
  coroutine_server.start();  // one worker (io thread + SO_REUSEPORT socket) per core
  // ...
  // coroutine_server.reload(new_tls_opts);  // hot certificate swap, e.g. on SIGHUP
  // coroutine_server.stop();                 // graceful drain
  // [listener]

  lo.name = "shout";
  server::listener event_server(
      lo, tls_opts, server::event_handler_factory([] { return std::make_unique<shouter>(); }));
  event_server.start();

  tls::options client_opts;
  client_opts.cacerts = {ca};
  tls::context client(tls::role::client, client_opts);
  std::printf("coroutine: %s\n",
              ask(coroutine_server.local_endpoints().front().port(), client, "hello").c_str());
  std::printf("events: %s\n",
              ask(event_server.local_endpoints().front().port(), client, "hello").c_str());
  const auto st = coroutine_server.get_stats();
  std::printf("handshakes: %llu, failures: %llu\n", static_cast<unsigned long long>(st.handshakes),
              static_cast<unsigned long long>(st.handshake_failures));
  return 0;
}
