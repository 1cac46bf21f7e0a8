#include "support/support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace moat::test {

temp_dir::temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "moat-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

test_ca::test_ca(std::filesystem::path dir, pki::key_type type, std::string name)
    : dir_(std::move(dir)), key_(pki::private_key::generate(type)), cert_([&] {
        pki::certificate_builder b;
        b.common_name = name;
        b.is_ca = true;
        b.validity = std::chrono::days(3650);
        return b.self_sign(key_);
      }()) {
  std::filesystem::create_directories(dir_);
  certfile_ = dir_ / "ca.pem";
  write_file(certfile_, cert_.pem());
}

issued test_ca::issue(const std::string& cn, pki::key_type type,
                      std::vector<std::string> sans) const {
  pki::certificate_builder b;
  b.common_name = cn;
  b.subject_alt_names = sans.empty() ? std::vector<std::string>{"DNS:" + cn, "DNS:localhost",
                                                                "IP:127.0.0.1", "IP:::1"}
                                     : std::move(sans);
  return issue_with(std::move(b), type, cn);
}

issued test_ca::issue_with(pki::certificate_builder b, pki::key_type type,
                           const std::string& file_stem) const {
  auto key = pki::private_key::generate(type);
  auto cert = b.sign(key, cert_, key_);
  const std::string stem =
      (file_stem.empty() ? b.common_name : file_stem) + "-" + std::to_string(++counter_);
  issued r{key, cert, {cert}, dir_ / (stem + ".pem"), dir_ / (stem + ".key")};
  write_file(r.certfile, cert.pem());
  key.write_file(r.keyfile);
  return r;
}

leaf_set::leaf_set(const test_ca& ca, const std::string& cn)
    : ecdsa(ca.issue(cn, pki::key_type::ecdsa_p256)),
      rsa(ca.issue(cn, pki::key_type::rsa)),
      ed25519(ca.issue(cn, pki::key_type::ed25519)) {}

const issued& leaf_set::operator[](pki::key_type t) const {
  switch (t) {
    case pki::key_type::rsa:
      return rsa;
    case pki::key_type::ed25519:
      return ed25519;
    default:
      return ecdsa;
  }
}

namespace {

// The ports free_port() chooses from: below the kernel's ephemeral range (or above it, if
// that leaves more room), so no outgoing connection is ever given one.
std::pair<unsigned, unsigned> test_port_range() {
  unsigned lo = 32768, hi = 60999;
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  f >> lo >> hi;
  if (lo > 12000) return {10000, lo - 1};
  return {hi + 1, 65535};
}

// Whether nothing listens on or is bound to `port` on any IPv4 address right now.
bool bindable(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

unsigned short free_port() {
  // A port from bind(0) is an ephemeral one: any test's outgoing connection may be given it
  // before the caller listens ("Address already in use" in CI). So the port comes from outside
  // the ephemeral range, and a lock file held until this process exits keeps every other test
  // process (and this one) from choosing it too.
  static std::mutex m;
  const std::lock_guard lock(m);
  static const auto dir = [] {
    auto d = std::filesystem::temp_directory_path() / "moat-test-ports";
    std::error_code ec;
    std::filesystem::create_directories(d, ec);
    std::filesystem::permissions(
        d, std::filesystem::perms::all | std::filesystem::perms::sticky_bit, ec);
    return d;
  }();
  static const auto [lo, hi] = test_port_range();
  const unsigned span = hi - lo + 1;
  std::random_device rd;
  const unsigned start = rd() % span;
  for (unsigned i = 0; i < span; ++i) {
    const auto port = static_cast<unsigned short>(lo + (start + i) % span);
    const auto file = dir / std::to_string(port);
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || !bindable(port)) {
      ::close(fd);
      continue;
    }
    return port;  // fd stays open: the lock lasts as long as the process
  }
  throw std::runtime_error("free_port: no free port in " + std::to_string(lo) + "-" +
                           std::to_string(hi));
}

bool have_program(const std::string& name) {
  const std::string cmd = "command -v " + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

child_process::child_process(std::vector<std::string> argv, std::filesystem::path cwd) {
  // posix_spawn, not fork: a forked child of this multi-threaded process may take a lock that
  // another thread held at the fork (ASan's allocator did, and the child spun on it forever
  // before reaching exec). posix_spawn runs nothing of ours between the clone and the exec.
  if (argv.empty()) throw std::invalid_argument("child_process: no program");
  char tmpl[] = "/tmp/moat-child-XXXXXX";
  const int out_fd = ::mkstemp(tmpl);
  if (out_fd < 0) throw std::runtime_error("child_process: mkstemp failed");
  out_path_ = tmpl;
  int in_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    ::close(out_fd);
    throw std::runtime_error("child_process: pipe failed");
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  ::posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);  // dup2 clears close-on-exec
  ::posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  ::posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  if (!cwd.empty()) ::posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  ::posix_spawnattr_setpgroup(&attr, 0);  // its own group: the destructor kills the group
  const int rc = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  ::close(in_pipe[0]);
  ::close(out_fd);
  if (rc != 0) {
    ::close(in_pipe[1]);
    std::error_code ec;
    std::filesystem::remove(out_path_, ec);
    throw std::system_error(rc, std::generic_category(), "child_process: cannot start " + argv[0]);
  }
  stdin_fd_ = in_pipe[1];
}

child_process::~child_process() {
  if (!status_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  std::error_code ec;
  std::filesystem::remove(out_path_, ec);
}

std::string child_process::output() const {
  return read_file(out_path_);
}

bool child_process::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  while (std::chrono::steady_clock::now() < deadline) {
    if (output().find(needle) != std::string::npos) return true;
    if (!status_) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        return output().find(needle) != std::string::npos;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool child_process::wait_for_port(unsigned short port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    if (ok) return true;
    int st = 0;
    if (!status_ && ::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void child_process::write_stdin(const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const auto n = ::write(stdin_fd_, data.data() + off, data.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

void child_process::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  while (!status_) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

void child_process::kill(int sig) {
  if (!status_) ::kill(pid_, sig);
}

process_outcome run_process(std::vector<std::string> argv, std::chrono::milliseconds timeout,
                            std::filesystem::path cwd) {
  child_process p(std::move(argv), std::move(cwd));
  p.close_stdin();
  const auto st = p.wait(timeout);
  return {st.value_or(process_outcome::timed_out), p.output()};
}

std::vector<std::pair<std::string, std::vector<std::uint8_t>>> read_corpus(
    const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) {
    throw std::runtime_error("no fuzz corpus directory " + dir.string());
  }
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    out.emplace_back(entry.path().filename().string(),
                     std::vector<std::uint8_t>{std::istreambuf_iterator<char>(in),
                                               std::istreambuf_iterator<char>()});
  }
  return out;
}

std::filesystem::path source_dir() {
  const char* s = std::getenv("MOAT_SOURCE_DIR");
  return s != nullptr ? std::filesystem::path(s) : std::filesystem::current_path();
}

std::pair<tls::socket, tls::socket> connected_pair(asio::io_context& io,
                                                   const tls::context& server_ctx,
                                                   const tls::context& client_ctx,
                                                   tls::socket_options server_opts,
                                                   tls::socket_options client_opts) {
  auto ls = tls::listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0},
                                       server_ctx, {.accepted = server_opts});
  std::optional<tls::socket> server;
  std::optional<tls::socket> client;
  std::string failure;
  run(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto s = co_await ls.transport_accept();
          if (!s) {
            failure = "accept: " + s.error().message();
          } else if (auto ec = co_await s->handshake(scaled(std::chrono::seconds(10)))) {
            failure = "server handshake: " + ec.message();
          } else {
            server.emplace(std::move(*s));
          }
        },
        asio::detached);
    auto c =
        co_await tls::socket::connect(io.get_executor(), "localhost", ls.local_endpoint().port(),
                                      client_ctx, scaled(std::chrono::seconds(10)), client_opts);
    if (!c) throw std::runtime_error("connect: " + c.error().message());
    client.emplace(std::move(*c));
    while (!server && failure.empty()) {
      asio::steady_timer t(io, std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
    }
  }());
  if (!server) throw std::runtime_error(failure);
  return {std::move(*server), std::move(*client)};
}

asio::awaitable<std::optional<int>> exited(child_process& p, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  for (;;) {
    if (auto st = p.wait(std::chrono::milliseconds(0))) co_return st;
    if (std::chrono::steady_clock::now() > deadline) {
      p.kill();
      co_return p.wait(std::chrono::seconds(2));
    }
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(10));
    co_await t.async_wait(asio::use_awaitable);
  }
}

int slowdown() noexcept {
#if defined(__SANITIZE_ADDRESS__)
  return 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return 4;
#else
  return 1;
#endif
#else
  return 1;
#endif
}

std::chrono::microseconds cpu_time(int pid) {
  using std::chrono::microseconds;
  if (pid == 0) {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto us = [](const timeval& tv) {
      return microseconds(tv.tv_sec * 1000000L + tv.tv_usec);
    };
    return us(ru.ru_utime) + us(ru.ru_stime);
  }
  // /proc/<pid>/stat: "pid (comm) state ..." -- utime and stime are fields 14 and 15; the
  // command name may hold spaces, so count from the closing parenthesis.
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) throw std::runtime_error("cannot read /proc/<pid>/stat");
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  return microseconds((utime + stime) * 1000000LL / hz);
}

double cpu_share(int pid, std::chrono::milliseconds window) {
  const auto c0 = cpu_time(pid);
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);  // the measurement window itself, not a wait
  const auto c1 = cpu_time(pid);
  const auto wall = std::chrono::steady_clock::now() - t0;
  return std::chrono::duration<double>(c1 - c0).count() /
         std::chrono::duration<double>(wall).count();
}

}  // namespace moat::test
