#pragma once
/// @file
/// An embedded port mapper that real Erlang nodes and tools take for `epmd`: it answers
/// ALIVE2_REQ (registration, kept while its connection is open), PORT_PLEASE2_REQ, NAMES_REQ,
/// DUMP_REQ, KILL_REQ and STOP_REQ as OTP's epmd does, on the EPMD port, on the IPv4 and IPv6
/// any-addresses (or loopback only).
///
/// Caveat: an embedded EPMD lives as long as the process that started it. When that process
/// ends, every node registered with it loses its registration (its `registration::wait_lost()`
/// completes with `epmd_errc::connection_lost`) and should register again, with a real epmd
/// or another embedded one (`start_if_none` starts one when none answers).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "moat/dist/epmd.hpp"

namespace spdlog {
class logger;
}

namespace moat::dist {

/// Options of the embedded EPMD.
struct epmd_server_options {
  /// The port; none = epmd_port() (ERL_EPMD_PORT or 4369); 0 = a free port (see port()).
  std::optional<std::uint16_t> port{};
  /// Listen on 127.0.0.1 and ::1 only, instead of every address.
  bool loopback_only = false;
  /// As `epmd -relaxed_command_check`: KILL_REQ stops the server even with registered nodes,
  /// and STOP_REQ unregisters a name. Off: KILL_REQ answers "NO" while nodes are registered
  /// and STOP_REQ is ignored.
  bool relaxed_command_check = false;
  /// Take ALIVE2_REQ from any peer. Off (as epmd): only from a loopback address or from this
  /// host's own address (the connection's local address); others are closed unanswered.
  bool allow_remote_registration = false;
  /// Connections at once, registrations included; beyond, new ones are closed at once.
  std::size_t max_connections = 1024;
  /// How long a connection may take to send its request.
  std::chrono::milliseconds request_timeout{10000};
  /// Where refusals and malformed requests are logged (rate-limited); default
  /// moat::default_logger().
  std::shared_ptr<spdlog::logger> logger{};
};

/// A running embedded EPMD. Move-only; destroying it stops it. Its member functions other
/// than port() and names() are called from its executor's thread (or while the executor's
/// io_context does not run).
class epmd_server {
 public:
  /// Binds and starts serving on `ex`. Fails with the bind's system error (e.g.
  /// address_in_use when an EPMD already runs on the port) or epmd_errc::invalid_port for a
  /// bad ERL_EPMD_PORT.
  [[nodiscard]] static epmd_result<epmd_server> start(boost::asio::any_io_executor ex,
                                                      epmd_server_options options = {});

  epmd_server(epmd_server&&) noexcept;
  epmd_server& operator=(epmd_server&&) noexcept;
  ~epmd_server();

  /// The port it listens on. Thread-safe.
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Whether it still serves (KILL_REQ and stop() end it).
  [[nodiscard]] bool running() const noexcept;
  /// The registered names, as NAMES_REQ lists them. Thread-safe.
  [[nodiscard]] std::vector<epmd_name> names() const;
  /// Stops listening and closes every connection: registered nodes lose their names.
  /// Idempotent.
  void stop() noexcept;

  struct impl;  ///< internal

 private:
  explicit epmd_server(std::shared_ptr<impl> i) noexcept;
  std::shared_ptr<impl> impl_;
};

/// Makes sure an EPMD serves on this host: asks 127.0.0.1 on the EPMD port (options.port,
/// else epmd_port()) for its names. If an EPMD answers, uses it: the result holds no server.
/// If the connection is refused, starts the embedded one and returns it (keep it alive as
/// long as nodes need it). Fails with not_epmd when something else answers on the port, or
/// with the probe's or the bind's error.
[[nodiscard]] boost::asio::awaitable<epmd_result<std::optional<epmd_server>>> start_if_none(
    boost::asio::any_io_executor ex, epmd_server_options options = {});

}  // namespace moat::dist
