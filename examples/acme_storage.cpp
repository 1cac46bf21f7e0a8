// The certificate manager's storage on its own: a directory shared by processes, a lock
// around the work only one of them may do, and a backup archive.
// Usage: acme_storage DIRECTORY ARCHIVE
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <moat/acme/file_storage.hpp>
#include <moat/acme/storage_backup.hpp>

namespace net = boost::asio;
namespace acme = moat::acme;

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  net::io_context io;
  acme::file_storage storage(io.get_executor(), {.root = argv[1]});  // 0700, made if missing
  int rc = 1;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        // One process at a time obtains the certificate; the others wait, then find it.
        auto done = co_await acme::with_lock(
            storage, "obtain/example.com", std::chrono::minutes(5), [&]() -> net::awaitable<void> {
              if (auto have = co_await storage.exists("certs/example.com.crt"); have && *have) {
                co_return;  // another process did it while we waited
              }
              auto stored = co_await storage.store("certs/example.com.crt", "-----BEGIN ...");
              if (!stored) std::fprintf(stderr, "%s\n", stored.error().message().c_str());
            });
        if (!done) {  // lock_timeout, or a storage failure such as no_space, with the reason
          std::fprintf(stderr, "%s\n", done.error().message().c_str());
          co_return;
        }
        auto keys = co_await acme::backup(storage, argv[2]);  // a ustar archive, 0600
        if (!keys) {
          std::fprintf(stderr, "%s\n", keys.error().message().c_str());
          co_return;
        }
        std::printf("%zu key(s) backed up\n", *keys);
        rc = 0;
      },
      net::detached);
  io.run();
  return rc;
}
