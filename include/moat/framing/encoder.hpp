#pragma once
/// @file
/// The framing encoder: builds frames (header + payload) for a packet mode. Does no I/O.

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "moat/framing/errors.hpp"
#include "moat/framing/packet_mode.hpp"

namespace moat::framing {

/// The largest header of any mode (u32), for stack buffers given to `write_header`.
inline constexpr std::size_t max_header_size = 4;

/// Checks that a payload of `len` bytes can be sent under `o`: it must fit the prefix and
/// `effective_max_packet_size(o)`. Returns `errc::payload_too_large_for_prefix` otherwise.
/// Thread-safety: pure.
[[nodiscard]] std::error_code check_payload_size(const options& o, std::size_t len) noexcept;

/// Writes the header for a payload of `len` bytes into the first `header_size(o.mode)` bytes
/// of `out` (nothing for raw and line), so a socket can gather-write header and payload
/// without copying the payload.
/// @return `errc::payload_too_large_for_prefix` (see `check_payload_size`) or
/// `errc::buffer_too_small` (`out` shorter than the header); `out` is then untouched.
/// Thread-safety: pure; writes only to `out`.
[[nodiscard]] std::error_code write_header(const options& o, std::size_t len,
                                           std::span<std::uint8_t> out) noexcept;

/// `write_header` with the default limit of `mode`.
[[nodiscard]] std::error_code write_header(packet_mode mode, std::size_t len,
                                           std::span<std::uint8_t> out) noexcept;

/// Appends header + payload to `out` (raw and line: the payload as is; in line mode the
/// caller supplies the '\n'). On error `out` is unchanged.
/// @return `errc::payload_too_large_for_prefix` if the payload does not fit the prefix or
/// exceeds `effective_max_packet_size(o)`.
/// Thread-safety: pure; writes only to `out`. May allocate (grows `out`).
[[nodiscard]] std::error_code encode(const options& o, std::span<const std::uint8_t> payload,
                                     std::vector<std::uint8_t>& out);

/// `encode` with the default limit of `mode` (64 MiB, 64 KiB for line mode), i.e. what a
/// default-configured moat peer accepts.
[[nodiscard]] std::error_code encode(packet_mode mode, std::span<const std::uint8_t> payload,
                                     std::vector<std::uint8_t>& out);

/// The encoding half of a connection's framing: `options` bound to the free functions above.
/// Thread-safety: immutable after construction; const members may be called concurrently.
class encoder {
 public:
  /// An encoder for `o` (by default raw mode).
  explicit encoder(options o = {}) noexcept : opts_(o) {}

  /// See the free `encode`.
  [[nodiscard]] std::error_code encode(std::span<const std::uint8_t> payload,
                                       std::vector<std::uint8_t>& out) const {
    return framing::encode(opts_, payload, out);
  }

  /// See the free `write_header`.
  [[nodiscard]] std::error_code write_header(std::size_t len,
                                             std::span<std::uint8_t> out) const noexcept {
    return framing::write_header(opts_, len, out);
  }

  /// The header size of the mode: 0, 1, 2 or 4.
  [[nodiscard]] std::size_t header_size() const noexcept {
    return framing::header_size(opts_.mode);
  }

  /// The options given to the constructor.
  [[nodiscard]] const options& opts() const noexcept { return opts_; }

 private:
  options opts_;
};

}  // namespace moat::framing
