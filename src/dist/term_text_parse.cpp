// Reading Erlang's text syntax: the scalar rules (atoms, numbers, strings, escapes, the
// printed forms of pids, ports, references and funs, exports).
#include <charconv>
#include <cmath>
#include <map>
#include <system_error>

#include "dist/term_text_common.hpp"
#include "dist/term_text_parser.hpp"
#include "moat/dist/term_text.hpp"

namespace moat::dist::detail {

namespace {

constexpr std::size_t max_digits = 4000;

term make_integer(const std::string& ds, int base, bool negative);

}  // namespace

atom parser::make_atom(std::string name, std::size_t start) const {
  try {
    return atom(std::move(name));
  } catch (const std::system_error& e) {
    fail_at(start, e.code() == term_errc::atom_too_long ? "an atom longer than 255 characters"
                                                        : "an atom that is not valid UTF-8");
  }
}

char32_t parser::escape() {
  if (at_end()) fail("unterminated escape");
  const char c = s_[pos_];
  auto hex_value = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  switch (c) {
    case 'b':
      ++pos_;
      return 8;
    case 'd':
      ++pos_;
      return 127;
    case 'e':
      ++pos_;
      return 27;
    case 'f':
      ++pos_;
      return 12;
    case 'n':
      ++pos_;
      return 10;
    case 'r':
      ++pos_;
      return 13;
    case 's':
      ++pos_;
      return 32;
    case 't':
      ++pos_;
      return 9;
    case 'v':
      ++pos_;
      return 11;
    case '^': {
      ++pos_;
      if (at_end()) fail("unterminated escape");
      return next_char() % 32;
    }
    case 'x': {
      ++pos_;
      char32_t v = 0;
      if (peek() == '{') {
        ++pos_;
        std::size_t n = 0;
        while (hex_value(peek()) >= 0) {
          v = v * 16 + static_cast<char32_t>(hex_value(peek()));
          if (v > 0x10FFFF) fail("a character code above 16#10FFFF");
          ++pos_;
          ++n;
        }
        if (n == 0 || peek() != '}') fail("expected hex digits and } in \\x{...}");
        ++pos_;
        return v;
      }
      for (int i = 0; i < 2; ++i) {
        if (hex_value(peek()) < 0) fail("expected two hex digits after \\x");
        v = v * 16 + static_cast<char32_t>(hex_value(peek()));
        ++pos_;
      }
      return v;
    }
    default:
      break;
  }
  if (c >= '0' && c <= '7') {
    char32_t v = 0;
    for (int i = 0; i < 3 && peek() >= '0' && peek() <= '7'; ++i) {
      v = v * 8 + static_cast<char32_t>(peek() - '0');
      ++pos_;
    }
    return v;
  }
  return next_char();
}

std::vector<char32_t> parser::quoted(char quote) {
  const std::size_t start = pos_;
  ++pos_;
  std::vector<char32_t> out;
  for (;;) {
    if (at_end()) {
      fail_at(start, quote == '"' ? "unterminated string" : "unterminated quoted atom");
    }
    const char c = s_[pos_];
    if (c == quote) {
      ++pos_;
      return out;
    }
    if (c == '\\') {
      ++pos_;
      out.push_back(escape());
    } else {
      out.push_back(next_char());
    }
  }
}

std::vector<char32_t> parser::strings() {
  std::vector<char32_t> out = quoted('"');
  for (;;) {  // "ab" "cd" is "abcd"
    const std::size_t save = pos_;
    skip_ws();
    if (peek() != '"') {
      pos_ = save;
      return out;
    }
    const auto more = quoted('"');
    out.insert(out.end(), more.begin(), more.end());
  }
}

atom parser::atom_() {
  skip_ws();
  const std::size_t start = pos_;
  if (peek() == '\'') {
    std::string name;
    for (char32_t c : quoted('\'')) {
      if (!is_scalar(c)) fail_at(start, "an atom with a character that is not Unicode");
      utf8_append(name, c);
    }
    return make_atom(std::move(name), start);
  }
  std::size_t p = pos_;
  const auto first = at_end() ? std::nullopt : utf8_next(s_, p);
  if (!first || !is_lower(*first)) fail("expected an atom");
  pos_ = p;
  for (;;) {
    std::size_t q = pos_;
    const auto c = at_end() ? std::nullopt : utf8_next(s_, q);
    if (!c || !is_name_char(*c)) break;
    pos_ = q;
  }
  return make_atom(std::string(s_.substr(start, pos_ - start)), start);
}

// Digits of `base` with single `_` between digits.
std::string parser::digits(int base) {
  std::string out;
  auto digit_value = [base](char c) -> int {
    int v = 99;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') v = c - 'A' + 10;
    return v < base ? v : -1;
  };
  while (digit_value(peek()) >= 0) {
    out += peek();
    ++pos_;
    if (peek() == '_' && digit_value(peek(1)) >= 0) ++pos_;
    if (out.size() > max_digits) fail("an integer of more than 4000 digits");
  }
  if (out.empty()) fail("expected digits");
  return out;
}

namespace {

term make_integer(const std::string& ds, int base, bool negative) {
  if (base == 10 && ds.size() <= 18) {
    std::int64_t v = 0;
    std::from_chars(ds.data(), ds.data() + ds.size(), v);
    return negative ? -v : v;
  }
  big_integer b;
  b.negative = negative;
  for (char c : ds) {
    unsigned carry = static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    for (auto& byte : b.magnitude) {
      const unsigned v = byte * static_cast<unsigned>(base) + carry;
      byte = static_cast<std::uint8_t>(v & 0xFFU);
      carry = v >> 8U;
    }
    for (; carry != 0; carry >>= 8U) b.magnitude.push_back(static_cast<std::uint8_t>(carry));
  }
  return term(std::move(b));
}

}  // namespace

term parser::number(bool negative) {
  const std::size_t start = pos_;
  if (peek() == '$') {
    ++pos_;
    if (at_end()) fail("expected a character after $");
    const char32_t c = peek() == '\\' ? (++pos_, escape()) : next_char();
    return negative ? -static_cast<std::int64_t>(c) : static_cast<std::int64_t>(c);
  }
  std::string ds = digits(10);
  if (peek() == '#') {
    int base = 0;
    std::from_chars(ds.data(), ds.data() + ds.size(), base);
    if (ds.size() > 2 || base < 2 || base > 36) fail_at(start, "a base outside 2..36");
    ++pos_;
    return make_integer(digits(base), base, negative);
  }
  if (peek() == '.' && is_digit(static_cast<unsigned char>(peek(1)))) {
    ++pos_;
    std::string text = ds + '.' + digits(10);
    if ((peek() == 'e' || peek() == 'E') &&
        (is_digit(static_cast<unsigned char>(peek(1))) ||
         ((peek(1) == '-' || peek(1) == '+') && is_digit(static_cast<unsigned char>(peek(2)))))) {
      text += 'e';
      ++pos_;
      if (peek() == '-' || peek() == '+') text += s_[pos_++];
      text += digits(10);
    }
    double d = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
    if (r.ec != std::errc{} || !std::isfinite(d)) fail_at(start, "a float out of range");
    return negative ? -d : d;
  }
  return make_integer(ds, 10, negative);
}

std::uint64_t parser::plain_uint(std::uint64_t max) {
  const std::size_t start = pos_;
  while (is_digit(static_cast<unsigned char>(peek()))) ++pos_;
  std::uint64_t v = 0;
  const auto r = std::from_chars(s_.data() + start, s_.data() + pos_, v);
  if (start == pos_ || r.ec != std::errc{} || v > max) fail_at(start, "expected a number in range");
  return v;
}

term parser::special() {
  const std::size_t start = pos_;
  auto dot = [this] {
    expect(".", ".");
  };
  if (starts("#Pid<")) {
    pos_ += 5;
    pid p;
    p.node = atom_();
    dot();
    p.id = static_cast<std::uint32_t>(plain_uint(UINT32_MAX));
    dot();
    p.serial = static_cast<std::uint32_t>(plain_uint(UINT32_MAX));
    dot();
    p.creation = static_cast<std::uint32_t>(plain_uint(UINT32_MAX));
    expect(">", ">");
    return p;
  }
  if (starts("#Port<")) {
    pos_ += 6;
    port p;
    p.node = atom_();
    dot();
    p.id = plain_uint(UINT64_MAX);
    dot();
    p.creation = static_cast<std::uint32_t>(plain_uint(UINT32_MAX));
    expect(">", ">");
    return p;
  }
  if (starts("#Ref<")) {
    pos_ += 5;
    atom node = atom_();
    dot();
    const auto creation = static_cast<std::uint32_t>(plain_uint(UINT32_MAX));
    std::vector<std::uint32_t> ids;
    while (peek() == '.') {
      ++pos_;
      if (ids.size() == 5) fail("a reference of more than 5 ids");
      ids.push_back(static_cast<std::uint32_t>(plain_uint(UINT32_MAX)));
    }
    if (ids.empty()) fail("expected . and the reference's ids");
    expect(">", ">");
    return reference(std::move(node), creation, ids);
  }
  if (starts("#Fun<")) {
    pos_ += 5;
    std::vector<std::uint8_t> bytes;
    auto hex = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      if (h >= 'a' && h <= 'f') return h - 'a' + 10;
      return -1;
    };
    while (hex(peek()) >= 0 && hex(peek(1)) >= 0) {
      bytes.push_back(static_cast<std::uint8_t>(hex(peek()) * 16 + hex(peek(1))));
      pos_ += 2;
    }
    expect(">", "> after the fun's hex bytes");
    try {
      return fun(std::move(bytes));
    } catch (const std::system_error&) {
      fail_at(start, "not the bytes of a fun (NEW_FUN_EXT)");
    }
  }
  fail("expected #{, #Pid<, #Port<, #Ref< or #Fun<");
}

term parser::export_() {
  export_fun e;
  e.module = atom_();
  expect(":", ": after the module of fun M:F/A");
  e.function = atom_();
  expect("/", "/ after the function of fun M:F/A");
  skip_ws();
  e.arity = static_cast<std::uint8_t>(plain_uint(255));
  return e;
}

}  // namespace moat::dist::detail
