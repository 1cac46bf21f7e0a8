#pragma once
/// @file
/// A process of a moat node: a mailbox with a pid, run by a coroutine on one of the node's
/// cores. What an Erlang process does with `receive`, `!`, `link`, `monitor`, `exit`,
/// `register` and `gen_server`'s call / cast / reply, a moat process does with the members
/// of `process`. Messages are `dist::term`s; exits and monitor notifications arrive as the
/// terms Erlang uses (`{'EXIT', Pid, Reason}`, `{'DOWN', Ref, process, Who, Reason}`).

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "moat/dist/term.hpp"

namespace moat::dist {

class node;

/// Where a message goes: a pid, a name registered on this node, or a name on another node.
class destination {
 public:
  destination(pid p) : v_(std::move(p)) {}                              // NOLINT
  destination(const char* local_name) : v_(std::string(local_name)) {}  // NOLINT
  destination(std::string local_name) : v_(std::move(local_name)) {}    // NOLINT
  /// `{Name, Node}`.
  destination(std::string name, std::string node) : v_(remote{std::move(name), std::move(node)}) {}

  struct remote {
    std::string name;
    std::string node;
  };
  [[nodiscard]] const std::variant<pid, std::string, remote>& value() const noexcept { return v_; }
  /// As Erlang would write it: a pid, `name` or `{name, 'node'}`.
  [[nodiscard]] term as_term() const;

 private:
  std::variant<pid, std::string, remote> v_;
};

/// Thrown out of `receive` (and every other wait of the process) when the process is killed
/// by an exit signal it does not trap; the process ends with `reason`. Let it propagate.
class process_exit : public std::runtime_error {
 public:
  explicit process_exit(term reason);
  [[nodiscard]] const term& reason() const noexcept { return reason_; }

 private:
  term reason_;
};

/// A gen_server call as the server receives it: `{'$gen_call', From, Request}`.
struct call_request {
  term from{};     ///< `{Pid, Tag}`: pass it to `process::reply`
  term request{};  ///< what the caller asked
};

/// Why a call failed; `reason` is what Erlang's `gen_server:call` would exit with.
struct call_error {
  term reason{};  ///< `timeout`, `noproc`, `noconnection`, or the server's exit reason
};

/// The reply of a call, or why there is none.
using call_result = boost::system::result<term, call_error>;

/// The handle a process's coroutine gets. It belongs to the process: use it only from the
/// process's own coroutine (its executor); it lives as long as the coroutine runs.
class process {
 public:
  struct state;  // internal

  [[nodiscard]] const pid& self() const noexcept;
  [[nodiscard]] dist::node& node() const noexcept;

  /// The next message, waiting as long as it takes.
  [[nodiscard]] boost::asio::awaitable<term> receive();
  /// The next message, or nullopt after `timeout`.
  [[nodiscard]] boost::asio::awaitable<std::optional<term>> receive(
      std::chrono::milliseconds timeout);
  /// The first message `match` accepts, leaving the others in order (a selective receive);
  /// nullopt after `timeout` (negative = wait forever).
  [[nodiscard]] boost::asio::awaitable<std::optional<term>> receive_if(
      std::function<bool(const term&)> match,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));

  /// `To ! Message`. Never blocks; to a name nobody registered it is dropped (Erlang raises
  /// badarg for an unregistered local name: here `send` returns false).
  bool send(const destination& to, term message);

  /// `register(Name, self())`; false if the name is taken.
  bool register_name(std::string name);
  /// `link(Pid)`; a pid that does not exist sends `noproc` as an exit signal.
  void link(const pid& other);
  void unlink(const pid& other);
  /// `monitor(process, Target)`; the `{'DOWN', Ref, process, Target, Reason}` message comes
  /// when the target ends, does not exist (`noproc`) or its node goes (`noconnection`).
  reference monitor(const destination& target);
  void demonitor(const reference& ref);
  /// `exit(Pid, Reason)`.
  void exit(const pid& to, term reason);
  /// `process_flag(trap_exit, On)`.
  void trap_exit(bool on);
  /// A new reference of this node (`make_ref()`).
  [[nodiscard]] reference make_ref();

  /// `gen_server:call(To, Request, Timeout)`: the reply, or why there is none.
  [[nodiscard]] boost::asio::awaitable<call_result> call(
      const destination& to, term request,
      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// `gen_server:cast(To, Request)`.
  void cast(const destination& to, term request);
  /// The call in a message, if it is one.
  [[nodiscard]] static std::optional<call_request> as_call(const term& message);
  /// `gen_server:reply(From, Reply)`: to an alias when the caller made one (OTP 24+), to its
  /// pid otherwise.
  void reply(const term& from, term reply);
  /// `rpc:call(Node, Module, Function, Args, Timeout)` through the node's `rex` server.
  [[nodiscard]] boost::asio::awaitable<call_result> rpc(
      const std::string& node, std::string_view module, std::string_view function, list args,
      std::chrono::milliseconds timeout = std::chrono::seconds(5));

  explicit process(state& s) noexcept : s_(&s) {}

 private:
  state* s_;
};

/// What runs a process: a coroutine taking its handle. Returning ends the process with reason
/// `normal`; a `process_exit` with its reason; any other exception with
/// `{exception, What}`.
using process_body = std::function<boost::asio::awaitable<void>(process&)>;

}  // namespace moat::dist
