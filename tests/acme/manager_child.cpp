// A child process for the manager's crash tests (manager_process_test.cpp): a certificate
// manager for 127.0.0.1 (profile shortlived) certifying a TLS listener through a CA given by
// its directory URL, logging every step (debug) on stdout. Prints "READY <serial>" once a
// certificate from the CA is in service, then runs until killed.
//
//   acme_manager_child DIRECTORY_URL ROOT_PEM STORAGE_DIR TLS_PORT
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <moat/acme/manager.hpp>
#include <moat/pki/load.hpp>
#include <moat/server/listener.hpp>
#include <string>

namespace net = boost::asio;
namespace acme = moat::acme;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DIRECTORY_URL ROOT_PEM STORAGE_DIR TLS_PORT\n", argv[0]);
    return 2;
  }
  auto log = spdlog::stdout_logger_mt("child");
  log->set_level(spdlog::level::debug);
  log->flush_on(spdlog::level::debug);
  net::io_context io;
  acme::manager_options o;
  o.domains = {"127.0.0.1"};
  o.profile = "shortlived";
  o.directory = argv[1];
  o.client.http.tls.cacerts = moat::pki::load_certificates(argv[2]);
  o.storage_dir = argv[3];
  o.challenges = {"tls-alpn-01"};
  o.logger = log;
  acme::manager m(io.get_executor(), o);
  moat::server::listener_options lo;
  lo.name = "child";
  lo.addresses = {
      {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(argv[4]))}};
  lo.workers = 1;
  lo.logger = log;
  moat::server::coroutine_handler done = [](moat::server::connection&) -> net::awaitable<void> {
    co_return;
  };
  moat::server::listener l(lo, m.tls_options(), done);
  l.start();
  m.start();
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto c = co_await m.wait_certificate(std::chrono::minutes(5));
        if (c) {
          std::printf("READY %s\n", c->serial_hex().c_str());
        } else {
          std::printf("FAILED %s\n", c.error().message().c_str());
        }
        std::fflush(stdout);
      },
      net::detached);
  io.run();
}
