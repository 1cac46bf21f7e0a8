// moat_loadgen: the load generator of moat's benchmark (bench/run.sh, docs/bench.md).
//
// One generator for every server (moat, Go crypto/tls, the Erlang recipe, nginx): a single
// thread, one epoll loop, non-blocking GnuTLS client sessions offering TLS 1.3 with X25519 only
// and AES-128-GCM first, so that every server negotiates the same thing and the client's own
// cost is small and identical whatever the server.
//
//   moat_loadgen handshake --port P [--resume=no|yes] [--proto packet4|http] [--concurrency C]
//   moat_loadgen echo      --port P [--connections 100] [--size 64] [--pipeline 1]
//   moat_loadgen bulk      --port P [--connections 4] [--size 16384] [--window 1048576]
//   moat_loadgen idle      --port P [--connections 10000] [--hold S]
//   moat_loadgen cert      --out-cert F --out-key F     (ECDSA P-256, self-signed, localhost)
//   moat_loadgen speed     (GnuTLS/nettle's own ECDSA P-256, X25519 and AES-128-GCM speed)
//
// Common options: --host, --seconds (measured window), --warmup, --server-pid PID, --plain
// (plain TCP instead of TLS: the kernel's share of the same traffic). With
// --server-pid, the server's CPU time (utime + stime of the process and all its descendants,
// from /proc/PID/stat) is read at both ends of the measured window, and for `idle` its resident
// memory (VmRSS from /proc/PID/status). Prints one line: "result key=value ...".
// --window-start-cmd / --window-end-cmd run a shell command (synchronously) just before the
// measured window starts and just after it ends: bench/profile.sh uses them to enable and
// disable perf and to read a malloc counter over exactly the measured window.
// More than 16,000 connections to a loopback server (the ephemeral ports to one address run
// out at ~28,000) are spread over source addresses 127.0.0.1, 127.0.0.2, ... (--source-addresses).
#include <arpa/inet.h>
#include <dirent.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <nettle/curve25519.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <moat/pki/pki.hpp>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// ---- Small helpers ----------------------------------------------------------------------------

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000U +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t to_ns(double seconds) {
  return static_cast<std::uint64_t>(seconds * 1e9);
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "moat_loadgen: %s\n", why.c_str());
  std::exit(1);
}

volatile std::sig_atomic_t g_signalled = 0;
extern "C" void on_signal(int) {
  g_signalled = 1;
}

void install_signals() {
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: epoll_wait returns EINTR
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) ::sigaction(s, &sa, nullptr);
}

void raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

// "key=value" with a fixed number of decimals.
std::string kv(std::string_view key, double v, int decimals) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), " %.*s=%.*f", static_cast<int>(key.size()), key.data(), decimals,
                v);
  return buf;
}
std::string kv(std::string_view key, std::uint64_t v) {
  return " " + std::string(key) + "=" + std::to_string(v);
}
std::string kv(std::string_view key, std::string_view v) {
  return " " + std::string(key) + "=" + std::string(v);
}

// ---- The server process, from /proc -----------------------------------------------------------

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The fields of /proc/PID/stat after the command name: [0] is field 3 (state), [1] the ppid,
// [11] utime (field 14), [12] stime (field 15).
std::vector<std::string> stat_fields(pid_t pid) {
  const auto s = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto close = s.rfind(')');
  if (close == std::string::npos || close + 2 >= s.size()) return {};
  std::istringstream in(s.substr(close + 2));
  std::vector<std::string> f;
  for (std::string w; in >> w;) f.push_back(w);
  return f;
}

// The process and all its descendants (nginx's master and worker, beam.smp and its helpers).
std::vector<pid_t> process_tree(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  if (DIR* d = ::opendir("/proc")) {
    while (const dirent* e = ::readdir(d)) {
      if (std::isdigit(static_cast<unsigned char>(e->d_name[0])) == 0) continue;
      const pid_t pid = std::stoi(e->d_name);
      const auto f = stat_fields(pid);
      if (f.size() > 1) children.emplace(std::stoi(f[1]), pid);
    }
    ::closedir(d);
  }
  std::vector<pid_t> tree{root};
  for (std::size_t i = 0; i < tree.size(); ++i) {
    const auto [b, e] = children.equal_range(tree[i]);
    for (auto it = b; it != e; ++it) tree.push_back(it->second);
  }
  return tree;
}

// utime + stime of the processes, in seconds (a process's figure includes all its threads).
double cpu_seconds(const std::vector<pid_t>& pids) {
  static const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double ticks = 0;
  for (pid_t p : pids) {
    const auto f = stat_fields(p);
    if (f.size() > 12) ticks += std::stod(f[11]) + std::stod(f[12]);
  }
  return ticks / hz;
}

std::uint64_t rss_kib(const std::vector<pid_t>& pids) {
  std::uint64_t total = 0;
  for (pid_t p : pids) {
    std::istringstream in(read_text("/proc/" + std::to_string(p) + "/status"));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("VmRSS:", 0) == 0) total += std::stoull(line.substr(6));
    }
  }
  return total;
}

// Time the processes' threads spent runnable but waiting for a CPU (field 2 of
// /proc/PID/task/TID/schedstat): how much other tasks on the server's core got in the way.
double runqueue_wait_seconds(const std::vector<pid_t>& pids) {
  double ns = 0;
  for (pid_t p : pids) {
    const std::string dir = "/proc/" + std::to_string(p) + "/task";
    if (DIR* d = ::opendir(dir.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        if (std::isdigit(static_cast<unsigned char>(e->d_name[0])) == 0) continue;
        std::istringstream in(read_text(dir + "/" + e->d_name + "/schedstat"));
        double run = 0, wait = 0;
        if (in >> run >> wait) ns += wait;
      }
      ::closedir(d);
    }
  }
  return ns / 1e9;
}

double own_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// --window-start-cmd / --window-end-cmd: a shell command, run to completion.
void run_hook(const std::string& cmd) {
  if (cmd.empty()) return;
  std::fflush(nullptr);
  const int rc = std::system(cmd.c_str());
  if (rc != 0) std::fprintf(stderr, "moat_loadgen: '%s' exited with %d\n", cmd.c_str(), rc);
}

// The measured window: wall time, the server's CPU time and the generator's own.
struct meter {
  pid_t server = 0;
  std::string start_cmd, end_cmd;  // run just before the window starts / after it ends
  std::vector<pid_t> tree;
  std::uint64_t t0 = 0, t1 = 0;
  double server0 = 0, server1 = 0, own0 = 0, own1 = 0, wait0 = 0, wait1 = 0;

  void start() {
    run_hook(start_cmd);
    if (server != 0) {
      tree = process_tree(server);
      server0 = cpu_seconds(tree);
      wait0 = runqueue_wait_seconds(tree);
    }
    own0 = own_cpu_seconds();
    t0 = now_ns();
  }
  void stop() {
    t1 = now_ns();
    own1 = own_cpu_seconds();
    if (server != 0) {
      server1 = cpu_seconds(tree);
      wait1 = runqueue_wait_seconds(tree);
    }
    run_hook(end_cmd);
  }
  [[nodiscard]] double wall() const { return static_cast<double>(t1 - t0) / 1e9; }
  [[nodiscard]] double server_cpu() const { return server1 - server0; }
  [[nodiscard]] std::string fields() const {
    std::string s = kv("seconds", wall(), 3);
    if (server != 0) {
      s += kv("server_cpu_s", server_cpu(), 3) + kv("server_util", server_cpu() / wall(), 3) +
           kv("server_runq_wait", (wait1 - wait0) / wall(), 3);
    }
    return s + kv("client_util", (own1 - own0) / wall(), 3);
  }
};

// ---- Options ------------------------------------------------------------------------------------

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string server_name = "localhost";
  std::string cacert;  // verify the server against it (default: no verification)
  std::string proto = "packet4";
  std::string resume = "no";
  double seconds = 5;
  double warmup = 1;
  unsigned concurrency = 16;
  unsigned connections = 0;
  std::size_t size = 0;
  unsigned pipeline = 1;   // echo: messages outstanding per connection
  std::size_t window = 0;  // bulk: payload bytes in flight per connection (frames = window / size)
  unsigned source_addresses = 0;     // 0: one per 16,000 connections when the server is on 127/8
  unsigned setup_concurrency = 128;  // connections being set up at a time (echo, bulk, idle)
  std::string window_start_cmd, window_end_cmd;
  double hold = -1;  // idle: seconds to hold after measuring; < 0 = until a signal or stdin
  double settle = 1;
  bool plain = false;  // TCP without TLS: the kernel's share of the same work
  pid_t server_pid = 0;
  std::uint64_t max_errors = 1000;
};

// ---- The engine: non-blocking TLS client connections on one epoll loop ------------------------

struct connection {
  enum class state { closed, connecting, handshaking, open, closing, draining };
  state st = state::closed;
  int fd = -1;
  gnutls_session_t session = nullptr;
  std::uint32_t mask = 0;  // epoll events registered (0 = not registered)
  std::size_t index = 0;
  std::vector<std::uint8_t> out;  // the message being sent (plaintext, framed)
  std::size_t out_off = 0;
  bool out_blocked = false;
  std::vector<std::uint8_t> in;  // received plaintext not yet consumed
  std::size_t in_len = 0;
  bool peer_closed = false;
  bool resumed = false;
  std::uint64_t sent_at = 0;       // when the outstanding request was sent
  std::deque<std::uint64_t> sent;  // echo/bulk: when each outstanding message was queued
  bool ready = false;              // echo/bulk: the connection counts as established
  std::uint64_t deadline = 0;      // fail (or, when closing, give up waiting) after this
  std::uint64_t seq = 0;
  std::vector<std::uint8_t> ticket;  // resumption data for this slot's next connection
};

class driver {
 public:
  virtual ~driver() = default;
  /// The handshake is done.
  virtual void on_ready(connection& c) = 0;
  /// One {packet,4} message (packet4), or the whole response at the server's close (http).
  virtual void on_message(connection& c, std::span<const std::uint8_t> msg) = 0;
  /// The connection is gone (ok: closed normally); called outside any other callback.
  virtual void on_closed(connection& c, bool ok) = 0;
};

class engine {
 public:
  engine(const options& o, std::size_t n) : o_(o), conns_(n) {
    for (std::size_t i = 0; i < n; ++i) conns_[i].index = i;
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die(std::string("epoll_create1: ") + std::strerror(errno));
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(o.port);
    if (::inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr) != 1) {
      die("--host must be a numeric IPv4 address: " + o.host);
    }
    // The ephemeral ports (~28,000) limit the connections from one address to one server
    // address and port: beyond 16,000, spread them over 127.0.0.1, .2, ... (loopback only).
    sources_ = o.source_addresses;
    const bool loopback = (ntohl(addr_.sin_addr.s_addr) >> 24) == 127;
    if (sources_ == 0 && loopback && n > 16000)
      sources_ = static_cast<unsigned>((n + 15999) / 16000);
    if (sources_ > 1 && !loopback) die("--source-addresses needs a server on 127.0.0.0/8");
    if (sources_ > 250) die("--source-addresses: at most 250");
    check(gnutls_certificate_allocate_credentials(&cred_), "credentials");
    if (!o.cacert.empty()) {
      if (gnutls_certificate_set_x509_trust_file(cred_, o.cacert.c_str(), GNUTLS_X509_FMT_PEM) <=
          0) {
        die("cannot load --cacert " + o.cacert);
      }
    }
    const char* err = nullptr;
    const int rc = gnutls_priority_init(
        &prio_,
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519:-CIPHER-ALL:+AES-128-GCM:"
        "+AES-256-GCM:+CHACHA20-POLY1305",
        &err);
    check(rc, "priority");
  }
  ~engine() {
    for (auto& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
      if (c.session != nullptr) gnutls_deinit(c.session);
    }
    gnutls_priority_deinit(prio_);
    gnutls_certificate_free_credentials(cred_);
    ::close(ep_);
  }
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  void set_driver(driver* d) { driver_ = d; }
  [[nodiscard]] connection& at(std::size_t i) { return conns_[i]; }
  [[nodiscard]] std::size_t size() const { return conns_.size(); }
  /// Connections not closed.
  [[nodiscard]] std::size_t busy() const { return busy_; }
  [[nodiscard]] std::uint64_t errors() const { return errors_; }

  /// TCP connect, then the TLS handshake (resuming with c.ticket if it is set).
  void connect(connection& c) {
    c.in_len = 0;
    c.out.clear();  // nothing of a previous connection in this slot is sent again
    c.out_off = 0;
    c.out_blocked = false;
    c.peer_closed = false;
    c.resumed = false;
    c.mask = 0;
    c.st = connection::state::connecting;
    c.deadline = now_ns() + to_ns(10);
    ++busy_;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c, std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sources_ > 1) {
      // Bind the address only; the port is chosen at connect, per destination (4-tuple).
      ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl((127U << 24) | (1U + static_cast<unsigned>(c.index % sources_)));
      if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&src), sizeof(src)) != 0) {
        return fail(c, std::string("bind: ") + std::strerror(errno));
      }
    }
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof(addr_)) == 0) {
      return start(c);
    }
    if (errno != EINPROGRESS) return fail(c, std::string("connect: ") + std::strerror(errno));
    want(c, EPOLLOUT);
  }

  /// Sends c.out (a whole framed message); the reply is expected within 10 s.
  void send(connection& c) {
    c.out_off = 0;
    c.sent_at = now_ns();
    c.deadline = c.sent_at + to_ns(10);
    flush(c);
  }

  /// Appends bytes to what c has to send, without sending yet: the engine sends everything
  /// queued once it has handled the connection's readable data (so messages queued in reply
  /// to the echoes of one read go out together), or call flush(c). A reply is expected
  /// within 10 s.
  void queue(connection& c, std::span<const std::uint8_t> bytes) {
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
    } else if (c.out_off >= 65536 && c.out_off * 2 >= c.out.size()) {
      // GnuTLS, after GNUTLS_E_AGAIN, resends the record it has already encrypted whatever
      // the pointer it is given, so moving the unsent bytes is safe.
      c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_off));
      c.out_off = 0;
    }
    c.out.insert(c.out.end(), bytes.begin(), bytes.end());
    c.deadline = now_ns() + to_ns(10);
  }

  /// Sends what is queued, as far as the socket takes it (the rest when it is writable).
  void flush(connection& c) {
    while (c.out_off < c.out.size()) {
      const auto r = io_send(c, c.out.data() + c.out_off, c.out.size() - c.out_off);
      if (r > 0) {
        c.out_off += static_cast<std::size_t>(r);
        continue;
      }
      if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
        c.out_blocked = true;
        return want(c, EPOLLIN | EPOLLOUT);
      }
      return fail(c, std::string("send: ") + gnutls_strerror(static_cast<int>(r)));
    }
    if (c.out_blocked) {
      c.out_blocked = false;
      want(c, EPOLLIN);
    }
  }

  /// close_notify, then waits (up to 2 s) for the server to close its side.
  void close(connection& c) {
    if (c.st != connection::state::open) return;
    if (c.peer_closed) return finish(c, true);
    c.st = connection::state::closing;
    c.deadline = now_ns() + to_ns(2);
    bye(c);
  }

  /// One turn of the loop: waits up to timeout_ms for events and handles them.
  void poll(int timeout_ms) {
    epoll_event evs[256];
    const int n = ::epoll_wait(ep_, evs, 256, timeout_ms);
    if (n < 0 && errno != EINTR) die(std::string("epoll_wait: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<connection*>(evs[i].data.ptr);
      if (c == nullptr) {
        stdin_ready = true;
        continue;
      }
      handle(*c, evs[i].events);
    }
    const auto t = now_ns();
    if (t >= next_sweep_) {
      next_sweep_ = t + to_ns(0.2);
      for (auto& c : conns_) {
        if (c.st == connection::state::closed || c.deadline == 0 || t < c.deadline) continue;
        if (c.st == connection::state::closing || c.st == connection::state::draining) {
          ++slow_closes;
          finish(c, true);
        } else {
          fail(c, c.st == connection::state::open ? "no reply within 10 s"
                                                  : "no connection/handshake within 10 s");
        }
      }
    }
    // Closed connections are reported here, outside any other callback, so that a driver
    // may reuse the slot at once.
    while (!finished_.empty()) {
      auto [c, ok] = finished_.front();
      finished_.pop_front();
      driver_->on_closed(*c, ok);
    }
  }

  /// Watches stdin too (idle: a line or EOF ends the hold); false if stdin cannot be polled.
  bool watch_stdin() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    return ::epoll_ctl(ep_, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0;
  }

  void fail(connection& c, const std::string& why) {
    ++errors_;
    if (errors_ <= 5) {
      std::fprintf(stderr, "moat_loadgen: connection %zu: %s\n", c.index, why.c_str());
    }
    finish(c, false);
  }

  bool stdin_ready = false;
  std::uint64_t slow_closes = 0;  // servers that did not close within 2 s of close_notify

 private:
  static void check(int rc, const char* what) {
    if (rc < 0) die(std::string(what) + ": " + gnutls_strerror(rc));
  }

  void want(connection& c, std::uint32_t mask) {
    if (c.mask == mask) return;
    epoll_event ev{};
    ev.events = mask;
    ev.data.ptr = &c;
    if (::epoll_ctl(ep_, c.mask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev) != 0) {
      die(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    c.mask = mask;
  }

  void handle(connection& c, std::uint32_t ev) {
    switch (c.st) {
      case connection::state::connecting: {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fail(c, std::string("connect: ") + std::strerror(err));
        return start(c);
      }
      case connection::state::handshaking:
        return handshake(c);
      case connection::state::open:
        if ((ev & EPOLLOUT) != 0 && c.out_blocked) flush(c);
        if (c.st == connection::state::open && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
          read(c);
          // What the driver queued in reply to the echoes just read.
          if (c.st == connection::state::open && !c.out_blocked && c.out_off < c.out.size()) {
            flush(c);
          }
        }
        return;
      case connection::state::closing:
        return bye(c);
      case connection::state::draining:
        return drain(c);
      case connection::state::closed:
        return;  // a stale event of a connection closed earlier in this turn
    }
  }

  void start(connection& c) {
    if (!o_.plain) return start_tls(c);
    established(c);
  }

  void established(connection& c) {
    c.st = connection::state::open;
    c.deadline = 0;
    if (c.in.empty()) c.in.resize(256);
    want(c, EPOLLIN);
    driver_->on_ready(c);
  }

  // The transport: TLS records, or with --plain the TCP socket itself (GnuTLS-style results:
  // > 0 bytes, 0 at the end of the stream, GNUTLS_E_AGAIN, or another negative error).
  ssize_t io_send(connection& c, const std::uint8_t* p, std::size_t n) {
    if (!o_.plain) return gnutls_record_send(c.session, p, n);
    const auto r = ::send(c.fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) return r;
    return errno == EAGAIN || errno == EWOULDBLOCK ? GNUTLS_E_AGAIN
           : errno == EINTR                        ? GNUTLS_E_INTERRUPTED
                                                   : GNUTLS_E_PUSH_ERROR;
  }
  ssize_t io_recv(connection& c, std::uint8_t* p, std::size_t n) {
    if (!o_.plain) return gnutls_record_recv(c.session, p, n);
    const auto r = ::recv(c.fd, p, n, 0);
    if (r >= 0) return r;
    return errno == EAGAIN || errno == EWOULDBLOCK ? GNUTLS_E_AGAIN
           : errno == EINTR                        ? GNUTLS_E_INTERRUPTED
                                                   : GNUTLS_E_PULL_ERROR;
  }

  void start_tls(connection& c) {
    check(gnutls_init(&c.session, GNUTLS_CLIENT | GNUTLS_NONBLOCK), "gnutls_init");
    check(gnutls_priority_set(c.session, prio_), "priority");
    check(gnutls_credentials_set(c.session, GNUTLS_CRD_CERTIFICATE, cred_), "credentials");
    check(gnutls_server_name_set(c.session, GNUTLS_NAME_DNS, o_.server_name.data(),
                                 o_.server_name.size()),
          "server name");
    if (!o_.cacert.empty()) gnutls_session_set_verify_cert(c.session, o_.server_name.c_str(), 0);
    if (!c.ticket.empty()) {
      check(gnutls_session_set_data(c.session, c.ticket.data(), c.ticket.size()), "session data");
    }
    gnutls_transport_set_int(c.session, c.fd);
    gnutls_handshake_set_timeout(c.session, 0);
    c.st = connection::state::handshaking;
    handshake(c);
  }

  void handshake(connection& c) {
    for (;;) {
      const int rc = gnutls_handshake(c.session);
      if (rc == GNUTLS_E_SUCCESS) {
        c.resumed = gnutls_session_is_resumed(c.session) != 0;
        return established(c);
      }
      if (rc == GNUTLS_E_AGAIN) {
        return want(c, gnutls_record_get_direction(c.session) == 1 ? EPOLLOUT : EPOLLIN);
      }
      if (gnutls_error_is_fatal(rc) == 0) continue;
      return fail(c, std::string("handshake: ") + gnutls_strerror(rc));
    }
  }

  void read(connection& c) {
    for (;;) {
      if (c.in_len == c.in.size()) c.in.resize(c.in.size() * 2);
      const auto r = io_recv(c, c.in.data() + c.in_len, c.in.size() - c.in_len);
      if (r > 0) {
        c.in_len += static_cast<std::size_t>(r);
        if (!deliver(c)) return;
        continue;
      }
      if (r == GNUTLS_E_AGAIN) return;
      if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION) return peer_eof(c);
      if (r == GNUTLS_E_INTERRUPTED || gnutls_error_is_fatal(static_cast<int>(r)) == 0) continue;
      return fail(c, std::string("recv: ") + gnutls_strerror(static_cast<int>(r)));
    }
  }

  // Hands complete {packet,4} messages to the driver; false once the connection is no longer
  // open (the driver closed it).
  bool deliver(connection& c) {
    if (o_.proto == "http") return true;  // the response ends at the server's close
    std::size_t off = 0;
    while (c.st == connection::state::open && c.in_len - off >= 4) {
      const std::uint8_t* h = c.in.data() + off;
      const std::size_t len = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) |
                              (std::size_t{h[2]} << 8) | std::size_t{h[3]};
      if (c.in_len - off < 4 + len) {
        if (c.in.size() < 4 + len) {
          std::memmove(c.in.data(), c.in.data() + off, c.in_len - off);
          c.in_len -= off;
          off = 0;
          c.in.resize(4 + len);
        }
        break;
      }
      c.deadline = 0;
      driver_->on_message(c, std::span<const std::uint8_t>(h + 4, len));
      off += 4 + len;
    }
    if (c.st != connection::state::open) return false;
    if (off > 0) {
      std::memmove(c.in.data(), c.in.data() + off, c.in_len - off);
      c.in_len -= off;
    }
    return true;
  }

  void peer_eof(connection& c) {
    c.peer_closed = true;
    if (o_.proto != "http") return fail(c, "the server closed the connection");
    c.deadline = 0;
    driver_->on_message(c, std::span<const std::uint8_t>(c.in.data(), c.in_len));
    if (c.st == connection::state::open) finish(c, true);
  }

  void bye(connection& c) {
    if (o_.plain) {
      ::shutdown(c.fd, SHUT_WR);
      c.st = connection::state::draining;
      want(c, EPOLLIN);
      return drain(c);
    }
    const int rc = gnutls_bye(c.session, GNUTLS_SHUT_WR);
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
      return want(c, gnutls_record_get_direction(c.session) == 1 ? EPOLLOUT : EPOLLIN);
    }
    if (rc < 0) return finish(c, true);  // the server went first
    c.st = connection::state::draining;
    want(c, EPOLLIN);
    drain(c);
  }

  void drain(connection& c) {
    std::uint8_t buf[1024];
    for (;;) {
      const auto r = io_recv(c, buf, sizeof(buf));
      if (r > 0 || r == GNUTLS_E_INTERRUPTED) continue;
      if (r == GNUTLS_E_AGAIN) return;
      return finish(c, true);  // close_notify, EOF, or reset: the server is done
    }
  }

  void finish(connection& c, bool ok) {
    if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    if (c.session != nullptr) gnutls_deinit(c.session);
    c.session = nullptr;
    c.st = connection::state::closed;
    c.mask = 0;
    c.deadline = 0;
    --busy_;
    finished_.emplace_back(&c, ok);
  }

  const options& o_;
  std::deque<connection> conns_;
  driver* driver_ = nullptr;
  int ep_ = -1;
  sockaddr_in addr_{};
  unsigned sources_ = 0;  // source addresses 127.0.0.1 .. 127.0.0.sources_ (0, 1: unbound)
  gnutls_certificate_credentials_t cred_ = nullptr;
  gnutls_priority_t prio_ = nullptr;
  std::size_t busy_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t next_sweep_ = 0;
  std::deque<std::pair<connection*, bool>> finished_;
};

std::vector<std::uint8_t> frame(std::size_t size, std::uint8_t fill) {
  std::vector<std::uint8_t> f(4 + size, fill);
  f[0] = static_cast<std::uint8_t>(size >> 24);
  f[1] = static_cast<std::uint8_t>(size >> 16);
  f[2] = static_cast<std::uint8_t>(size >> 8);
  f[3] = static_cast<std::uint8_t>(size);
  return f;
}

std::vector<std::uint8_t> http_request(const std::string& host) {
  const std::string r = "GET / HTTP/1.1\r\nHost: " + host +
                        "\r\nUser-Agent: moat_loadgen\r\nConnection: close\r\n\r\n";
  return {r.begin(), r.end()};
}

bool is_http_ok(std::span<const std::uint8_t> msg) {
  constexpr std::string_view ok = "HTTP/1.1 200";
  return msg.size() >= ok.size() && std::equal(ok.begin(), ok.end(), msg.begin());
}

// Runs `poll` until `done` or the deadline; false on timeout.
template <class Done>
bool run_until(engine& eng, double timeout_s, Done done) {
  const auto deadline = now_ns() + to_ns(timeout_s);
  while (!done()) {
    if (now_ns() > deadline) return false;
    eng.poll(5);
  }
  return true;
}

void check_errors(const engine& eng, const options& o) {
  if (eng.errors() > o.max_errors) {
    die("more than " + std::to_string(o.max_errors) + " connection errors; giving up");
  }
}

// ---- handshake --------------------------------------------------------------------------------
// Each of `concurrency` slots loops: connect, handshake, one 1-byte {packet,4} echo (or an HTTP
// GET), close_notify, wait for the server's close. With --resume=yes, each slot resumes with
// the ticket its previous connection received.

class handshake_driver : public driver {
 public:
  handshake_driver(engine& eng, const options& o) : eng_(eng), o_(o) {
    request_ = o.proto == "http" ? http_request(o.server_name) : frame(1, 'x');
  }
  void on_ready(connection& c) override {
    c.out = request_;
    eng_.send(c);
  }
  void on_message(connection& c, std::span<const std::uint8_t> msg) override {
    const bool good = o_.proto == "http" ? is_http_ok(msg) : (msg.size() == 1 && msg[0] == 'x');
    if (!good) return eng_.fail(c, "unexpected reply");
    if (measuring && c.session != nullptr &&
        (gnutls_session_get_flags(c.session) & GNUTLS_SFLAGS_SESSION_TICKET) != 0) {
      ++tickets_seen;
    }
    if (o_.resume == "yes" && c.session != nullptr) {
      gnutls_datum_t d{};
      if (gnutls_session_get_data2(c.session, &d) == 0) {
        c.ticket.assign(d.data, d.data + d.size);
        gnutls_free(d.data);
      }
    }
    eng_.close(c);
  }
  void on_closed(connection& c, bool ok) override {
    if (ok && measuring) {
      ++ops;
      if (c.resumed) ++resumed;
    }
    if (!ok) c.ticket.clear();
    if (!stopping) eng_.connect(c);
  }

  bool measuring = false;
  bool stopping = false;
  std::uint64_t ops = 0;
  std::uint64_t resumed = 0;
  std::uint64_t tickets_seen = 0;

 private:
  engine& eng_;
  const options& o_;
  std::vector<std::uint8_t> request_;
};

int run_handshake(const options& o) {
  engine eng(o, o.concurrency);
  handshake_driver d(eng, o);
  eng.set_driver(&d);
  meter m;
  m.server = o.server_pid;
  m.start_cmd = o.window_start_cmd;
  m.end_cmd = o.window_end_cmd;
  for (std::size_t i = 0; i < eng.size(); ++i) eng.connect(eng.at(i));
  const auto start = now_ns();
  std::uint64_t stop_at = 0;
  for (;;) {
    eng.poll(5);
    check_errors(eng, o);
    const auto t = now_ns();
    if (!d.measuring && !d.stopping && t >= start + to_ns(o.warmup)) {
      m.start();
      d.measuring = true;
    } else if (d.measuring && t >= m.t0 + to_ns(o.seconds)) {
      m.stop();
      d.measuring = false;
      d.stopping = true;
      stop_at = t;
    }
    if (d.stopping && (eng.busy() == 0 || t > stop_at + to_ns(3))) break;
  }
  const double ops = static_cast<double>(d.ops);
  std::string line =
      "result scenario=handshake" + kv("proto", o.plain ? "tcp" : o.proto) +
      kv("resume", o.resume) + kv("concurrency", std::uint64_t{o.concurrency}) + m.fields() +
      kv("ops", d.ops) + kv("rate", ops / m.wall(), 1) +
      kv("resumed_share", d.ops > 0 ? static_cast<double>(d.resumed) / ops : 0, 3) +
      kv("ticket_share", d.ops > 0 ? static_cast<double>(d.tickets_seen) / ops : 0, 3);
  if (o.server_pid != 0 && d.ops > 0) line += kv("server_us_per_op", m.server_cpu() * 1e6 / ops, 1);
  line += kv("errors", eng.errors()) + kv("slow_closes", eng.slow_closes);
  std::printf("%s\n", line.c_str());
  return d.ops > 0 ? 0 : 1;
}

// ---- echo and bulk ----------------------------------------------------------------------------
// `connections` connections (set up at most `setup_concurrency` at a time; the load starts
// once all are established), each keeping
// `depth` messages of `size` bytes outstanding: echo --pipeline N keeps N, bulk --window W
// keeps ceil(W / size) frames (1 with --window <= size). Each echo is checked against the
// oldest outstanding message, byte for byte, and answered with the next message; the replies
// to the echoes of one read go out together. Latency = queueing a message to its complete
// echo. A wrong echo or a closed connection is an error (counted, reported, the connection
// replaced).

class stream_driver : public driver {
 public:
  stream_driver(engine& eng, const options& o, unsigned depth) : eng_(eng), o_(o), depth_(depth) {
    for (int i = 0; i < 26; ++i)
      templates_.push_back(frame(o.size, static_cast<std::uint8_t>('a' + i)));
  }
  void open_more() {
    while (!stopping && setup < o_.setup_concurrency && next < eng_.size()) {
      ++setup;
      eng_.connect(eng_.at(next++));
    }
  }
  void on_ready(connection& c) override {
    --setup;
    ++ready;
    c.ready = true;
    c.seq = 0;
    c.sent.clear();
    if (stopping) return eng_.close(c);
    if (started) load(c);  // a connection replacing a failed one
    open_more();
  }
  /// Every connection is established: the load starts on all of them at once (so that the
  /// set-up of the last ones does not compete with the traffic of the first).
  void begin() {
    started = true;
    for (std::size_t i = 0; i < eng_.size(); ++i) {
      if (eng_.at(i).ready) load(eng_.at(i));
    }
  }
  void on_message(connection& c, std::span<const std::uint8_t> msg) override {
    const auto t = now_ns();
    if (c.sent.empty()) return eng_.fail(c, "an echo of a message that was not sent");
    const std::uint64_t expected = c.seq - c.sent.size();
    if (!matches(c, msg, expected)) {
      return eng_.fail(c, "the echo differs from message " + std::to_string(expected) + " sent");
    }
    const std::uint64_t sent_at = c.sent.front();
    c.sent.pop_front();
    if (measuring) {
      ++messages;
      bytes += msg.size();
      latencies.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(t - sent_at, ~0U)));
    }
    if (!stopping) {
      push(c);
    } else if (c.sent.empty()) {
      return eng_.close(c);
    }
    c.deadline = t + to_ns(10);  // for the messages still outstanding
  }
  void on_closed(connection& c, bool ok) override {
    if (c.ready) {
      c.ready = false;
      --ready;
    } else {
      --setup;
    }
    if (!ok && !stopping) {
      ++setup;
      eng_.connect(c);  // keep the number of connections
    }
    open_more();
  }

  std::size_t ready = 0;
  std::size_t setup = 0;  // connecting or handshaking
  std::size_t next = 0;   // the next slot to connect for the first time
  bool started = false;
  bool measuring = false;
  bool stopping = false;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::vector<std::uint32_t> latencies;  // ns

 private:
  void load(connection& c) {
    for (unsigned i = 0; i < depth_; ++i) push(c);
    eng_.flush(c);
  }
  // Queues the connection's next message: its first 8 bytes carry its sequence number (so a
  // stale or reordered echo is caught), the rest the connection's fill byte.
  void push(connection& c) {
    const auto& t = templates_[c.index % templates_.size()];
    eng_.queue(c, t);
    std::memcpy(c.out.data() + (c.out.size() - t.size()) + 4, &c.seq,
                std::min<std::size_t>(8, o_.size));
    c.sent.push_back(now_ns());
    ++c.seq;
  }
  bool matches(const connection& c, std::span<const std::uint8_t> msg, std::uint64_t seq) const {
    if (msg.size() != o_.size) return false;
    const auto& t = templates_[c.index % templates_.size()];
    const std::size_t head = std::min<std::size_t>(8, o_.size);
    return std::memcmp(msg.data(), &seq, head) == 0 &&
           std::memcmp(msg.data() + head, t.data() + 4 + head, o_.size - head) == 0;
  }

  engine& eng_;
  const options& o_;
  unsigned depth_;
  std::vector<std::vector<std::uint8_t>> templates_;  // one framed message per fill byte
};

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;
}

int run_stream(const std::string& scenario, const options& o) {
  unsigned depth = 1;
  if (scenario == "echo") depth = std::max(1U, o.pipeline);
  if (scenario == "bulk" && o.window > o.size) {
    depth = static_cast<unsigned>((o.window + o.size - 1) / o.size);
  }
  engine eng(o, o.connections);
  stream_driver d(eng, o, depth);
  eng.set_driver(&d);
  meter m;
  m.server = o.server_pid;
  m.start_cmd = o.window_start_cmd;
  m.end_cmd = o.window_end_cmd;
  const auto setup_start = now_ns();
  d.open_more();
  auto all_ready = [&] {
    return d.ready == eng.size() || eng.errors() > o.max_errors;
  };
  if (!run_until(eng, 300, all_ready)) {
    die("only " + std::to_string(d.ready) + " of " + std::to_string(eng.size()) +
        " connections were established within 300 s");
  }
  check_errors(eng, o);
  const double setup_s = static_cast<double>(now_ns() - setup_start) / 1e9;
  const auto setup_errors = eng.errors();
  d.begin();
  const auto start = now_ns();
  std::uint64_t stop_at = 0;
  for (;;) {
    eng.poll(5);
    check_errors(eng, o);
    const auto t = now_ns();
    if (!d.measuring && !d.stopping && t >= start + to_ns(o.warmup)) {
      d.latencies.reserve(1U << 20);
      m.start();
      d.measuring = true;
    } else if (d.measuring && t >= m.t0 + to_ns(o.seconds)) {
      m.stop();
      d.measuring = false;
      d.stopping = true;
      stop_at = t;
    }
    if (d.stopping && (eng.busy() == 0 || t > stop_at + to_ns(5))) break;
  }
  const double msgs = static_cast<double>(d.messages);
  const double mb = static_cast<double>(d.bytes) / 1e6;
  std::string line = "result scenario=" + scenario + kv("transport", o.plain ? "tcp" : "tls") +
                     kv("connections", std::uint64_t{o.connections}) +
                     kv("size", std::uint64_t{o.size}) + kv("in_flight", std::uint64_t{depth}) +
                     kv("setup_seconds", setup_s, 2) + m.fields() + kv("messages", d.messages) +
                     kv("msg_rate", msgs / m.wall(), 1) + kv("mb_per_s", mb / m.wall(), 2) +
                     kv("p50_us", percentile(d.latencies, 0.50), 1) +
                     kv("p99_us", percentile(d.latencies, 0.99), 1);
  if (o.server_pid != 0 && d.messages > 0) {
    line += kv("server_us_per_msg", m.server_cpu() * 1e6 / msgs, 3) +
            kv("server_us_per_mb", m.server_cpu() * 1e6 / mb, 1);
  }
  // Errors during setup (refused, reset: retried) and after (wrong echoes, disconnects).
  line += kv("setup_errors", setup_errors) + kv("errors", eng.errors() - setup_errors) +
          kv("unfinished", std::uint64_t{eng.busy()});
  std::printf("%s\n", line.c_str());
  return d.messages > 0 ? 0 : 1;
}

// ---- idle -------------------------------------------------------------------------------------
// A few warm-up connections come and go; then the server's RSS is read, N connections are
// opened (handshake + one 1-byte echo each, at most 128 being set up at a time) and held,
// and after `settle` seconds the RSS is read again. Prints the result, then holds the
// connections until a signal (INT/TERM/USR1), a line or EOF on stdin, or --hold seconds.

class idle_driver : public driver {
 public:
  static constexpr std::size_t warm = 16;
  idle_driver(engine& eng, std::size_t setup_concurrency)
      : setup_concurrency_(setup_concurrency), eng_(eng) {}
  void on_ready(connection& c) override {
    c.out = frame(1, 'i');
    eng_.send(c);
  }
  void on_message(connection& c, std::span<const std::uint8_t> msg) override {
    if (msg.size() != 1 || msg[0] != 'i') return eng_.fail(c, "unexpected reply");
    if (warming) return eng_.close(c);
    c.seq = 1;  // held
    ++held;
    --in_flight;
    open_more();
  }
  void on_closed(connection& c, bool ok) override {
    if (warming) {
      ++warmed;
      return;
    }
    if (closing_all) return;
    if (c.seq == 1) {
      ++dropped;  // the server closed a held connection
      --held;
      return;
    }
    if (!ok && opening) eng_.connect(c);  // retry (errors are counted, up to --max-errors)
  }
  void open_more() {
    while (opening && in_flight < setup_concurrency_ && next < eng_.size()) {
      ++in_flight;
      eng_.connect(eng_.at(next++));
    }
  }

  bool warming = true;
  bool opening = false;
  bool closing_all = false;
  std::size_t warmed = 0;
  std::size_t held = 0;
  std::size_t in_flight = 0;
  std::size_t next = 0;
  std::size_t dropped = 0;

 private:
  std::size_t setup_concurrency_;
  engine& eng_;
};

int run_idle(const options& o) {
  engine eng(o, std::max<std::size_t>(o.connections, idle_driver::warm));
  idle_driver d(eng, o.setup_concurrency);
  eng.set_driver(&d);
  std::vector<pid_t> tree;
  if (o.server_pid != 0) tree = process_tree(o.server_pid);

  for (std::size_t i = 0; i < idle_driver::warm; ++i) eng.connect(eng.at(i));
  if (!run_until(eng, 30, [&] { return d.warmed == idle_driver::warm; })) die("warm-up failed");
  run_until(eng, 0.5, [] { return false; });
  const std::uint64_t before = tree.empty() ? 0 : rss_kib(tree);

  const auto t0 = now_ns();
  d.warming = false;
  d.opening = true;
  d.open_more();
  if (!run_until(eng, 300,
                 [&] { return d.held == o.connections || eng.errors() > o.max_errors; })) {
    die("only " + std::to_string(d.held) + " of " + std::to_string(o.connections) +
        " connections were established within 300 s");
  }
  check_errors(eng, o);
  const double open_s = static_cast<double>(now_ns() - t0) / 1e9;
  d.opening = false;
  run_until(eng, o.settle, [] { return false; });
  const std::uint64_t after = tree.empty() ? 0 : rss_kib(tree);

  std::string line = "result scenario=idle" + kv("connections", std::uint64_t{o.connections}) +
                     kv("open_seconds", open_s, 2) + kv("held", std::uint64_t{d.held});
  if (!tree.empty()) {
    const double delta = static_cast<double>(after) - static_cast<double>(before);
    line += kv("server_rss_before_kib", before) + kv("server_rss_after_kib", after) +
            kv("server_kib_per_conn", delta / static_cast<double>(o.connections), 2);
  }
  line += kv("errors", eng.errors());
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);

  // Hold.
  const bool use_stdin = o.hold < 0 && eng.watch_stdin();
  const auto hold_until = o.hold < 0 ? ~std::uint64_t{0} : now_ns() + to_ns(o.hold);
  while (g_signalled == 0 && !(use_stdin && eng.stdin_ready) && now_ns() < hold_until) {
    eng.poll(50);
  }
  d.closing_all = true;
  for (std::size_t i = 0; i < eng.size(); ++i) eng.close(eng.at(i));
  run_until(eng, 30, [&] { return eng.busy() == 0; });
  if (d.dropped > 0) {
    std::fprintf(stderr, "moat_loadgen: the server closed %zu held connections\n", d.dropped);
  }
  return 0;
}

// ---- speed ------------------------------------------------------------------------------------
// The same public-key and AEAD operations as `openssl speed`, done the way a moat server does
// them: ECDSA P-256 signatures through GnuTLS, X25519 in nettle (what GnuTLS calls), and
// AES-128-GCM through GnuTLS's AEAD API on 16 KiB records. The server's own crypto floor.

template <class Op>
double time_per_op_us(double seconds, Op op) {
  std::uint64_t n = 0;
  const auto t0 = now_ns();
  const auto end = t0 + to_ns(seconds);
  std::uint64_t t = t0;
  while (t < end) {
    for (int i = 0; i < 16; ++i) op();
    n += 16;
    t = now_ns();
  }
  return static_cast<double>(t - t0) / 1e3 / static_cast<double>(n);
}

int run_speed(double seconds) {
  auto check = [](int rc, const char* what) {
    if (rc < 0) die(std::string(what) + ": " + gnutls_strerror(rc));
  };
  gnutls_privkey_t key = nullptr;
  check(gnutls_privkey_init(&key), "privkey");
  check(gnutls_privkey_generate2(key, GNUTLS_PK_ECDSA,
                                 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, nullptr, 0),
        "generate P-256 key");
  std::uint8_t digest[32] = {1, 2, 3};
  const gnutls_datum_t hash{digest, sizeof(digest)};
  const double sign_us = time_per_op_us(seconds, [&] {
    gnutls_datum_t sig{};
    check(gnutls_privkey_sign_hash2(key, GNUTLS_SIGN_ECDSA_SECP256R1_SHA256, 0, &hash, &sig),
          "sign");
    gnutls_free(sig.data);
  });
  gnutls_privkey_deinit(key);

  std::uint8_t secret[CURVE25519_SIZE] = {9, 8, 7};
  std::uint8_t peer[CURVE25519_SIZE];
  std::uint8_t out[CURVE25519_SIZE];
  nettle_curve25519_mul_g(peer, secret);
  const double keygen_us = time_per_op_us(seconds / 2, [&] {
    nettle_curve25519_mul_g(out, secret);
    secret[0] = out[0];
  });
  const double shared_us = time_per_op_us(seconds / 2, [&] {
    nettle_curve25519_mul(out, secret, peer);
    secret[0] = out[0];
  });

  std::vector<std::uint8_t> aes_key(16, 0x42), nonce(12, 0x24), plain(16384, 0x5a),
      sealed(16384 + 16), opened(16384);
  const gnutls_datum_t k{aes_key.data(), static_cast<unsigned>(aes_key.size())};
  gnutls_aead_cipher_hd_t aead = nullptr;
  check(gnutls_aead_cipher_init(&aead, GNUTLS_CIPHER_AES_128_GCM, &k), "AES-128-GCM");
  std::size_t sealed_len = sealed.size();
  check(gnutls_aead_cipher_encrypt(aead, nonce.data(), nonce.size(), nullptr, 0, 16, plain.data(),
                                   plain.size(), sealed.data(), &sealed_len),
        "encrypt");
  const double enc_us = time_per_op_us(seconds / 2, [&] {
    std::size_t len = sealed.size();
    check(gnutls_aead_cipher_encrypt(aead, nonce.data(), nonce.size(), nullptr, 0, 16, plain.data(),
                                     plain.size(), sealed.data(), &len),
          "encrypt");
  });
  const double dec_us = time_per_op_us(seconds / 2, [&] {
    std::size_t len = opened.size();
    check(gnutls_aead_cipher_decrypt(aead, nonce.data(), nonce.size(), nullptr, 0, 16,
                                     sealed.data(), sealed_len, opened.data(), &len),
          "decrypt");
  });
  gnutls_aead_cipher_deinit(aead);

  const std::string line =
      "result scenario=speed" + kv("ecdsa_p256_sign_us", sign_us, 2) +
      kv("x25519_keygen_us", keygen_us, 2) + kv("x25519_shared_us", shared_us, 2) +
      kv("aes128gcm_enc_mb_s", 16384.0 / enc_us, 1) + kv("aes128gcm_dec_mb_s", 16384.0 / dec_us, 1);
  std::printf("%s\n", line.c_str());
  return 0;
}

// ---- cert -------------------------------------------------------------------------------------

int run_cert(const std::string& cert_file, const std::string& key_file) {
  namespace pki = moat::pki;
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  pki::certificate_builder b;
  b.common_name = "localhost";
  b.subject_alt_names = {"DNS:localhost", "IP:127.0.0.1"};
  const auto cert = b.self_sign(key);
  key.write_file(key_file);
  pki::write_pem_file(cert_file, cert.pem(), false);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"moat_loadgen: the load generator of moat's benchmark (see docs/bench.md)"};
  app.require_subcommand(1);
  auto common = [&](CLI::App* s) {
    s->add_option("--host", o.host, "Server address (numeric IPv4)")->capture_default_str();
    s->add_option("--port", o.port, "Server port")->required();
    s->add_option("--server-name", o.server_name, "SNI")->capture_default_str();
    s->add_option("--cacert", o.cacert, "Verify the server against these CAs (default: no check)");
    s->add_option("--server-pid", o.server_pid,
                  "Server process: report its CPU time (and for idle its RSS) from /proc");
    s->add_option("--seconds", o.seconds, "Measured window")->capture_default_str();
    s->add_option("--warmup", o.warmup, "Load before the window")->capture_default_str();
    s->add_option("--max-errors", o.max_errors, "Give up after this many connection errors")
        ->capture_default_str();
    s->add_flag("--plain", o.plain, "Plain TCP, no TLS (to measure the kernel's share)");
    s->add_option("--source-addresses", o.source_addresses,
                  "Spread connections over 127.0.0.1..N (default: one per 16,000 connections)");
    s->add_option("--window-start-cmd", o.window_start_cmd,
                  "Shell command run just before the measured window");
    s->add_option("--window-end-cmd", o.window_end_cmd,
                  "Shell command run just after the measured window");
  };
  auto* hs = app.add_subcommand("handshake", "Full or resumed TLS 1.3 handshakes");
  common(hs);
  hs->add_option("--resume", o.resume, "Resume with tickets")
      ->check(CLI::IsMember({"no", "yes"}))
      ->capture_default_str();
  hs->add_option("--proto", o.proto, "packet4: a 1-byte {packet,4} echo; http: GET /")
      ->check(CLI::IsMember({"packet4", "http"}))
      ->capture_default_str();
  hs->add_option("--concurrency", o.concurrency, "Connections at a time")->capture_default_str();

  auto* echo = app.add_subcommand("echo", "Small {packet,4} echo, N messages outstanding each");
  auto* bulk = app.add_subcommand("bulk", "Large {packet,4} echo frames, a window in flight");
  common(echo);
  common(bulk);
  o.connections = 0;
  echo->add_option("--connections", o.connections, "Connections (default 100)");
  echo->add_option("--size", o.size, "Payload bytes (default 64)");
  echo->add_option("--pipeline", o.pipeline, "Messages outstanding per connection")
      ->capture_default_str();
  bulk->add_option("--connections", o.connections, "Connections (default 4)");
  bulk->add_option("--size", o.size, "Payload bytes per frame (default 16384)");
  constexpr std::size_t kNoWindow = ~std::size_t{0};
  o.window = kNoWindow;
  bulk->add_option("--window", o.window,
                   "Payload bytes in flight per connection (default 1 MiB; <= size: one frame)");

  auto* idle = app.add_subcommand("idle", "Hold N established connections; server RSS per conn");
  common(idle);
  idle->add_option("--connections", o.connections, "Connections (default 10000)");
  idle->add_option("--hold", o.hold,
                   "Seconds to hold after measuring (default: until a signal or stdin EOF)");
  idle->add_option("--settle", o.settle, "Seconds between the last connection and the RSS read")
      ->capture_default_str();
  for (auto* s : {echo, bulk, idle}) {
    s->add_option("--setup-concurrency", o.setup_concurrency, "Connections set up at a time")
        ->capture_default_str();
  }

  std::string cert_file, key_file;
  auto* cert = app.add_subcommand("cert", "Write an ECDSA P-256 self-signed certificate");
  cert->add_option("--out-cert", cert_file, "Certificate (PEM)")->required();
  cert->add_option("--out-key", key_file, "Key (PEM, 0600)")->required();

  double speed_seconds = 2;
  auto* speed = app.add_subcommand(
      "speed", "Time ECDSA P-256 signing, X25519 and AES-128-GCM as GnuTLS/nettle do them");
  speed->add_option("--seconds", speed_seconds, "Per measurement")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  install_signals();
  raise_fd_limit();
  try {
    if (cert->parsed()) return run_cert(cert_file, key_file);
    if (speed->parsed()) return run_speed(speed_seconds);
    if (hs->parsed()) return run_handshake(o);
    if (echo->parsed()) {
      if (o.connections == 0) o.connections = 100;
      if (o.size == 0) o.size = 64;
      return run_stream("echo", o);
    }
    if (bulk->parsed()) {
      if (o.connections == 0) o.connections = 4;
      if (o.size == 0) o.size = 16384;
      if (o.window == kNoWindow) o.window = std::size_t{1} << 20;
      return run_stream("bulk", o);
    }
    if (idle->parsed()) {
      if (o.connections == 0) o.connections = 10000;
      return run_idle(o);
    }
  } catch (const std::exception& e) {
    die(e.what());
  }
  return 2;
}
