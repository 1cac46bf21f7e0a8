#pragma once
/// @file
/// Packet modes (Erlang's `{packet, N}`) and the options shared by the decoder and encoder.

#include <cstddef>
#include <limits>
#include <string_view>

namespace moat::framing {

/// How a byte stream is cut into messages.
enum class packet_mode {
  raw,   ///< No framing: every chunk of bytes as it comes (Erlang `{packet, 0}` / `raw`).
  u8,    ///< A 1-byte big-endian unsigned length, then that many bytes (`{packet, 1}`).
  u16,   ///< A 2-byte big-endian unsigned length, then that many bytes (`{packet, 2}`).
  u32,   ///< A 4-byte big-endian unsigned length, then that many bytes (`{packet, 4}`).
  line,  ///< A message ends with '\n', which is part of the message (`{packet, line}`).
};

/// The Erlang spelling of `m`: "raw", "1", "2", "4" or "line" (accepted back by
/// `parse_packet_mode`). An out-of-range value gives "unknown".
/// Thread-safety: pure; returns a view of a string literal.
[[nodiscard]] std::string_view to_string(packet_mode m) noexcept;

/// Parses a packet mode as written in a configuration: "raw", "0", "1", "2", "4", "line"
/// (and the synonyms "u8", "u16", "u32").
/// @throws moat::config_error with subject `packet` and code `errc::invalid_mode` on anything
/// else; its message lists the valid values. Configuration time only, never on the hot path.
/// Thread-safety: pure.
[[nodiscard]] packet_mode parse_packet_mode(std::string_view text);

/// The size of the length prefix of `m`: 0 for raw and line, else 1, 2 or 4.
/// Thread-safety: pure.
[[nodiscard]] constexpr std::size_t header_size(packet_mode m) noexcept {
  switch (m) {
    case packet_mode::u8:
      return 1;
    case packet_mode::u16:
      return 2;
    case packet_mode::u32:
      return 4;
    default:
      return 0;
  }
}

/// The largest length the prefix of `m` can express (255, 65535, 4294967295), or "no limit"
/// (`SIZE_MAX`) for raw and line.
/// Thread-safety: pure.
[[nodiscard]] constexpr std::size_t max_prefix_length(packet_mode m) noexcept {
  switch (m) {
    case packet_mode::u8:
      return 0xffU;
    case packet_mode::u16:
      return 0xffffU;
    case packet_mode::u32:
      return 0xffff'ffffU;
    default:
      return std::numeric_limits<std::size_t>::max();
  }
}

/// Options of a decoder or encoder (Erlang's `packet` and `packet_size`).
/// A plain value: copy freely.
struct options {
  /// A `max_packet_size` meaning "no limit at all". Memory is then bounded only by what the
  /// peer declares (up to 4 GiB in u32 mode): use with care, and only for trusted peers.
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();
  /// The default limit of the length-prefixed modes: 64 MiB.
  static constexpr std::size_t default_max_frame = std::size_t{64} * 1024 * 1024;
  /// The default limit of line mode: 64 KiB per line, the '\n' included.
  static constexpr std::size_t default_max_line = std::size_t{64} * 1024;

  /// How the stream is cut into messages.
  packet_mode mode = packet_mode::raw;
  /// The largest message accepted: for the length-prefixed modes the payload length (the
  /// header not counted), for line mode the line length with its '\n'. Raw mode has no
  /// messages to limit and ignores it. 0 means the mode's default (64 MiB, or 64 KiB for line
  /// mode), so that memory stays bounded by default; `unlimited` disables the check.
  std::size_t max_packet_size = 0;
};

/// The limit actually enforced for `o`: the mode's default when `o.max_packet_size` is 0,
/// `options::unlimited` for raw mode, and never more than the prefix can express.
/// Thread-safety: pure.
[[nodiscard]] constexpr std::size_t effective_max_packet_size(const options& o) noexcept {
  switch (o.mode) {
    case packet_mode::raw:
      return options::unlimited;
    case packet_mode::line:
      return o.max_packet_size == 0 ? options::default_max_line : o.max_packet_size;
    default: {
      const std::size_t limit =
          o.max_packet_size == 0 ? options::default_max_frame : o.max_packet_size;
      const std::size_t prefix = max_prefix_length(o.mode);
      return limit < prefix ? limit : prefix;
    }
  }
}

}  // namespace moat::framing
