#pragma once
// The insides of a node: its workers (one io_context and thread per core, each owning the
// processes and connections it runs), the connection table, the name registry.

#include <spdlog/logger.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "moat/detail/log_limiter.hpp"
#include "moat/dist/epmd.hpp"
#include "moat/dist/epmd_server.hpp"
#include "moat/dist/node.hpp"
#include "moat/dist/term_text.hpp"
#include "moat/tls/context.hpp"
#include "moat/tls/detail/waiter_queue.hpp"
#include "moat/tls/socket.hpp"

namespace moat::dist::detail {

class connection;
struct worker;

/// A reference, pid and 64-bit keys made by this node: the worker is in the value, so any
/// thread can tell which worker owns a pid, an alias or a monitor.
struct local_key {
  std::uint64_t number{0};  // counter * workers + worker index
  friend bool operator==(const local_key&, const local_key&) = default;
};

/// A link of this process. A link to another node's process lives on the connection that
/// carried it (`via`, a connection's id; 0 for a local link): only that connection's end
/// breaks it, not the end of an older one noticed late.
struct link {
  pid other{};
  std::uint64_t via{0};
};

/// A monitor this process holds (it gets the DOWN).
struct monitor_out {
  reference ref;
  pid target_pid{};           // when the target is (or resolved to) a pid
  term target_form{};         // what the DOWN message names: the pid or {Name, Node}
  std::string node{};         // the target's node
  std::string remote_name{};  // a monitor by name on another node: the name
  std::uint64_t via{0};       // the connection that carried it (see `link`)
};

/// A monitor another process holds on this one.
struct monitor_in {
  reference ref;
  pid watcher{};
  term target_form{};
  std::uint64_t via{0};  // the connection that carried it (see `link`)
};

/// The first link of `links` to `other`.
[[nodiscard]] inline std::vector<link>::iterator find_link(std::vector<link>& links,
                                                           const pid& other) {
  return std::find_if(links.begin(), links.end(), [&](const link& l) { return l.other == other; });
}

}  // namespace moat::dist::detail

namespace moat::dist {

struct process::state {
  node::impl* owner{nullptr};
  detail::worker* w{nullptr};
  pid self{};
  std::uint64_t number{0};
  std::deque<term> mailbox{};
  tls::detail::waiter_queue waiters{};
  std::optional<boost::asio::steady_timer> timer{};
  bool timed_out{false};
  bool trap_exit{false};
  bool dead{false};
  std::optional<term> kill_reason{};
  std::vector<detail::link> links{};
  std::vector<detail::monitor_out> monitors_out{};
  std::vector<detail::monitor_in> monitors_in{};
  std::vector<std::string> names{};
  std::vector<std::uint64_t> aliases{};
  std::uint64_t next_unlink_id{1};
  std::unique_ptr<process> handle{};
  boost::asio::cancellation_signal cancel{};
  std::uint64_t receive_generation{0};
};

}  // namespace moat::dist

namespace moat::dist::detail {

using proc_ptr = std::shared_ptr<process::state>;

struct worker {
  unsigned index{0};
  node::impl* owner{nullptr};
  boost::asio::io_context io{1};
  std::thread thread{};
  // Owned by this worker's thread only.
  std::unordered_map<std::uint64_t, proc_ptr> procs{};
  std::unordered_map<std::uint64_t, std::weak_ptr<process::state>> aliases{};
  std::atomic<std::uint64_t> next_pid{0};
  std::atomic<std::uint64_t> next_ref{0};
  // Per-worker copies of the node's tables, so a send touches no shared lock: connections
  // (dropped when found closed) and registered names (dropped when the registry changes).
  std::unordered_map<atom, std::shared_ptr<connection>> conn_cache{};
  std::unordered_map<std::string, pid> name_cache{};
  std::uint64_t name_generation{~std::uint64_t{0}};
};

/// The worker whose thread this is (null on other threads).
[[nodiscard]] worker* this_worker() noexcept;
void set_this_worker(worker* w) noexcept;

}  // namespace moat::dist::detail

namespace moat::dist {

struct node::impl : std::enable_shared_from_this<node::impl> {
  explicit impl(node_options o);

  node_options opts;
  node* public_node{nullptr};
  node_name self_name{};
  std::string full_name{};
  atom self_atom{};
  std::uint32_t creation{0};
  std::uint16_t listen_port{0};
  std::string cookie{};
  std::shared_ptr<spdlog::logger> log{};
  moat::detail::log_limiter refusals{20, std::chrono::seconds(10)};
  moat::detail::log_limiter dial_failures{20, std::chrono::seconds(10)};
  std::optional<tls::context> server_ctx{};
  std::optional<tls::context> client_ctx{};
  std::vector<std::unique_ptr<detail::worker>> workers{};
  std::atomic<unsigned> next_worker{0};
  std::atomic<bool> stopping{false};

  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors{};
  registration reg{};
  std::optional<epmd_server> embedded_epmd{};

  mutable std::mutex conn_mu{};
  std::unordered_map<std::string, std::shared_ptr<detail::connection>> conns{};
  std::atomic<std::uint64_t> next_connection_id{1};

  mutable std::shared_mutex names_mu{};
  std::unordered_map<std::string, pid> names{};
  std::atomic<std::uint64_t> names_generation{0};
  /// This node's worker running the calling thread, if any.
  [[nodiscard]] detail::worker* own_worker() const noexcept {
    auto* w = detail::this_worker();
    return (w != nullptr && w->owner == this) ? w : nullptr;
  }

  std::atomic<std::uint64_t> messages_in{0};
  std::atomic<std::uint64_t> messages_out{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> drops{0};
  moat::detail::log_limiter drop_log{20, std::chrono::seconds(10)};
  /// The sender of registered sends made from outside any process (a node-level process
  /// that answers io requests, see node.cpp).
  pid system_pid{};

  // --- workers and identities (node.cpp) ---
  detail::worker& pick_worker();
  detail::worker& worker_of(std::uint64_t number) { return *workers[number % workers.size()]; }
  [[nodiscard]] pid make_pid(detail::worker& w);
  [[nodiscard]] reference make_ref(detail::worker& w);
  [[nodiscard]] std::optional<std::uint64_t> local_number(const pid& p) const;
  /// (worker index, alias key) of a reference made by this node.
  [[nodiscard]] std::optional<std::pair<std::size_t, std::uint64_t>> local_alias(
      const reference& r) const;
  void start_workers();
  void stop_workers();

  // --- processes (process_runtime.cpp) ---
  /// Starts a process, registered under `registered_name` if it is not empty; a pid with
  /// id and serial 0 if that name is taken.
  pid spawn(process_body body, const std::string& registered_name = {});
  /// Delivers to a local pid (from any thread).
  void deliver(const pid& to, term message);
  /// Delivers to a local alias (from any thread); dropped if the alias is gone.
  void deliver_alias(const reference& alias, term message);
  /// An exit signal to a local pid (from any thread). `link`: it comes from a link.
  void exit_signal(const pid& to, const pid& from, term reason, bool link);
  /// Links `local` to `other` (`via`: the connection that carried it, 0 if local).
  void add_link(const pid& local, const pid& other, std::uint64_t via);
  void remove_link(const pid& local, const pid& other);
  void add_monitor_in(const pid& target, detail::monitor_in m, bool by_name);
  void remove_monitor_in(const pid& target, const reference& ref);
  void monitor_down(const pid& watcher, const reference& ref, term reason);
  /// Breaks the links and monitors with `peer` that connections `via` carried (noconnection).
  void node_down(const std::string& peer, std::vector<std::uint64_t> via);
  void process_ended(const detail::proc_ptr& st, term reason);
  void drop_monitor_out(process::state& st, const detail::monitor_out& m);
  void kill(process::state& st, term reason);
  void push_message(process::state& st, term message);
  void link_refused(const pid& local, const pid& other);
  /// Runs `f` with the process on its worker, or `missing` (if any) when there is none.
  template <class F>
  void with_process(const pid& p, F&& f, std::function<void()> missing);
  bool send(const pid* from, const destination& to, term message);
  [[nodiscard]] std::optional<pid> whereis(const std::string& name) const;
  bool register_name(const std::string& name, const pid& p);
  void unregister_names(const std::vector<std::string>& names_of);

  // --- connections (node_connect.cpp) ---
  /// The connection to `peer`, dialling it if there is none (nullptr if `peer` is not a
  /// valid node name, is this node, or the node is stopping).
  std::shared_ptr<detail::connection> connection_to(const std::string& peer);
  /// The same by the node's atom (a pid's, alias's or reference's node), as the worker's
  /// cache keys it.
  std::shared_ptr<detail::connection> connection_to(const atom& peer);
  std::shared_ptr<detail::connection> find_or_dial(const std::string& peer);
  /// Whether this node would connect to `peer`: a valid name of its name mode, not itself,
  /// and the node is not stopping.
  [[nodiscard]] bool may_connect(const std::string& peer) const;
  /// The connection to `peer` if there is one (up or being set up); never dials.
  std::shared_ptr<detail::connection> existing_connection(const std::string& peer) const;
  /// The connection a process on this thread's worker sends to `peer` through (its worker's
  /// cached one while that still carries messages, so signals keep their order after
  /// messages), else the table's; never dials.
  std::shared_ptr<detail::connection> route_to(const atom& peer);
  void start_listening();
  /// Removes `c` from the table if it is there; true if it was.
  bool forget(const std::shared_ptr<detail::connection>& c);
  void refuse_log(const std::string& peer, const std::string& endpoint, std::error_code ec,
                  const std::string& detail);
};

}  // namespace moat::dist
