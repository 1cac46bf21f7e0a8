#pragma once
/// @file
/// The external term format (what `term_to_binary/1` and the distribution use): encoding a
/// `term` to bytes and decoding bytes to a term. No I/O; pure functions, safe from any thread.
///
/// Encoding follows OTP 25's `term_to_binary(T, [{minor_version, 2}])` byte for byte (UTF-8
/// atoms, as the distribution sends them), except that maps keep the order of their pairs
/// and funs are re-encoded as decoded. Terms are never compressed.
///
/// Decoding takes every tag a modern node sends, including the old latin-1 atoms, FLOAT_EXT,
/// PID_EXT / PORT_EXT / NEW_REFERENCE_EXT and compressed terms (tag 80, zlib), and refuses
/// anything else with a `term_errc`. It never recurses deeper than `decode_limits::max_depth`
/// and allocates at most in proportion to its input (a length field is checked against the
/// bytes left before anything is allocated).

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "moat/dist/term.hpp"

namespace moat::dist {

/// The version byte that starts every encoded term.
inline constexpr std::uint8_t external_version = 131;

/// Bounds for decoding untrusted bytes.
struct decode_limits {
  /// Nesting depth of tuples, lists, maps and improper tails (the outermost term is depth 1).
  std::size_t max_depth{1000};
  /// Whether compressed terms (tag 80) are accepted.
  bool allow_compressed{true};
  /// The largest size a compressed term may announce (and inflate to); a claim larger than
  /// deflate can reach from the bytes given (1032 times) is refused too.
  std::size_t max_inflated_size{std::size_t{64} << 20U};
};

/// Appends `131` and the encoding of `t` to `out`: one size pass, then at most one
/// reallocation of `out`.
/// @throws std::system_error(term_errc::too_large) for a binary, list, tuple or map of 2^32
/// elements or more.
void encode_to(std::vector<std::uint8_t>& out, const term& t);

/// `131` and the encoding of `t` in a new vector (see encode_to).
[[nodiscard]] std::vector<std::uint8_t> encode(const term& t);

/// The number of bytes `encode(t)` makes, version byte included.
[[nodiscard]] std::size_t encoded_size(const term& t);

/// Decodes exactly one versioned term (`131`, tag, ...) filling all of `bytes` into `out`.
/// On error `out` is unspecified and the code says why (`term_errc`).
[[nodiscard]] std::error_code decode(std::span<const std::uint8_t> bytes, term& out,
                                     const decode_limits& limits = {});

/// Decodes one versioned term from the front of `bytes` into `out` and sets `used` to the
/// number of bytes it took; what follows is left alone (the distribution sends a control
/// term and a payload term back to back).
[[nodiscard]] std::error_code decode_prefix(std::span<const std::uint8_t> bytes, term& out,
                                            std::size_t& used, const decode_limits& limits = {});

/// Terms after a distribution header (`131, 68, ...`) carry no version byte: these encode
/// and decode such a bare term (tag first). Compressed terms do not occur there.
void encode_body_to(std::vector<std::uint8_t>& out, const term& t);
[[nodiscard]] std::error_code decode_body_prefix(std::span<const std::uint8_t> bytes, term& out,
                                                 std::size_t& used,
                                                 const decode_limits& limits = {});

/// `decode`, throwing std::system_error on error.
[[nodiscard]] term decode(std::span<const std::uint8_t> bytes, const decode_limits& limits = {});

}  // namespace moat::dist
