#pragma once
// Shared test helpers: temporary directories, a small test CA, real child processes (peers
// such as openssl, gnutls-cli, erl), free ports, and running coroutines to completion.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <moat/pki/pki.hpp>
#include <moat/tls/socket.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace moat::test {

namespace asio = boost::asio;

/// How many times slower this build runs than a plain optimised one (4 under the sanitizers,
/// else 1). Deadlines that guard against hangs scale by it; assertions about behaviour do not.
[[nodiscard]] int slowdown() noexcept;
/// `d` scaled for this build (see slowdown()).
template <class Rep, class Period>
[[nodiscard]] std::chrono::duration<Rep, Period> scaled(std::chrono::duration<Rep, Period> d) {
  return d * slowdown();
}

/// A fresh directory under the system temp dir, removed on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

/// Writes `text` to `path`.
void write_file(const std::filesystem::path& path, const std::string& text);
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

/// A key and certificate, and where they were written as PEM.
struct issued {
  pki::private_key key;
  pki::certificate cert;
  std::vector<pki::certificate> chain;  ///< leaf first (leaf + intermediates)
  std::filesystem::path certfile;       ///< PEM chain
  std::filesystem::path keyfile;        ///< PEM key (0600)
};

/// A test certificate authority that issues certificates into a directory.
class test_ca {
 public:
  explicit test_ca(std::filesystem::path dir, pki::key_type type = pki::key_type::ecdsa_p256,
                   std::string name = "moat test CA");
  /// Issues a leaf for `cn` with SANs (default: DNS:<cn>, DNS:localhost, IP:127.0.0.1, IP:::1).
  issued issue(const std::string& cn, pki::key_type type = pki::key_type::ecdsa_p256,
               std::vector<std::string> sans = {}) const;
  /// Issues with a customised builder (common_name and SANs are taken from it).
  issued issue_with(pki::certificate_builder b, pki::key_type type = pki::key_type::ecdsa_p256,
                    const std::string& file_stem = {}) const;
  [[nodiscard]] const pki::certificate& cert() const noexcept { return cert_; }
  [[nodiscard]] const pki::private_key& key() const noexcept { return key_; }
  [[nodiscard]] const std::filesystem::path& certfile() const noexcept { return certfile_; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  pki::private_key key_;
  pki::certificate cert_;
  std::filesystem::path certfile_;
  mutable int counter_ = 0;
};

/// One leaf certificate for "localhost" per key type of the interop matrices, from one CA.
struct leaf_set {
  explicit leaf_set(const test_ca& ca, const std::string& cn = "localhost");
  issued ecdsa;
  issued rsa;
  issued ed25519;
  [[nodiscard]] const issued& operator[](pki::key_type t) const;
};

/// A TCP port free on every IPv4 address, outside the ephemeral range, and given to no other
/// caller (in this or another test process) while this process lives.
[[nodiscard]] unsigned short free_port();

/// Whether a program is on PATH.
[[nodiscard]] bool have_program(const std::string& name);

/// A real child process with its stdin, and stdout+stderr captured to a file. Killed
/// (SIGKILL) on destruction if still running. Its waits are deadlines against hangs, so they
/// scale for sanitizer builds (see scaled()).
class child_process {
 public:
  explicit child_process(std::vector<std::string> argv, std::filesystem::path cwd = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Waits until the output contains `needle`; false on timeout or exit.
  bool wait_for_output(const std::string& needle,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Waits until something accepts TCP connections on 127.0.0.1:port.
  bool wait_for_port(unsigned short port,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void write_stdin(const std::string& data);
  void close_stdin();
  /// Waits for exit; returns the exit status (or -signal), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void kill(int sig = 9);
  [[nodiscard]] std::string output() const;
  [[nodiscard]] int pid() const noexcept { return pid_; }

 private:
  int pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
  std::filesystem::path out_path_;
};

/// How a process run to its end went.
struct process_outcome {
  /// What `status` is when the process did not exit in time (it was then killed).
  static constexpr int timed_out = -999;
  int status = timed_out;  ///< exit status, -signal if a signal ended it, or timed_out
  std::string output;      ///< its stdout and stderr
};

/// Runs `argv` (stdin closed at once) until it exits, at most `timeout` (scaled).
[[nodiscard]] process_outcome run_process(
    std::vector<std::string> argv, std::chrono::milliseconds timeout = std::chrono::seconds(60),
    std::filesystem::path cwd = {});

/// Waits, without blocking the io_context (a coroutine), for `p` to exit; kills it after
/// `timeout` (scaled). Its exit status, or nullopt if it did not die even then.
[[nodiscard]] asio::awaitable<std::optional<int>> exited(
    child_process& p, std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Runs `aw` on `io` until it completes (or `timeout` passes: then throws), returning its
/// value; exceptions propagate. `io` is left ready to run again.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> aw,
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto fut = asio::co_spawn(io, std::move(aw), asio::use_future);
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + timeout * slowdown();
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("test coroutine timed out");
    }
    io.run_for(std::chrono::milliseconds(20));
  }
  io.restart();  // running out of work stops an io_context: leave it ready to run again
  return fut.get();
}

/// A handshaken moat TLS connection over loopback: {server side, client side}, both on `io`.
/// The client verifies "localhost". Throws if either side fails.
[[nodiscard]] std::pair<tls::socket, tls::socket> connected_pair(
    asio::io_context& io, const tls::context& server_ctx, const tls::context& client_ctx,
    tls::socket_options server_opts = {}, tls::socket_options client_opts = {});

/// CPU time (user + system) a process has used so far; pid 0 = this process. Read from
/// getrusage for this process and /proc/<pid>/stat (clock ticks) for another.
[[nodiscard]] std::chrono::microseconds cpu_time(int pid = 0);
/// The share of one core (1.0 = a whole core) a process uses while `window` passes.
[[nodiscard]] double cpu_share(int pid, std::chrono::milliseconds window);

/// The files of a fuzz seed corpus directory: {file name, bytes}, in directory order. Throws
/// std::runtime_error naming `dir` if it is not a directory.
[[nodiscard]] std::vector<std::pair<std::string, std::vector<std::uint8_t>>> read_corpus(
    const std::filesystem::path& dir);

/// Directory of the project's source tree (for test data and scripts).
[[nodiscard]] std::filesystem::path source_dir();

}  // namespace moat::test
