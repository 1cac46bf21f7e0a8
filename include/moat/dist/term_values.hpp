#pragma once
/// @file
/// The plain values a `moat::dist::term` can hold besides numbers and containers: atoms,
/// big integers, binaries and bitstrings, pids, ports, references, funs and exports. Value
/// types (deep copies, cheap moves) and safe to read from several threads; atoms are
/// interned in a process-wide table (see `atom`).
/// term.hpp includes this header.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moat/dist/term_errors.hpp"

namespace moat::dist {

namespace detail {
/// An interned atom name (see `atom`); entries live as long as the process.
struct atom_entry {
  std::string name;
  std::size_t hash;
};
/// The empty atom `''`, which every empty name maps to.
[[nodiscard]] inline const atom_entry* empty_atom_entry() noexcept {
  static const atom_entry e{};
  return &e;
}
}  // namespace detail

/// An atom: its name as UTF-8, at most 255 characters (code points).
///
/// Atoms are interned, as in Erlang: every atom with the same name shares one entry in a
/// process-wide table, so an atom is one pointer, copied, compared and hashed without looking
/// at its name. Entries are never freed; the table has limits (`atom_limits`) so that a peer
/// sending ever new atoms cannot take all memory: past them, making a new atom fails with
/// `term_errc::too_many_atoms` (decoding returns it; the constructors throw it). Thread-safe.
class atom {
 public:
  /// The empty atom `''`.
  atom() noexcept = default;
  /// @throws std::system_error with `term_errc::invalid_utf8`, `term_errc::atom_too_long` or
  /// `term_errc::too_many_atoms`.
  explicit atom(const char* name) : atom(std::string_view(name)) {}
  explicit atom(std::string_view name);
  explicit atom(const std::string& name) : atom(std::string_view(name)) {}
  /// An atom from a name the caller has already checked (valid UTF-8, at most 255 code
  /// points); for decoders. Using it with anything else breaks encoding.
  /// @throws std::system_error(term_errc::too_many_atoms) when the table is full.
  [[nodiscard]] static atom from_checked(std::string_view name);
  /// The same without throwing for a full table: false (and `out` unchanged) then. (Out of
  /// memory, std::bad_alloc, as everywhere.)
  [[nodiscard]] static bool try_from_checked(std::string_view name, atom& out);
  /// An atom this thread made or looked up recently, by name, without checking the name
  /// (every atom in the table is valid): true and `out` set if found; false otherwise, and
  /// then the name may still be an atom, or not valid at all. For decoders, before checking.
  [[nodiscard]] static bool try_recent(std::string_view name, atom& out) noexcept;

  [[nodiscard]] const std::string& name() const noexcept { return e_->name; }
  /// A hash of the name, computed once when the atom was first made.
  [[nodiscard]] std::size_t hash() const noexcept { return e_->hash; }
  friend bool operator==(const atom& a, const atom& b) noexcept { return a.e_ == b.e_; }
  friend bool operator==(const atom& a, std::string_view s) noexcept { return a.e_->name == s; }
  friend bool operator==(const atom& a, const char* s) noexcept { return a.e_->name == s; }
  /// Erlang's atom order: by code points, which is the byte order of UTF-8.
  friend std::strong_ordering operator<=>(const atom& a, const atom& b) noexcept {
    if (a.e_ == b.e_) return std::strong_ordering::equal;
    return a.e_->name.compare(b.e_->name) <=> 0;
  }

 private:
  explicit atom(const detail::atom_entry* e) noexcept : e_(e) {}
  const detail::atom_entry* e_{detail::empty_atom_entry()};
};

/// The limits of the atom table (see `atom`), process-wide. Erlang's default atom limit is
/// 1,048,576 (`+t`).
struct atom_limits {
  /// Distinct atoms.
  std::size_t max_atoms{std::size_t{1} << 20U};
  /// Bytes of atom names in all.
  std::size_t max_bytes{std::size_t{64} << 20U};
};
/// Sets the limits for atoms made from now on (atoms already made stay).
void set_atom_limits(const atom_limits& limits) noexcept;
/// The limits in force.
[[nodiscard]] atom_limits current_atom_limits() noexcept;
/// How many distinct atoms exist, and the bytes of their names.
struct atom_usage {
  std::size_t atoms{};
  std::size_t bytes{};
};
[[nodiscard]] atom_usage current_atom_usage() noexcept;

/// An integer outside the int64 range: sign and magnitude (little-endian bytes, no trailing
/// zero byte). A term built from a big_integer that fits in int64 holds an int64 instead, so
/// each integer has one form.
struct big_integer {
  bool negative{};
  std::vector<std::uint8_t> magnitude{};
  friend bool operator==(const big_integer&, const big_integer&) = default;
};

/// A binary: a whole number of bytes.
struct binary {
  std::vector<std::uint8_t> bytes{};
  binary() = default;
  explicit binary(std::string_view s)
      : bytes(reinterpret_cast<const std::uint8_t*>(s.data()),
              reinterpret_cast<const std::uint8_t*>(s.data()) + s.size()) {}
  explicit binary(const char* s) : binary(std::string_view(s)) {}
  explicit binary(std::vector<std::uint8_t> b) noexcept : bytes(std::move(b)) {}
  explicit binary(std::span<const std::uint8_t> b) : bytes(b.begin(), b.end()) {}
  /// The bytes as characters (no copy; valid while the binary lives).
  [[nodiscard]] std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  [[nodiscard]] std::size_t size() const noexcept { return bytes.size(); }
  friend bool operator==(const binary&, const binary&) = default;
};

/// A bitstring whose length is not a whole number of bytes: `bytes`, of which the last has
/// only its `bits` high bits used (1..7; the unused low bits are kept zero).
class bitstring {
 public:
  /// @throws std::system_error(term_errc::invalid_field) if `bytes` is empty or `bits` is not
  /// in 1..8 (8: a whole last byte; a term built from it holds a `binary`).
  bitstring(std::vector<std::uint8_t> bytes, unsigned bits);
  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }
  /// Bits used in the last byte.
  [[nodiscard]] unsigned bits() const noexcept { return bits_; }
  [[nodiscard]] std::size_t bit_size() const noexcept { return (bytes_.size() - 1) * 8 + bits_; }
  friend bool operator==(const bitstring&, const bitstring&) = default;

 private:
  std::vector<std::uint8_t> bytes_;
  unsigned bits_;
};

/// A process identifier (NEW_PID_EXT).
struct pid {
  atom node{};
  std::uint32_t id{};
  std::uint32_t serial{};
  std::uint32_t creation{};
  friend bool operator==(const pid&, const pid&) = default;
  /// By node, id, serial, creation (usable as a std::map key).
  friend auto operator<=>(const pid&, const pid&) = default;
};

/// A port identifier (NEW_PORT_EXT, V4_PORT_EXT for ids past 32 bits).
struct port {
  atom node{};
  std::uint64_t id{};
  std::uint32_t creation{};
  friend bool operator==(const port&, const port&) = default;
  friend auto operator<=>(const port&, const port&) = default;
};

/// A reference (NEWER_REFERENCE_EXT): node, creation and 1..5 id words.
class reference {
 public:
  /// @throws std::system_error(term_errc::invalid_field) unless 1 <= ids.size() <= 5.
  reference(atom node, std::uint32_t creation, std::span<const std::uint32_t> ids);
  [[nodiscard]] const atom& node() const noexcept { return node_; }
  [[nodiscard]] std::uint32_t creation() const noexcept { return creation_; }
  [[nodiscard]] std::span<const std::uint32_t> ids() const noexcept { return {ids_.data(), n_}; }
  friend bool operator==(const reference& a, const reference& b) noexcept {
    return a.node_ == b.node_ && a.creation_ == b.creation_ && a.n_ == b.n_ && a.ids_ == b.ids_;
  }
  /// By node, creation, then the ids (usable as a std::map key).
  friend std::strong_ordering operator<=>(const reference& a, const reference& b) noexcept {
    if (auto c = a.node_ <=> b.node_; c != 0) return c;
    if (auto c = a.creation_ <=> b.creation_; c != 0) return c;
    if (auto c = a.n_ <=> b.n_; c != 0) return c;
    return a.ids_ <=> b.ids_;
  }

 private:
  atom node_;
  std::uint32_t creation_;
  std::array<std::uint32_t, 5> ids_{};
  std::size_t n_;
};

/// A fun made by a node (NEW_FUN_EXT), kept opaque: its encoding, tag byte included, is
/// re-encoded unchanged. Only a node running the same code can call it.
class fun {
 public:
  /// @throws std::system_error(term_errc::invalid_field) unless `encoded` starts with tag
  /// 112 and a size field that matches its length (at least the fixed fields).
  explicit fun(std::vector<std::uint8_t> encoded);
  [[nodiscard]] const std::vector<std::uint8_t>& encoded() const noexcept { return bytes_; }
  [[nodiscard]] unsigned arity() const noexcept { return bytes_[5]; }
  friend bool operator==(const fun&, const fun&) = default;

 private:
  std::vector<std::uint8_t> bytes_;
};

/// `fun Module:Function/Arity` (EXPORT_EXT).
struct export_fun {
  atom module{};
  atom function{};
  std::uint8_t arity{};
  friend bool operator==(const export_fun&, const export_fun&) = default;
  friend auto operator<=>(const export_fun&, const export_fun&) = default;
};

}  // namespace moat::dist

/// Hashes, so atoms, pids, ports and references can key unordered containers.
template <>
struct std::hash<moat::dist::atom> {
  std::size_t operator()(const moat::dist::atom& a) const noexcept { return a.hash(); }
};
template <>
struct std::hash<moat::dist::pid> {
  std::size_t operator()(const moat::dist::pid& p) const noexcept {
    std::size_t h = std::hash<moat::dist::atom>{}(p.node);
    for (std::uint64_t v :
         {std::uint64_t{p.id}, std::uint64_t{p.serial}, std::uint64_t{p.creation}}) {
      h = (h ^ std::hash<std::uint64_t>{}(v)) * 0x100000001b3ULL;
    }
    return h;
  }
};
template <>
struct std::hash<moat::dist::port> {
  std::size_t operator()(const moat::dist::port& p) const noexcept {
    std::size_t h = std::hash<moat::dist::atom>{}(p.node);
    for (std::uint64_t v : {p.id, std::uint64_t{p.creation}}) {
      h = (h ^ std::hash<std::uint64_t>{}(v)) * 0x100000001b3ULL;
    }
    return h;
  }
};
template <>
struct std::hash<moat::dist::reference> {
  std::size_t operator()(const moat::dist::reference& r) const noexcept {
    std::size_t h = std::hash<moat::dist::atom>{}(r.node()) ^ r.creation();
    for (std::uint32_t v : r.ids()) h = (h ^ std::hash<std::uint32_t>{}(v)) * 0x100000001b3ULL;
    return h;
  }
};
