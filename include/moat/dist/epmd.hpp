#pragma once
/// @file
/// The Erlang port mapper (EPMD) client: register a node's name and listening port with the
/// EPMD of this host (`register_node`), ask a host's EPMD for a node's port
/// (`port_please`) and list the names it knows (`names`). Speaks the protocol of the real
/// `epmd` (OTP 23 and later: distribution version 6, 32-bit creations) and of moat's embedded
/// one (moat/dist/epmd_server.hpp). Every operation has a timeout and fails with an
/// `epmd_error` naming the EPMD's host and port.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace moat::dist {

/// What went wrong talking to EPMD. Values start at 1 (a default `std::error_code` is success).
enum class epmd_errc {
  not_running = 1,   ///< connection refused: no EPMD listens on that host and port
  unreachable,       ///< the connection failed otherwise (see the error's detail)
  host_not_found,    ///< the host name did not resolve
  timeout,           ///< no complete answer within the timeout
  name_taken,        ///< ALIVE2 refused (result != 0): the name is registered already
  not_registered,    ///< PORT2 says no node of that name is registered (result != 0)
  malformed_reply,   ///< the reply is not what the protocol says
  no_reply,          ///< EPMD closed without replying (how epmd refuses non-local ALIVE2)
  protocol_too_old,  ///< the node's highest distribution version is below what we need
  invalid_name,      ///< not a name EPMD takes: 1 to 255 UTF-8 characters, no NUL
  invalid_port,      ///< ERL_EPMD_PORT (or a given port) is not a number from 1 to 65535
  connection_lost,   ///< the registration's connection closed: the name is unregistered
  unregistered,      ///< the registration was closed on our side (`registration::close`)
  not_epmd,          ///< something answers on the port, but not as EPMD does
};

/// The category of `epmd_errc`; its name is "moat.dist.epmd". Thread-safe.
[[nodiscard]] const std::error_category& epmd_category() noexcept;

/// Wraps `e` in a `std::error_code` of `epmd_category()`.
[[nodiscard]] inline std::error_code make_error_code(epmd_errc e) noexcept {
  return {static_cast<int>(e), epmd_category()};
}

/// An EPMD operation's failure: the code (an `epmd_errc`, or a system error for a server
/// that cannot bind), which EPMD (host and port) and, when there is more to say, a detail.
/// Value type.
struct epmd_error {
  std::error_code code{};
  std::string host{};
  std::uint16_t port = 0;
  std::string detail{};
  /// "EPMD at <host>:<port>: <code's message>[: <detail>]".
  [[nodiscard]] std::string message() const;
};

/// Thrown by `epmd_result<T>::value()` on failure.
class epmd_exception : public std::runtime_error {
 public:
  explicit epmd_exception(epmd_error e) : std::runtime_error(e.message()), error_(std::move(e)) {}
  [[nodiscard]] const epmd_error& error() const noexcept { return error_; }

 private:
  epmd_error error_;
};

/// A value or why EPMD could not give it.
template <class T>
using epmd_result = boost::system::result<T, epmd_error>;

/// For boost::system::result: throws `epmd_exception`.
[[noreturn]] void throw_exception_from_error(const epmd_error& e,
                                             const boost::source_location& loc);

/// EPMD's well-known port.
inline constexpr std::uint16_t default_epmd_port = 4369;

/// A port number as Erlang reads ERL_EPMD_PORT / `-epmd_port`: decimal digits making 1..65535
/// (no sign, no spaces); nullopt otherwise.
[[nodiscard]] std::optional<std::uint16_t> parse_epmd_port(std::string_view text);

/// The EPMD port, as Erlang chooses it: `given` if set (Erlang's `-epmd_port`), else the
/// environment variable ERL_EPMD_PORT if set, else 4369.
/// @throws moat::config_error naming ERL_EPMD_PORT when it is set but not a port: Erlang then
/// fails to register the node (`list_to_integer` badarg), and guessing 4369 instead could
/// register with the wrong EPMD.
[[nodiscard]] std::uint16_t epmd_port(std::optional<std::uint16_t> given = std::nullopt);

/// Node types in ALIVE2 / PORT2.
inline constexpr std::uint8_t node_type_normal = 77;
inline constexpr std::uint8_t node_type_hidden = 72;
/// The only protocol value in use: "TCP/IPv4", which Erlang also registers for IPv6 and TLS.
inline constexpr std::uint8_t protocol_tcp = 0;

/// What EPMD knows of a registered node (PORT2_RESP). Value type.
struct epmd_node {
  std::string name{};      ///< the name part of name@host
  std::uint16_t port = 0;  ///< its distribution listening port
  std::uint8_t node_type = node_type_normal;
  std::uint8_t protocol = protocol_tcp;
  std::uint16_t highest_version = 0;
  std::uint16_t lowest_version = 0;
  std::string extra{};
  [[nodiscard]] bool hidden() const noexcept { return node_type == node_type_hidden; }
  friend bool operator==(const epmd_node&, const epmd_node&) = default;
};

/// One line of EPMD's names list. Value type.
struct epmd_name {
  std::string name{};
  std::uint16_t port = 0;
  friend bool operator==(const epmd_name&, const epmd_name&) = default;
};

/// How long an EPMD operation may take by default (connect and reply).
inline constexpr std::chrono::milliseconds default_epmd_timeout{5000};

/// Options of `register_node`.
struct register_options {
  bool hidden = false;  ///< register as a hidden node (type 72)
  std::uint8_t protocol = protocol_tcp;
  std::uint16_t lowest_version = 6;
  std::uint16_t highest_version = 6;
  std::string extra{};                       ///< up to 1020 bytes
  std::optional<std::uint16_t> epmd_port{};  ///< default: epmd_port()
  /// The EPMD to register with. epmd takes registrations from this host only.
  std::string host = "127.0.0.1";
  std::chrono::milliseconds timeout = default_epmd_timeout;
};

/// Options of `port_please` and `names`.
struct query_options {
  std::optional<std::uint16_t> epmd_port{};  ///< default: epmd_port()
  std::chrono::milliseconds timeout = default_epmd_timeout;
  /// port_please: a node whose highest version is below this fails with protocol_too_old.
  std::uint16_t lowest_version = 6;
};

/// A name registered with EPMD. EPMD keeps the name while this object's connection is open:
/// destroying or closing it unregisters the name. Move-only. Not thread-safe: use it from its
/// executor's thread.
class registration {
 public:
  registration() = default;  ///< an empty registration (open() is false)
  registration(registration&&) noexcept;
  registration& operator=(registration&&) noexcept;
  ~registration();

  [[nodiscard]] bool open() const noexcept;
  /// The creation EPMD gave (32 bits from an OTP 23+ epmd, 1..3 from an older one); a node
  /// stamps its pids, ports and references with it.
  [[nodiscard]] std::uint32_t creation() const noexcept;
  /// The registered name.
  [[nodiscard]] const std::string& name() const noexcept;
  /// The EPMD's host and port, "host:port".
  [[nodiscard]] std::string epmd() const;
  /// Closes the connection: EPMD drops the name. A pending wait_lost() completes with
  /// epmd_errc::unregistered. Idempotent.
  void close() noexcept;
  /// Completes when the registration ends: epmd_errc::connection_lost when EPMD closed the
  /// connection (it stopped or was killed: the name is gone and the node should log that and
  /// register again), epmd_errc::unregistered after close() (or at once if not open). One
  /// wait at a time.
  [[nodiscard]] boost::asio::awaitable<std::error_code> wait_lost();

  struct state;  ///< internal: the connection and what EPMD answered
  /// Internal: made by register_node().
  explicit registration(std::shared_ptr<state> s) noexcept;

 private:
  std::shared_ptr<state> state_;
};

/// Registers `name` (the part before `@`) with `listen_port` (ALIVE2_REQ). Fails with
/// invalid_name, name_taken (the name is registered already), no_reply (EPMD refused a
/// non-local registration), not_running, timeout, malformed_reply, ...
/// The result's connection lives on `ex`.
[[nodiscard]] boost::asio::awaitable<epmd_result<registration>> register_node(
    boost::asio::any_io_executor ex, std::string name, std::uint16_t listen_port,
    register_options options = {});

/// Asks the EPMD on `host` (a name, an IPv4 or an IPv6 address) for `name`'s port
/// (PORT_PLEASE2_REQ). Fails with not_registered, protocol_too_old (the node's highest
/// version is below options.lowest_version), invalid_name, not_running, host_not_found,
/// timeout, malformed_reply, ...
[[nodiscard]] boost::asio::awaitable<epmd_result<epmd_node>> port_please(
    boost::asio::any_io_executor ex, std::string host, std::string name,
    query_options options = {});

/// The names registered with the EPMD on `host`, in EPMD's order (NAMES_REQ), as
/// `net_adm:names/1` lists them.
[[nodiscard]] boost::asio::awaitable<epmd_result<std::vector<epmd_name>>> names(
    boost::asio::any_io_executor ex, std::string host, query_options options = {});

}  // namespace moat::dist

/// Lets `moat::dist::epmd_errc` convert implicitly to `std::error_code`.
template <>
struct std::is_error_code_enum<moat::dist::epmd_errc> : std::true_type {};
