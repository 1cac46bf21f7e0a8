#pragma once
// Character classes of Erlang's text syntax, shared by the reader and the printer (internal).

#include <array>
#include <string_view>

#include "dist/utf8.hpp"

namespace moat::dist::detail {

[[nodiscard]] constexpr bool is_lower(char32_t c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7);
}
[[nodiscard]] constexpr bool is_upper(char32_t c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7);
}
[[nodiscard]] constexpr bool is_digit(char32_t c) noexcept {
  return c >= '0' && c <= '9';
}
/// A character of a bare atom after the first.
[[nodiscard]] constexpr bool is_name_char(char32_t c) noexcept {
  return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '@';
}

/// Erlang's reserved words, which print quoted as atoms.
[[nodiscard]] inline bool is_reserved_word(std::string_view s) noexcept {
  static constexpr std::array<std::string_view, 27> words = {
      "after", "and",  "andalso", "band",   "begin",   "bnot", "bor", "bsl",  "bsr",
      "bxor",  "case", "catch",   "cond",   "div",     "end",  "fun", "if",   "let",
      "not",   "of",   "or",      "orelse", "receive", "rem",  "try", "when", "xor"};
  for (auto w : words) {
    if (w == s) return true;
  }
  return false;
}

/// Whether atom `s` (valid UTF-8) must be quoted to read back as itself.
[[nodiscard]] inline bool atom_needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  std::size_t pos = 0;
  bool first = true;
  while (pos < s.size()) {
    const auto c = utf8_next(s, pos);
    if (!c) return true;
    if (first ? !is_lower(*c) : !is_name_char(*c)) return true;
    first = false;
  }
  return is_reserved_word(s);
}

}  // namespace moat::dist::detail
