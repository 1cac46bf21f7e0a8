#pragma once
/// @file
/// Error codes of the term codec and the term text syntax (`moat::dist::term_errc`), category
/// "moat.dist.term".

#include <system_error>

namespace moat::dist {

/// What is wrong with a term's bytes or a term that cannot be built. Every value has its own
/// message; values start at 1 so that a default-constructed `std::error_code` means success.
enum class term_errc {
  /// The bytes end inside a term (a length field or the data it announces is cut off).
  truncated = 1,
  /// The first byte is not 131, the external term format's version.
  bad_version,
  /// A tag byte that is not a term (or a tag moat does not decode, such as the old FUN_EXT).
  unknown_tag,
  /// LOCAL_EXT (tag 121): a node-local term, only meaningful on the node that made it.
  local_term,
  /// ATOM_CACHE_REF (tag 82) outside a distribution header: moat does not use atom caches.
  atom_cache_ref,
  /// An atom longer than 255 characters.
  atom_too_long,
  /// An atom, or text that should be UTF-8, that is not valid UTF-8.
  invalid_utf8,
  /// Terms nested deeper than `decode_limits::max_depth` (or the text parser's limit).
  too_deep,
  /// A length field claiming more elements or bytes than the input holds, or an inflated
  /// (compressed) term larger than `decode_limits::max_inflated_size`.
  too_large,
  /// Bytes left after a complete term (`decode` wants exactly one term).
  trailing_bytes,
  /// A float that is NaN or infinite (Erlang has neither), or an unreadable FLOAT_EXT string.
  invalid_float,
  /// A field out of its range: bits of a BIT_BINARY not in 1..8, a reference of 0 or more
  /// than 5 id words, a big integer's sign byte not 0 or 1, an EXPORT_EXT arity that is not a
  /// small integer, a pid/port/reference node that is not an atom, a NEW_FUN_EXT whose size
  /// field does not fit.
  invalid_field,
  /// A map with the same key twice.
  duplicate_map_key,
  /// A compressed term (tag 80) whose zlib data is broken or does not inflate to the size
  /// it announces, or compressed terms are turned off (`decode_limits::allow_compressed`).
  bad_compression,
  /// `term::as<T>()` on a term that is not a T (or does not fit in it).
  wrong_type,
  /// A new atom past the atom table's limits (`atom_limits`).
  too_many_atoms,
};

/// The category of `term_errc`; its name is "moat.dist.term".
/// Thread-safety: a function-local static, safe to use from any thread.
[[nodiscard]] const std::error_category& term_category() noexcept;

/// Wraps `e` in a `std::error_code` of `term_category()`.
[[nodiscard]] inline std::error_code make_error_code(term_errc e) noexcept {
  return {static_cast<int>(e), term_category()};
}

}  // namespace moat::dist

/// Lets `moat::dist::term_errc` convert implicitly to `std::error_code`.
template <>
struct std::is_error_code_enum<moat::dist::term_errc> : std::true_type {};
