// Obtain a certificate from an ACME CA in your own process: the HTTP-01 challenge is served
// on port 80 by moat itself, the key is fresh, the chain and key land in two files.
// Usage: acme_obtain DIRECTORY_URL NAME [CA_FILE [PORT]]  (CA_FILE: trust for a private CA)
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <moat/acme/client.hpp>
#include <moat/pki/load.hpp>

namespace net = boost::asio;

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  net::io_context io;
  moat::acme::client_options opts{.directory_url = argv[1], .contact = {"mailto:ops@example.com"}};
  if (argc > 3) opts.http.tls.cacertfile = argv[3];
  moat::acme::client acme(io.get_executor(), opts);
  const auto port = static_cast<unsigned short>(argc > 4 ? std::atoi(argv[4]) : 80);
  moat::acme::http01_server http01({{net::ip::tcp::v4(), port}});
  int rc = 1;
  moat::acme::order_request what{.identifiers = {moat::acme::identifier::dns(argv[2])},
                                 .solvers = {&http01}};
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto cert = co_await acme.obtain(what);
        if (!cert) {
          std::fprintf(stderr, "%s\n", cert.error().message().c_str());
          co_return;
        }
        cert->key.write_file("key.pem");  // mode 0600
        moat::pki::write_pem_file("cert.pem", cert->chain_pem, false, "cert.pem");
        rc = 0;
      },
      net::detached);
  io.run();
  return rc;
}
