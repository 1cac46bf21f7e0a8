// docs/tls.md: a {packet,4} echo server and a client that talks to it, in one program.
// Builds its own throwaway CA and certificate in memory, so it runs anywhere:
//   ./example_tls_echo        -> prints "echo: hello" and exits 0
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <moat/pki/pki.hpp>
#include <moat/tls/socket.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace moat;

// [server]
// One coroutine per connection, like the recipe's GenServer per socket.
asio::awaitable<void> serve(tls::socket s) {
  if (auto ec = co_await s.handshake(5s)) {
    std::fprintf(stderr, "handshake failed: %s\n", tls::format_error(ec).c_str());
    co_return;
  }
  for (;;) {
    auto msg = co_await s.recv_view();  // one whole {packet,4} message, not copied
    if (!msg) co_return;                // errc::closed when the peer is done
    if (co_await s.send(*msg)) co_return;
  }
}

asio::awaitable<void> accept_loop(tls::listen_socket& ls) {
  for (;;) {
    auto s = co_await ls.transport_accept();
    if (!s) co_return;
    asio::co_spawn(ls.acceptor().get_executor(), serve(std::move(*s)), asio::detached);
  }
}
// [server]

// [client]
asio::awaitable<int> client(std::uint16_t port, const tls::context& ctx) {
  auto ex = co_await asio::this_coro::executor;
  auto s = co_await tls::socket::connect(ex, "localhost", port, ctx, 5s,
                                         {.packet = framing::packet_mode::u32});
  if (!s) {
    std::fprintf(stderr, "connect: %s\n", tls::format_error(s.error()).c_str());
    co_return 1;
  }
  (void)co_await s->send("hello");
  auto reply = co_await s->recv(0, 5s);
  if (!reply) co_return 1;
  std::printf("echo: %.*s (%s, %s)\n", static_cast<int>(reply->size()),
              reinterpret_cast<const char*>(reply->data()),
              std::string(tls::to_string(s->connection_information()->protocol)).c_str(),
              s->connection_information()->cipher_suite.c_str());
  co_await s->close();
  co_return 0;
}
// [client]

int main() {
  // A CA and a server certificate for "localhost", made in memory.
  auto ca_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto ca = pki::certificate_builder{.common_name = "example CA", .is_ca = true}.self_sign(ca_key);
  auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto cert =
      pki::certificate_builder{.common_name = "localhost", .subject_alt_names = {"DNS:localhost"}}
          .sign(key, ca, ca_key);

  // [contexts]
  tls::options server_opts;
  server_opts.cert = {cert};                                // or certfile = "cert.pem"
  server_opts.key = key;                                    // or keyfile = "key.pem"
  tls::context server_ctx(tls::role::server, server_opts);  // validates; throws config_error

  tls::options client_opts;
  client_opts.cacerts = {ca};  // or cacertfile = "ca.pem"; verify_peer is the default
  tls::context client_ctx(tls::role::client, client_opts);
  // [contexts]

  asio::io_context io;
  auto ls =
      tls::listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0},
                                 server_ctx, {.accepted = {.packet = framing::packet_mode::u32}});
  asio::co_spawn(io, accept_loop(ls), asio::detached);
  auto done = asio::co_spawn(io, client(ls.local_endpoint().port(), client_ctx), asio::use_future);
  while (done.wait_for(0s) != std::future_status::ready) io.run_one_for(100ms);
  return done.get();
}
