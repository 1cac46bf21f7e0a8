#pragma once
/// @file
/// Error codes of the distribution part's node layer (`moat::dist::errc`): names, the
/// distribution handshake, connections and the node runtime. The term codec and the port
/// mapper have their own enums (`term_errc`, `epmd_errc`), one per concern.

#include <system_error>

namespace moat::dist {

/// What went wrong in a node: its configuration, a distribution handshake or a connection.
/// Every value has its own message; values start at 1 so that a default-constructed
/// `std::error_code` means success.
enum class errc {
  /// A node name that is not `name@host` with a name of letters, digits, `_` and `-` and a
  /// non-empty host (configuration, or a peer's name in a handshake).
  invalid_node_name = 1,
  /// A short name (`-sname`) whose host part contains a dot, or a long name (`-name`) whose
  /// host part is neither a fully qualified name nor an IP address.
  name_mode_mismatch,
  /// A handshake packet that is not what the protocol allows at that step (wrong tag, wrong
  /// length, a name that is not a node name).
  handshake_malformed,
  /// The peer lacks capabilities every node since OTP 25 has (version 6, HANDSHAKE_23, big
  /// creations, UTF-8 atoms, maps...).
  peer_too_old,
  /// The node that answered is not the one dialled (its name differs).
  wrong_node,
  /// The cookie digest did not match: the two nodes do not share a cookie.
  bad_cookie,
  /// The peer refused the connection (status `not_allowed`).
  refused_by_peer,
  /// A connection to that node is already up or being set up, and this attempt lost.
  already_connected,
  /// The peer's certificate does not name the host part of the node name it claims.
  identity_mismatch,
  /// The peer is not on this node's allowed list.
  not_allowed,
  /// The peer uses the other name mode (short names against long names).
  peer_name_mode,
  /// The handshake did not finish within the set-up time (net_setuptime).
  setup_timeout,
  /// Nothing came from the peer for the tick time: it is considered down.
  tick_timeout,
  /// A distribution message after the handshake that cannot be decoded or is not one a node
  /// sends; the connection is closed.
  malformed_message,
  /// More bytes were queued for the peer than `send_buffer_limit`: it does not keep up.
  peer_overloaded,
  /// The connection was closed on request (`node::disconnect`, as `disconnect_node/1`).
  disconnected,
};

/// The category of `errc`; its name is "moat.dist".
/// Thread-safety: a function-local static, safe to use from any thread.
[[nodiscard]] const std::error_category& category() noexcept;

/// Wraps `e` in a `std::error_code` of `category()`.
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace moat::dist

/// Lets `moat::dist::errc` convert implicitly to `std::error_code`.
template <>
struct std::is_error_code_enum<moat::dist::errc> : std::true_type {};
