// A child process for the multi-process storage tests (storage_process_test.cpp): it works
// on a real acme::file_storage directory and reports on stdout, line by line.
//
//   store-loop DIR SIZE KEY...         stores generation after generation into the keys
//                                      (prints "ready" after the first round) until killed
//   store-limited DIR KEY SIZE LIMIT   stores SIZE bytes under RLIMIT_FSIZE = LIMIT with SIGXFSZ
//                                      ignored; prints "error <code> <message>" or "stored"
//   contend DIR NAME MARKER ROUNDS HOLD_MS STALE_MS HEARTBEAT_MS POLL_MS
//                                      ROUNDS times: lock, create MARKER with O_EXCL (prints
//                                      "VIOLATION" if it exists), hold, remove it, unlock
//   hold DIR NAME HOST STALE_MS HEARTBEAT_MS POLL_MS
//                                      locks, prints "locked", then waits for a line on stdin:
//                                      "unlock" prints "unlocked" or "unlock-error <message>"
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <moat/acme/file_storage.hpp>
#include <string>
#include <thread>
#include <vector>

#include "acme/storage_values.hpp"

namespace net = boost::asio;
namespace acme = moat::acme;
using std::chrono::milliseconds;

namespace {

template <class T>
T run(net::io_context& io, net::awaitable<T> aw) {
  auto fut = net::co_spawn(io, std::move(aw), net::use_future);
  io.restart();
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io.run_for(milliseconds(5));
  }
  return fut.get();
}

void say(const std::string& line) {
  std::cout << line << std::endl;  // flushed: the parent reads it while we run
}

acme::file_storage_options options(const char* dir, std::string host = {}, long stale = 30000,
                                   long heartbeat = 5000, long poll = 500) {
  acme::file_storage_options o;
  o.root = dir;
  o.host_name = std::move(host);
  o.stale_after = milliseconds(stale);
  o.heartbeat = milliseconds(heartbeat);
  o.poll_interval = milliseconds(poll);
  return o;
}

int store_loop(int argc, char** argv) {
  if (argc < 5) return 2;
  net::io_context io;
  acme::file_storage s(io.get_executor(), options(argv[2]));
  const std::size_t size = std::stoul(argv[3]);
  for (std::uint64_t gen = 1;; ++gen) {
    for (int i = 4; i < argc; ++i) {
      auto r = run(io, s.store(argv[i], moat::test::storage_value(gen, size)));
      if (!r) {
        say("error " + r.error().message());
        return 1;
      }
    }
    if (gen == 1) say("ready");
  }
}

int store_limited(int argc, char** argv) {
  if (argc != 6) return 2;
  std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
  rlimit lim{};
  lim.rlim_cur = std::stoul(argv[5]);
  lim.rlim_max = RLIM_INFINITY;
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) {
    say("setrlimit failed");
    return 2;
  }
  net::io_context io;
  acme::file_storage s(io.get_executor(), options(argv[2]));
  auto r = run(io, s.store(argv[3], moat::test::storage_value(999, std::stoul(argv[4]))));
  if (r) {
    say("stored");
  } else {
    say("error " + std::string(r.error().code().category().name()) + ":" +
        std::to_string(r.error().code().value()) + " " + r.error().message());
  }
  return 0;
}

int contend(int argc, char** argv) {
  if (argc != 10) return 2;
  net::io_context io;
  acme::file_storage s(io.get_executor(), options(argv[2], {}, std::stol(argv[7]),
                                                  std::stol(argv[8]), std::stol(argv[9])));
  const milliseconds hold_for(std::stol(argv[6]));
  const std::string name = argv[3];
  const std::string marker = argv[4];
  const int rounds = std::stoi(argv[5]);
  // Rounds as a coroutine, so heartbeats run while the lock is held.
  auto body = [&]() -> net::awaitable<int> {
    net::steady_timer t(co_await net::this_coro::executor);
    for (int i = 0; i < rounds; ++i) {
      auto l = co_await s.lock(name, std::chrono::minutes(2));
      if (!l) {
        say("lock-error " + l.error().message());
        co_return 1;
      }
      const int fd = ::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0) {
        say("VIOLATION");
        co_return 3;
      }
      ::close(fd);
      t.expires_after(hold_for);
      co_await t.async_wait(net::use_awaitable);
      ::unlink(marker.c_str());
      auto u = co_await s.unlock(name);
      if (!u) {
        say("unlock-error " + u.error().message());
        co_return 1;
      }
      say("round " + std::to_string(i + 1));
    }
    co_return 0;
  };
  const int rc = run(io, body());
  say("done");
  return rc;
}

int hold(int argc, char** argv) {
  if (argc != 8) return 2;
  net::io_context io;
  acme::file_storage s(io.get_executor(), options(argv[2], argv[4], std::stol(argv[5]),
                                                  std::stol(argv[6]), std::stol(argv[7])));
  auto l = run(io, s.lock(argv[3], std::chrono::minutes(2)));
  if (!l) {
    say("lock-error " + l.error().message());
    return 1;
  }
  say("locked");
  // Heartbeats run on `io` while a thread waits for the parent's word.
  std::string line;
  std::thread reader([&] {
    std::getline(std::cin, line);
    net::post(io, [] {});
  });
  auto idle = [&]() -> net::awaitable<void> {
    net::steady_timer t(co_await net::this_coro::executor);
    while (line.empty()) {
      t.expires_after(milliseconds(10));
      co_await t.async_wait(net::use_awaitable);
    }
  };
  run(io, idle());
  reader.join();
  auto u = run(io, s.unlock(argv[3]));
  say(u ? std::string("unlocked") : "unlock-error " + u.error().message());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string cmd = argv[1];
  if (cmd == "store-loop") return store_loop(argc, argv);
  if (cmd == "store-limited") return store_limited(argc, argv);
  if (cmd == "contend") return contend(argc, argv);
  if (cmd == "hold") return hold(argc, argv);
  return 2;
}
