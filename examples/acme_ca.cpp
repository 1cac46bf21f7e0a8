// An ACME CA in your own process, and a certificate from it through the whole ACME flow:
// the CA serves HTTPS on a loopback port with a certificate from its own root, moat's client
// registers, orders, answers HTTP-01 and finalizes, and the chain verifies to the root.
// Usage: acme_ca DATA_DIR   (the CA's root, intermediate and records are kept there)
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <moat/acme/ca.hpp>
#include <moat/acme/client.hpp>

namespace net = boost::asio;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  net::io_context io;  // the CA's validations and the client run here
  const net::ip::tcp::endpoint loopback{net::ip::make_address("127.0.0.1"), 0};
  moat::acme::http01_server http01({loopback});  // the client's challenge server
  moat::acme::ca ca(io.get_executor(), {.data_dir = argv[1],
                                        .http01_port = http01.local_endpoints()[0].port(),
                                        .hosts = {{"app.internal", "127.0.0.1"}}});

  // HTTPS on a loopback port, with a certificate the CA issues itself from its root.
  moat::acme::ca_server server(ca, {.address = loopback});

  moat::acme::client_options opts{.directory_url = ca.directory_url()};
  opts.http.tls.cacerts = {ca.root_certificate()};  // trust the CA's root
  moat::acme::client acme(io.get_executor(), opts);
  moat::acme::order_request what{.identifiers = {moat::acme::identifier::dns("app.internal")},
                                 .solvers = {&http01}};
  int rc = 1;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto cert = co_await acme.obtain(what);
        if (!cert) {
          std::fprintf(stderr, "%s\n", cert.error().message().c_str());
        } else if (cert->chain.back().is_issued_by(ca.root_certificate())) {
          std::printf("%s until %s\n", cert->chain[0].subject().c_str(),
                      moat::pki::format_utc(cert->chain[0].not_after()).c_str());
          rc = 0;
        }
      },
      net::detached);
  io.run();
  return rc;
}
