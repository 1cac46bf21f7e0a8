#pragma once
// UTF-8 helpers shared by the term type, the codec and the text syntax (internal).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moat::dist::detail {

/// Decodes the code point at `s[pos]`, advancing `pos`; nullopt for an invalid sequence
/// (truncated, overlong, surrogate, above U+10FFFF).
[[nodiscard]] inline std::optional<char32_t> utf8_next(std::string_view s, std::size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80U) {
    ++pos;
    return b0;
  }
  std::size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0U) == 0xC0U) {
    n = 1;
    cp = b0 & 0x1FU;
    min = 0x80;
  } else if ((b0 & 0xF0U) == 0xE0U) {
    n = 2;
    cp = b0 & 0x0FU;
    min = 0x800;
  } else if ((b0 & 0xF8U) == 0xF0U) {
    n = 3;
    cp = b0 & 0x07U;
    min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (s.size() - pos <= n) return std::nullopt;
  for (std::size_t i = 1; i <= n; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0U) != 0x80U) return std::nullopt;
    cp = (cp << 6U) | (b & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  pos += n + 1;
  return cp;
}

/// The number of code points of `s`, nullopt if it is not valid UTF-8.
[[nodiscard]] inline std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t pos = 0;
  std::size_t count = 0;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80U) {
      ++pos;
    } else if (!utf8_next(s, pos)) {
      return std::nullopt;
    }
    ++count;
  }
  return count;
}

/// Whether `cp` is a Unicode scalar value (what UTF-8 can encode).
[[nodiscard]] constexpr bool is_scalar(std::int64_t cp) noexcept {
  return cp >= 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

/// Appends `cp` (a scalar value) as UTF-8.
inline void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0U | (cp >> 6U)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0U | (cp >> 12U)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else {
    out.push_back(static_cast<char>(0xF0U | (cp >> 18U)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 12U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  }
}

}  // namespace moat::dist::detail
