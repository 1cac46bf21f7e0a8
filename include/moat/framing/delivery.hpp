#pragma once
/// @file
/// Delivery modes of a socket (Erlang's `{active, false | true | once | N}`). Framing only
/// defines and parses them; the tls socket implements them.

#include <string>
#include <string_view>

namespace moat::framing {

/// How received frames reach the owner of a socket.
enum class delivery {
  passive,  ///< `{active, false}`: the owner asks for each frame (a read call).
  active,   ///< `{active, true}`: every frame is pushed to the owner as it arrives.
  once,     ///< `{active, once}`: one frame is pushed, then the socket turns passive.
  count,    ///< `{active, N}`: N frames are pushed, then the socket turns passive.
};

/// A delivery mode and, for `delivery::count`, how many frames to push before turning
/// passive (1..32767, as in Erlang). A plain value: copy freely.
struct active_mode {
  /// The largest count Erlang accepts for `{active, N}`.
  static constexpr unsigned max_count = 32767;

  /// The delivery mode; passive by default (the owner reads).
  delivery mode = delivery::passive;
  /// Frames left to push in `delivery::count`; 0 for the other modes.
  unsigned count = 0;

  /// Equal when both the mode and the count are equal.
  friend bool operator==(const active_mode&, const active_mode&) = default;
};

/// The Erlang spelling of `d`: "false", "true", "once" or "count". Out of range: "unknown".
/// Thread-safety: pure; returns a view of a string literal.
[[nodiscard]] std::string_view to_string(delivery d) noexcept;

/// The Erlang spelling of `a`: "false", "true", "once" or the count ("5"), accepted back by
/// `parse_active_mode`.
/// Thread-safety: pure.
[[nodiscard]] std::string to_string(const active_mode& a);

/// Parses an active mode as written in a configuration: "false", "true", "once" or a count
/// N in 1..32767. "0" is accepted and means passive (Erlang turns a socket with
/// `{active, 0}` passive).
/// @throws moat::config_error with subject `active` and code `errc::invalid_active_mode` on
/// anything else (negative, too large, other words); its message lists the valid values.
/// Configuration time only, never on the hot path.
/// Thread-safety: pure.
[[nodiscard]] active_mode parse_active_mode(std::string_view text);

}  // namespace moat::framing
