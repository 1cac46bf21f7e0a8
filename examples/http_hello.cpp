// docs/http.md: an HTTPS server with a router, the redirect server on its HTTP port, and the
// client asking both. Runs against itself and exits, so it doubles as a test:
//   ./example_http_hello  -> prints "https: hello, world" and
//                            "http: 301 https://127.0.0.1:<port>/hello?lang=en", exits 0
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <moat/http/http.hpp>
#include <moat/pki/pki.hpp>

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using namespace moat;

int main() {
  auto ca_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto ca = pki::certificate_builder{.common_name = "example CA", .is_ca = true}.self_sign(ca_key);
  auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto cert =
      pki::certificate_builder{.common_name = "localhost", .subject_alt_names = {"DNS:localhost"}}
          .sign(key, ca, ca_key);

  // [server]
  http::router routes;
  routes.add(bhttp::verb::get, "/hello",
             [](const http::incoming& in) -> asio::awaitable<http::response> {
               co_return http::make_response(
                   bhttp::status::ok, in.query == "lang=fr" ? "bonjour, monde" : "hello, world");
             });

  http::server_options so;
  so.listener.name = "site";
  so.listener.addresses = {{asio::ip::make_address("127.0.0.1"), 0}};  // port 0: any free port
  so.tls = tls::options{};
  so.tls->cert = {cert};
  so.tls->key = key;
  so.max_body_bytes = 64 * 1024;  // the limits have defaults; see the table
  http::server site(so, routes);
  site.start();
  // [server]

  // [redirect]
  const auto https_port = site.local_endpoints().front().port();
  http::server_options ro;
  ro.listener.name = "redirect";
  ro.listener.addresses = {{asio::ip::make_address("127.0.0.1"), 0}};  // port 80 in real life
  http::server redirect(ro, http::https_redirect(https_port));         // ro.tls empty: plain
  redirect.start();
  // [redirect]

  // [client]
  asio::io_context io;
  http::client_options co;
  co.tls.cacerts = {ca};  // empty: the system's trust store
  co.max_redirects = 0;   // show the redirect instead of following it
  http::client client(io.get_executor(), co);
  auto done = asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto page = co_await client.get(fmt::format("https://localhost:{}/hello", https_port));
        std::printf("https: %s\n", page ? page->body().c_str() : page.error().message().c_str());
        auto moved = co_await client.get(fmt::format("http://127.0.0.1:{}/hello?lang=en",
                                                     redirect.local_endpoints().front().port()));
        if (!moved) {
          std::printf("http: %s\n", moved.error().message().c_str());
          client.close_idle();
          co_return;
        }
        std::printf("http: %u %s\n", moved->result_int(),
                    std::string((*moved)[bhttp::field::location]).c_str());
        client.close_idle();  // the pooled connections go (and with them their timers)
      },
      asio::use_future);
  // [client]
  io.run();
  done.get();
  redirect.stop();
  site.stop();
}
