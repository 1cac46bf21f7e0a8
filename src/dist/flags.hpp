#pragma once
// Distribution capability flags (erl_dist_protocol, "Distribution Flags"), what a moat node
// advertises, and what a peer must have.

#include <cstdint>

namespace moat::dist::detail::flag {

inline constexpr std::uint64_t published = 0x1;
inline constexpr std::uint64_t atom_cache = 0x2;
inline constexpr std::uint64_t extended_references = 0x4;
inline constexpr std::uint64_t dist_monitor = 0x8;
inline constexpr std::uint64_t fun_tags = 0x10;
inline constexpr std::uint64_t dist_monitor_name = 0x20;
inline constexpr std::uint64_t hidden_atom_cache = 0x40;
inline constexpr std::uint64_t new_fun_tags = 0x80;
inline constexpr std::uint64_t extended_pids_ports = 0x100;
inline constexpr std::uint64_t export_ptr_tag = 0x200;
inline constexpr std::uint64_t bit_binaries = 0x400;
inline constexpr std::uint64_t new_floats = 0x800;
inline constexpr std::uint64_t unicode_io = 0x1000;
inline constexpr std::uint64_t dist_hdr_atom_cache = 0x2000;
inline constexpr std::uint64_t small_atom_tags = 0x4000;
inline constexpr std::uint64_t utf8_atoms = 0x10000;
inline constexpr std::uint64_t map_tag = 0x20000;
inline constexpr std::uint64_t big_creation = 0x40000;
inline constexpr std::uint64_t send_sender = 0x80000;
inline constexpr std::uint64_t big_seqtrace_labels = 0x100000;
inline constexpr std::uint64_t exit_payload = 0x400000;
inline constexpr std::uint64_t fragments = 0x800000;
inline constexpr std::uint64_t handshake_23 = 0x1000000;
inline constexpr std::uint64_t unlink_id = 0x2000000;
inline constexpr std::uint64_t mandatory_25_digest = 0x4000000;
inline constexpr std::uint64_t spawn = 1ULL << 32;
inline constexpr std::uint64_t name_me = 1ULL << 33;
inline constexpr std::uint64_t v4_nc = 1ULL << 34;
inline constexpr std::uint64_t alias = 1ULL << 35;

/// What OTP 25 requires of every peer (MANDATORY_DFLAGS_25); a peer may say it has them all
/// with `mandatory_25_digest` alone.
inline constexpr std::uint64_t mandatory_25 =
    extended_references | fun_tags | extended_pids_ports | new_fun_tags | export_ptr_tag |
    bit_binaries | new_floats | utf8_atoms | map_tag | big_creation | handshake_23;

/// What OTP 26 added to the mandatory set; a moat node has them, and does not require them of
/// OTP 25 peers.
inline constexpr std::uint64_t mandatory_26 = v4_nc | unlink_id;

/// Everything a moat node can do: the mandatory sets, monitors (by pid and by name), the
/// sender in sends, exit reasons as payloads, spawn requests (answered, refused with `notsup`),
/// aliases. No atom cache and no fragments: each message goes as one packet with its terms
/// in full.
inline constexpr std::uint64_t moat_capabilities =
    mandatory_25 | mandatory_26 | mandatory_25_digest | dist_monitor | dist_monitor_name |
    unicode_io | small_atom_tags | send_sender | big_seqtrace_labels | exit_payload | spawn | alias;

/// The flags a node advertises: its capabilities, and `published` unless it is hidden.
[[nodiscard]] constexpr std::uint64_t advertised(bool hidden) noexcept {
  return moat_capabilities | (hidden ? 0 : published);
}

/// A peer's flags as they are to be understood: the digest flag stands for the OTP 25 set.
[[nodiscard]] constexpr std::uint64_t expand(std::uint64_t peer) noexcept {
  return (peer & mandatory_25_digest) != 0 ? (peer | mandatory_25) : peer;
}

}  // namespace moat::dist::detail::flag
