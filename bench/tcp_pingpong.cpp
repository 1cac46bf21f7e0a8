// moat_tcp_pingpong: the round-trip floor of moat's distribution benchmark (bench/dist.sh,
// docs/bench.md): one plain TCP connection over loopback, blocking sockets, TCP_NODELAY, a
// message of --size bytes sent and echoed back, one at a time. What is left is the kernel's
// loopback path and two wake-ups per round trip.
//
//   moat_tcp_pingpong server --port P            (prints "listening P"; one client at a time)
//   moat_tcp_pingpong client --port P [--size 64] [--seconds 2] [--iterations 100000]
//                                     [--warmup 2000]
//
// The client prints rtt_samples=, rtt_p50_us= and rtt_p99_us= lines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "moat_tcp_pingpong: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void no_delay(int fd) {
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("TCP_NODELAY");
}

// Reads or writes exactly `n` bytes; false on EOF.
bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const auto got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const auto put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

int serve(std::uint16_t port) {
  const int l = ::socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0) die("socket");
  const int one = 1;
  (void)::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto addr = loopback(port);
  if (::bind(l, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (::listen(l, 16) != 0) die("listen");
  std::printf("listening %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  std::vector<char> buf(1 << 16);
  for (;;) {
    const int c = ::accept(l, nullptr, nullptr);
    if (c < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    no_delay(c);
    for (;;) {
      const auto got = ::read(c, buf.data(), buf.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      if (!write_all(c, buf.data(), static_cast<std::size_t>(got))) break;
    }
    ::close(c);
  }
}

int client(std::uint16_t port, std::size_t size, int seconds, int iterations, int warmup) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  auto addr = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("connect");
  no_delay(fd);
  std::vector<char> out(size, 'x');
  std::vector<char> in(size);
  auto round_trip = [&] {
    if (!write_all(fd, out.data(), size) || !read_all(fd, in.data(), size)) die("round trip");
  };
  for (int i = 0; i < warmup; ++i) round_trip();
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(iterations));
  const auto deadline = clock_type::now() + std::chrono::seconds(seconds);
  for (int i = 0; i < iterations; ++i) {
    const auto t0 = clock_type::now();
    round_trip();
    const auto t1 = clock_type::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (t1 >= deadline) break;
  }
  ::close(fd);
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) {
    const auto n = static_cast<double>(us.size());
    return us[static_cast<std::size_t>(std::max(1.0, std::min(n, std::round(p * n)))) - 1];
  };
  std::printf("rtt_samples=%zu\nrtt_p50_us=%.3f\nrtt_p99_us=%.3f\n", us.size(), pct(0.5),
              pct(0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"moat_tcp_pingpong: the TCP round-trip floor of bench/dist.sh"};
  app.require_subcommand(1);
  std::uint16_t port = 0;
  std::size_t size = 64;
  int seconds = 2;
  int iterations = 100000;
  int warmup = 2000;
  auto* s = app.add_subcommand("server", "Echo what comes, one connection at a time");
  s->add_option("--port", port, "Port on 127.0.0.1")->required();
  auto* c = app.add_subcommand("client", "Time round trips");
  c->add_option("--port", port, "The server's port on 127.0.0.1")->required();
  c->add_option("--size", size, "Bytes per message")->capture_default_str();
  c->add_option("--seconds", seconds, "At most this long")->capture_default_str();
  c->add_option("--iterations", iterations, "Round trips timed at most")->capture_default_str();
  c->add_option("--warmup", warmup, "Round trips before timing")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (size == 0) size = 1;
  if (s->parsed()) return serve(port);
  return client(port, size, seconds, iterations, warmup);
}
