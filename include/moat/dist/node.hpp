#pragma once
/// @file
/// A moat node: a member of an Erlang cluster. It registers with EPMD (starting an embedded
/// one when none runs), listens for distribution connections over TLS (as `inet_tls_dist`),
/// connects to other nodes on first use, and runs processes (`process.hpp`) on its cores.
///
/// Identity is bound to certificates by default: a peer claiming `name@host` is accepted only
/// with a verified certificate whose subject alternative names name `host`, in both
/// directions; and the cookie is checked as Erlang does. Every refused connection is logged
/// once with the peer and the reason, and nothing it sent is delivered.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "moat/dist/node_name.hpp"
#include "moat/dist/process.hpp"
#include "moat/dist/term.hpp"
#include "moat/tls/options.hpp"

namespace spdlog {
class logger;
}

namespace moat::dist {

/// The carrier of distribution connections.
enum class transport {
  tls,  ///< TLS, then `{packet,4}` for the handshake and after (`-proto_dist inet_tls`)
  tcp,  ///< plain TCP (`inet_tcp`): no identity, only the cookie -- for trusted networks
};

/// What a full mailbox does with one more message.
enum class mailbox_overflow {
  kill,  ///< the process is killed with reason `{mailbox_overflow, Limit}` (links and monitors see
         ///< it)
  drop,  ///< the message is dropped, and the drop is counted and logged (rate-limited)
};

/// A node connecting or losing a peer (`net_kernel:monitor_nodes/1`).
struct node_event {
  enum class kind { up, down } what{kind::up};
  std::string node{};
  bool hidden{false};
  std::error_code reason{};  ///< for `down`: why (closed, tick timeout, ...)
};

/// How a node runs. Everything is checked by the constructor of `node`.
struct node_options {
  /// `name` or `name@host` (as `erl -sname` / `-name`).
  std::string name{};
  name_mode mode{name_mode::short_names};
  /// The cookie; empty = the contents of `$HOME/.erlang.cookie`, as erl reads it.
  std::string cookie{};
  /// A hidden node (`-hidden`): its connections are not published to the peers' other nodes.
  bool hidden{false};

  transport proto{transport::tls};
  /// Listen and connect over IPv6 (`-proto_dist inet6_tls`).
  bool ipv6{false};
  /// TLS options for accepted connections (the `server` part of an `-ssl_dist_optfile`).
  /// Unless `insecure_skip_identity_check`, `verify` is forced to peer and
  /// `fail_if_no_peer_cert` to true.
  tls::options server{};
  /// TLS options for connections this node makes (the `client` part). The target's host part
  /// is sent as SNI and checked against the server's certificate.
  tls::options client{};
  /// Accept any peer the TLS options accept, without checking that its certificate names its
  /// host. Erlang's own behaviour; insecure.
  bool insecure_skip_identity_check{false};

  /// Address to listen on; empty = every address of the family.
  std::string listen_address{};
  /// Port to listen on; 0 = any free port (registered with EPMD).
  std::uint16_t listen_port{0};
  /// The EPMD port (`-epmd_port`); default: `ERL_EPMD_PORT` or 4369.
  std::optional<std::uint16_t> epmd_port{};
  /// Start an embedded EPMD when none answers on the port.
  bool start_epmd{true};

  /// `net_ticktime`: a peer that sends nothing for about this long is down; this node sends a
  /// tick when it has sent nothing for a quarter of it.
  std::chrono::seconds net_ticktime{60};
  /// `net_setuptime`: the most a connection set-up (EPMD, TCP, TLS, handshake) may take.
  std::chrono::milliseconds net_setuptime{7000};
  /// Nodes allowed to connect (`net_kernel:allow/1`); empty = any node with the cookie and a
  /// certificate naming it.
  std::vector<std::string> allowed{};

  /// Cores that run processes and connections; 0 = one per hardware thread.
  unsigned workers{0};
  /// Bytes queued for one peer at most, while its connection is set up too. A peer that does
  /// not take them as fast as this node's processes send has its connection closed (logged;
  /// links and monitors see `noconnection`) rather than memory growing without bound.
  std::size_t send_buffer_limit{std::size_t{64} << 20U};
  /// Messages a mailbox holds at most.
  std::size_t mailbox_limit{100000};
  mailbox_overflow overflow{mailbox_overflow::kill};

  /// Called on node up / down (from a worker thread; keep it short).
  std::function<void(const node_event&)> on_event{};
  /// Where the node logs; null = moat::default_logger().
  std::shared_ptr<spdlog::logger> logger{};
};

/// Counters of a node (monotonic, read racily).
struct node_stats {
  std::uint64_t messages_in{0};
  std::uint64_t messages_out{0};
  std::uint64_t connections_refused{0};
  std::uint64_t mailbox_drops{0};
};

/// A running node. Starts in the constructor, stops in `stop()` or the destructor.
/// Thread-safe: every member may be called from any thread.
class node {
 public:
  /// Checks the options, starts the workers, listens, registers with EPMD.
  /// @throws moat::config_error naming the option and the reason (a bad name, TLS files,
  /// a name already registered, no EPMD and none may be started...).
  explicit node(node_options options);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Closes every connection and ends every process (reason `shutdown`); idempotent.
  void stop();

  /// `name@host`.
  [[nodiscard]] const std::string& name() const noexcept;
  /// The creation EPMD gave this incarnation.
  [[nodiscard]] std::uint32_t creation() const noexcept;
  /// The port the node listens on.
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// Starts a process running `body` on one of the node's cores; returns its pid at once.
  pid spawn(process_body body);
  /// `register(Name, spawn(...))` as one step: the name is taken before the process runs, so
  /// a message to the name sent right after this call reaches it. nullopt if the name is
  /// taken (nothing is started then).
  std::optional<pid> spawn_registered(const std::string& name, process_body body);
  /// Sends from outside any process (the sender is not a pid; replies cannot come back).
  bool send(const destination& to, term message);
  /// The pid registered under `name` on this node.
  [[nodiscard]] std::optional<pid> whereis(const std::string& name) const;
  /// `net_adm:ping(Node)`: connects if needed and asks the peer's net_kernel; true for pong.
  /// Blocks the calling thread (not a worker's) for at most `timeout`.
  [[nodiscard]] bool ping(const std::string& peer,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// `erlang:disconnect_node(Node)`: closes the connection to `peer` (up or being set up);
  /// its links and monitors break with `noconnection` as for any node down, and the next
  /// send to `peer` connects again. false if there was no connection.
  bool disconnect(const std::string& peer);
  /// Connected nodes (visible and hidden).
  [[nodiscard]] std::vector<std::string> nodes() const;
  [[nodiscard]] node_stats stats() const;

  struct impl;  // internal

 private:
  std::shared_ptr<impl> impl_;
};

/// Sets glibc's malloc for a node's traffic, process-wide: with its defaults, a 64 KiB
/// binary received, delivered and dropped is carved from the top of the heap, which is then
/// given back to the system and faulted in again for the next one -- a quarter of the CPU of
/// a bulk receiver. After this call up to `keep` bytes freed at the top of the heap stay, and
/// blocks up to `keep / 2` (at most 32 MiB) come from the heap rather than from a mapping
/// made and unmapped each time. Call it once at start-up, before the threads (the `moat`
/// command does); it changes the allocator for the whole program, which is why a node does
/// not do it itself. The same can be had without code: `GLIBC_TUNABLES=glibc.malloc.
/// trim_threshold=67108864:glibc.malloc.mmap_threshold=33554432`. false (and nothing done)
/// with another C library or allocator, or under a sanitizer.
bool tune_allocator(std::size_t keep = std::size_t{64} << 20U);

}  // namespace moat::dist
