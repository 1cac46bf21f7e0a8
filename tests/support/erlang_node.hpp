#pragma once
// Real Erlang and Elixir nodes as test peers: a private epmd, the ssl_dist_optfile of TLS
// distribution, and a node started as a child process that a test controls by evaluating
// Erlang expressions in it.
//
// Every node runs the control loop of tests/support/erlang/moat_test_ctl.erl and has two
// helpers started (the modules of tests/support/erlang/, compiled once per test process):
//   erl_echo   a gen_server registered as erl_echo: a call replies with its request, except
//              get_last_cast (the last cast, or undefined), get_casts (all, oldest first),
//              get_infos (other messages) and {sleep, Ms, Reply} (Reply after Ms ms).
//   test_inbox a process registered as test_inbox that records every message it gets:
//              test_inbox:take(Timeout) -> {ok, Msg} | timeout (oldest message not taken),
//              test_inbox:take_matching(fun(M) -> bool() end, Timeout), test_inbox:all(),
//              test_inbox:count(). test_inbox:start(Name) starts another under Name.
//
// Example:
//   test::epmd epmd;
//   test::erlang_node a({.name = "a", .tls = test::dist_tls_files{...}, .epmd_port = epmd.port()});
//   ASSERT_TRUE(a.wait_ready()) << a.output();
//   EXPECT_EQ(a.eval("net_adm:ping('b@localhost')"), "pong");
//
// Thread-safety: none of these objects may be used from two threads at once.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace moat::test {

/// A private epmd (`epmd -port P` on a port that was free), so that tests running in parallel
/// do not share node names. Killed on destruction.
class epmd {
 public:
  /// Starts it and waits until it accepts connections; throws std::runtime_error if it does
  /// not start.
  epmd();
  [[nodiscard]] unsigned short port() const noexcept { return port_; }
  /// The names registered with it, as `epmd -names` prints them.
  [[nodiscard]] std::string names() const;

 private:
  unsigned short port_ = 0;
  std::unique_ptr<child_process> process_;
};

/// What an ssl_dist_optfile says: `[{server, [...]}, {client, [...]}].` with the same
/// certificate, key and CA file on both sides.
struct dist_tls_files {
  std::filesystem::path certfile{};    ///< the node's chain (leaf first); absolute
  std::filesystem::path keyfile{};     ///< its key; absolute
  std::filesystem::path cacertfile{};  ///< the CA certificates peers must chain to; absolute
  /// verify_peer on both sides and fail_if_no_peer_cert on the server side; false:
  /// verify_none on both.
  bool verify_peer = true;
  /// {versions, [...]}, e.g. {"tlsv1.3"}; empty: ssl's default (TLS 1.2 and 1.3).
  /// secure_renegotiate is set only where TLS 1.2 may be used (ssl refuses it otherwise).
  std::vector<std::string> versions{};
  /// The client's customize_hostname_check: also accept an IP address SAN when the node's
  /// host is an address (long names such as a@127.0.0.1; see docs/dist.md, "Certificates for a cluster").
  bool match_ip_addresses = false;
  std::string extra_server{};  ///< more server options, Erlang terms: "{ciphers, [...]}"
  std::string extra_client{};  ///< more client options, likewise
};

/// The text of the optfile for `f`.
[[nodiscard]] std::string dist_optfile_text(const dist_tls_files& f);
/// Writes `dist_optfile_text(f)` to `path`.
void write_dist_optfile(const std::filesystem::path& path, const dist_tls_files& f);

/// How a node's distribution connections are carried (`-proto_dist`).
enum class dist_proto {
  tcp,   ///< inet_tcp, the default
  tcp6,  ///< inet6_tcp
  tls,   ///< inet_tls
  tls6,  ///< inet6_tls
};

/// Which runtime the node is.
enum class node_kind {
  erlang,  ///< `erl`
  elixir,  ///< `elixir` (eval still takes Erlang expressions; see eval_elixir)
};

struct erlang_node_options {
  node_kind kind = node_kind::erlang;
  /// "a" or "a@host". Default host: "localhost" for short names, "127.0.0.1" for long names
  /// ("::1" with tcp6/tls6).
  std::string name{};
  bool long_names = false;  ///< -name instead of -sname
  std::string cookie = "moat-test-cookie";
  dist_proto proto = dist_proto::tls;
  /// For tls/tls6: the optfile to give as -ssl_dist_optfile (absolute) ...
  std::filesystem::path optfile{};
  /// ... or, if `optfile` is empty, what to write one from (into the node's directory).
  std::optional<dist_tls_files> tls{};
  unsigned short epmd_port = 0;  ///< -epmd_port; 0: the standard 4369 (avoid in tests)
  int net_ticktime = 0;          ///< seconds (-kernel net_ticktime); 0: the default (60)
  /// More arguments for erl (for an Elixir node, put inside --erl; no spaces in one).
  std::vector<std::string> extra_args{};
};

/// A real Erlang or Elixir node, started as a child process by the constructor (which does
/// not wait: start several, then wait_ready() on each). Killed (SIGKILL) on destruction if
/// it still runs. Its output (logs, crash reports) is in output().
class erlang_node {
 public:
  /// Starts the node; throws std::runtime_error if erl/elixir/erlc cannot run or the
  /// options are inconsistent (TLS without optfile or tls files).
  explicit erlang_node(erlang_node_options options);
  ~erlang_node();
  erlang_node(const erlang_node&) = delete;
  erlang_node& operator=(const erlang_node&) = delete;

  /// Waits until the node is up (distribution started, helpers running): false if it exited
  /// or did not get there within `timeout` (scaled).
  [[nodiscard]] bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Evaluates Erlang expressions (comma-separated; a trailing '.' is optional; newlines
  /// become spaces) in a process of their own on the node and returns the result as ~p
  /// prints it on one line, e.g. "pong", "{ok,<<\"x\">>}", "\"text\"". An exception gives
  /// "{error,{Class,Reason}}"; no answer within `timeout` (scaled) gives
  /// "{error,eval_timeout}", a node that is gone "{error,node_exited}". Evaluations do not
  /// wait for each other on the node.
  [[nodiscard]] std::string eval(const std::string& expr,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Evaluates Elixir code (any node with Elixir loaded, i.e. node_kind::elixir) with
  /// Code.eval_string and returns its value printed like eval (Erlang syntax).
  [[nodiscard]] std::string eval_elixir(
      const std::string& code, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Stops the node gracefully (init:stop/0, by closing its standard input) and waits for
  /// its exit: the exit status, or nullopt if it had to be killed after `timeout` (scaled).
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Kills the node at once (SIGKILL to its process group) and reaps it: peers see the
  /// connection drop without a goodbye.
  void kill9();
  [[nodiscard]] int pid() const noexcept { return process_->pid(); }
  /// The full node name, e.g. "a@localhost".
  [[nodiscard]] const std::string& node_name() const noexcept { return node_name_; }
  /// The node name as an Erlang atom literal, e.g. "'a@localhost'".
  [[nodiscard]] std::string node_atom() const { return "'" + node_name_ + "'"; }
  /// The optfile in use (empty for tcp).
  [[nodiscard]] const std::filesystem::path& optfile() const noexcept { return optfile_; }
  /// Everything the node printed so far.
  [[nodiscard]] std::string output() const { return process_->output(); }

 private:
  std::unique_ptr<temp_dir> dir_;
  std::string node_name_;
  std::filesystem::path optfile_;
  std::unique_ptr<child_process> process_;
  unsigned next_id_ = 1;
};

/// `s` as an Erlang string literal ("..." with \\ and \" escaped).
[[nodiscard]] std::string erlang_string(const std::string& s);

/// The directory holding the compiled helper modules (compiled on first use); throws
/// std::runtime_error with erlc's output if they do not compile.
[[nodiscard]] const std::filesystem::path& erlang_helper_ebin();

}  // namespace moat::test
