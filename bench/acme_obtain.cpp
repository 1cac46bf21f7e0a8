// bench/acme.sh's in-process row: the wall time of one acme::client::obtain() call -- a fresh
// account, the order, HTTP-01, finalize, download -- without process start-up, key file
// writing or the challenge server's start. Prints "elapsed_ns N" on success.
// Usage: moat_acme_obtain DIRECTORY_URL CA_FILE HTTP_PORT NAME
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <moat/acme/client.hpp>
#include <optional>

namespace net = boost::asio;
namespace acme = moat::acme;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DIRECTORY_URL CA_FILE HTTP_PORT NAME\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[3]));
  acme::http01_server http01({{net::ip::make_address("127.0.0.1"), port}});
  net::io_context io;
  acme::client_options opts;
  opts.directory_url = argv[1];
  opts.http.tls.cacertfile = argv[2];
  acme::client client(io.get_executor(), opts);
  acme::order_request req{.identifiers = {acme::identifier::dns(argv[4])}, .solvers = {&http01}};
  std::optional<acme::result<acme::issued_certificate>> out;
  const auto t0 = std::chrono::steady_clock::now();
  net::co_spawn(
      io, client.obtain(req),
      [&](std::exception_ptr, acme::result<acme::issued_certificate> r) { out = std::move(r); });
  io.run();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  if (!out || !*out) {
    std::fprintf(stderr, "%s\n", out ? out->error().message().c_str() : "no result");
    return 1;
  }
  std::printf("elapsed_ns %lld\n",
              static_cast<long long>(std::chrono::nanoseconds(elapsed).count()));
  return 0;
}
