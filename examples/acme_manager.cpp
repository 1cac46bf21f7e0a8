// A TLS server whose certificate manages itself: obtained through ACME at start (a temporary
// self-signed one is served meanwhile), renewed before it expires, swapped into the listener
// without a restart. The listener also answers the CA's TLS-ALPN-01 validations.
// Usage: acme_manager DOMAIN DIRECTORY DATA_DIR PORT
//   DIRECTORY: local (an in-process CA), staging, production (Let's Encrypt) or a URL
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <filesystem>
#include <moat/acme/manager.hpp>
#include <moat/server/listener.hpp>
#include <string>

namespace net = boost::asio;
namespace acme = moat::acme;

int main(int argc, char** argv) {
  if (argc != 5) return 2;
  const std::filesystem::path data = argv[3];
  const auto port = static_cast<unsigned short>(std::stoi(argv[4]));

  net::io_context io;  // the manager's work runs here
  acme::manager_options o;
  o.domains = {argv[1]};
  o.directory = argv[2];
  o.storage_dir = data / "acme";      // accounts, certificates (+ data/acme.backup.tar)
  o.challenges = {"tls-alpn-01"};     // answered by the listener below
  o.local_ca.data_dir = data / "ca";  // with "local": the CA's root and keys
  o.local_ca.tls_alpn01_port = port;  // with "local": where its validations connect
  o.local_ca.hosts = {{argv[1], "127.0.0.1"}};
  o.on_event = [](const acme::manager_event& e) {
    std::printf("%s %s\n", std::string(acme::to_string(e.kind)).c_str(),
                e.error          ? e.error->message().c_str()
                : e.leaf.empty() ? ""
                                 : e.leaf.serial_hex().c_str());
    std::fflush(stdout);
  };
  acme::manager certs(io.get_executor(), o);

  moat::server::listener_options lo;
  lo.name = "hello";
  lo.addresses = {{net::ip::make_address("0.0.0.0"), port}};
  moat::server::coroutine_handler hello = [](moat::server::connection& c) -> net::awaitable<void> {
    (void)co_await c.send(std::string_view("hello from moat\n"));
  };
  moat::server::listener server(lo, certs.tls_options(), hello);
  server.start();
  certs.start();
  io.run();  // runs until the process is stopped
}
