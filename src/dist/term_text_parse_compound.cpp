// Reading Erlang's text syntax: terms, tuples, lists, maps and binaries, and the public
// parse_term / consult.
#include <map>
#include <system_error>

#include "dist/term_text_common.hpp"
#include "dist/term_text_parser.hpp"
#include "moat/dist/term_text.hpp"

namespace moat::dist {

namespace detail {

term parser::value(std::size_t depth) {
  if (depth > max_text_depth) fail("terms nested deeper than 1000");
  skip_ws();
  if (at_end()) fail("expected a term, found the end of the text");
  const char c = peek();
  switch (c) {
    case '{':
      return tuple_(depth);
    case '[':
      return list_(depth);
    case '#':
      if (peek(1) == '{') return map_(depth);
      return special();
    case '<':
      if (peek(1) != '<') fail("expected << to start a binary");
      return binary_();
    case '"':
      return charlist_of(strings());
    case '\'':
      return atom_();
    case '-':
    case '+': {
      ++pos_;
      skip_ws();
      if (!is_digit(static_cast<unsigned char>(peek())) && peek() != '$') {
        fail("expected a number after the sign");
      }
      return number(c == '-');
    }
    default:
      break;
  }
  if (is_digit(static_cast<unsigned char>(c)) || c == '$') return number(false);
  std::size_t p = pos_;
  const auto cp = utf8_next(s_, p);
  if (!cp) fail("invalid UTF-8");
  if (is_lower(*cp)) {
    const std::size_t start = pos_;
    atom a = atom_();
    if (a == "fun" && s_[start] != '\'') return export_();
    return a;
  }
  if (is_upper(*cp) || *cp == '_') fail("a variable is not a term");
  fail("expected a term, found '" + std::string(s_.substr(pos_, p - pos_)) + "'");
}

term parser::charlist_of(const std::vector<char32_t>& cps) {
  list l;
  l.elements.reserve(cps.size());
  for (char32_t c : cps) l.elements.emplace_back(static_cast<std::int64_t>(c));
  return l;
}

term parser::tuple_(std::size_t depth) {
  ++pos_;
  std::vector<term> elements;
  skip_ws();
  if (peek() == '}') {
    ++pos_;
    return tuple(std::move(elements));
  }
  for (;;) {
    elements.push_back(value(depth + 1));
    skip_ws();
    if (peek() == ',') {
      ++pos_;
    } else if (peek() == '}') {
      ++pos_;
      return tuple(std::move(elements));
    } else {
      fail("expected , or } in a tuple");
    }
  }
}

term parser::list_(std::size_t depth) {
  ++pos_;
  list l;
  skip_ws();
  if (peek() == ']') {
    ++pos_;
    return l;
  }
  for (;;) {
    l.elements.push_back(value(depth + 1));
    skip_ws();
    if (peek() == ',') {
      ++pos_;
    } else if (peek() == '|') {
      ++pos_;
      l.set_tail(value(depth + 1));
      expect("]", "] after the tail of a list");
      return l;
    } else if (peek() == ']') {
      ++pos_;
      return l;
    } else {
      fail("expected , | or ] in a list");
    }
  }
}

term parser::map_(std::size_t depth) {
  pos_ += 2;
  map m;
  std::map<term, std::size_t> index;  // a key given twice keeps its last value
  skip_ws();
  if (peek() == '}') {
    ++pos_;
    return m;
  }
  for (;;) {
    term k = value(depth + 1);
    expect("=>", "=> after a map key");
    term v = value(depth + 1);
    if (auto it = index.find(k); it != index.end()) {
      m.entries[it->second].second = std::move(v);
    } else {
      index.emplace(k, m.entries.size());
      m.entries.emplace_back(std::move(k), std::move(v));
    }
    skip_ws();
    if (peek() == ',') {
      ++pos_;
    } else if (peek() == '}') {
      ++pos_;
      return m;
    } else {
      fail("expected , or } in a map");
    }
  }
}

namespace {

void put_bits(std::vector<std::uint8_t>& bytes, std::size_t& bits, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) {
    if (bits % 8 == 0) bytes.push_back(0);
    if (((v >> i) & 1U) != 0)
      bytes.back() = static_cast<std::uint8_t>(bytes.back() | (0x80U >> (bits % 8)));
    ++bits;
  }
}

void put_utf8(std::vector<std::uint8_t>& bytes, std::size_t& bits, char32_t c) {
  std::string s;
  utf8_append(s, c);
  for (char ch : s) put_bits(bytes, bits, static_cast<unsigned char>(ch), 8);
}

}  // namespace

// One segment: Value[:Size][/Type-Type...], Value an integer or a string.
void parser::segment(std::vector<std::uint8_t>& bytes, std::size_t& bits) {
  skip_ws();
  const std::size_t start = pos_;
  std::vector<char32_t> chars;
  std::int64_t integer = 0;
  const bool is_string = peek() == '"';
  if (is_string) {
    chars = strings();
  } else {
    bool negative = false;
    if (peek() == '-' || peek() == '+') {
      negative = peek() == '-';
      ++pos_;
      skip_ws();
    }
    if (!is_digit(static_cast<unsigned char>(peek())) && peek() != '$') {
      fail("expected an integer or a string in a binary");
    }
    const term n = number(negative);
    const auto* i = n.get_if<std::int64_t>();
    if (i == nullptr) {
      fail_at(start, n.is_float() ? "float segments are not supported"
                                  : "an integer segment beyond 64 bits");
    }
    integer = *i;
  }
  skip_ws();
  std::size_t size = 8;
  bool sized = false;
  if (peek() == ':') {
    ++pos_;
    skip_ws();
    size = static_cast<std::size_t>(plain_uint(64));
    sized = true;
  }
  bool utf8 = false;
  skip_ws();
  if (peek() == '/') {
    do {
      ++pos_;
      skip_ws();
      const std::size_t tstart = pos_;
      const std::string type = atom_().name();
      if (type == "utf8") {
        utf8 = true;
      } else if (type == "binary" || type == "bytes") {
        if (!is_string) fail_at(tstart, "a binary segment must be a string here");
      } else if (type != "integer" && type != "signed" && type != "unsigned" && type != "big") {
        fail_at(tstart, "unsupported segment type " + type);
      }
      skip_ws();
    } while (peek() == '-');
  }
  if (utf8 && sized) fail_at(start, "a utf8 segment takes no size");
  if (!is_string) chars.push_back(0);
  for (std::size_t i = 0; i < chars.size(); ++i) {
    const std::int64_t v = is_string ? static_cast<std::int64_t>(chars[i]) : integer;
    if (utf8) {
      if (!is_scalar(v)) fail_at(start, "not a Unicode character for utf8");
      put_utf8(bytes, bits, static_cast<char32_t>(v));
    } else {
      put_bits(bytes, bits, static_cast<std::uint64_t>(v), size);
    }
  }
}

term parser::binary_() {
  pos_ += 2;
  std::vector<std::uint8_t> bytes;
  std::size_t bits = 0;
  skip_ws();
  if (starts(">>")) {
    pos_ += 2;
    return binary{};
  }
  for (;;) {
    segment(bytes, bits);
    skip_ws();
    if (peek() == ',') {
      ++pos_;
    } else if (starts(">>")) {
      pos_ += 2;
      break;
    } else {
      fail("expected , or >> in a binary");
    }
  }
  if (bits % 8 == 0) return binary(std::move(bytes));
  return bitstring(std::move(bytes), static_cast<unsigned>(bits % 8));
}

}  // namespace detail

namespace {

text_error locate(std::string_view text, const detail::failure& f) {
  text_error e;
  e.line = 1;
  e.column = 1;
  std::size_t pos = 0;
  const std::size_t end = std::min(f.pos, text.size());
  while (pos < end) {
    if (text[pos] == '\n') {
      ++e.line;
      e.column = 1;
      ++pos;
    } else {
      if (!detail::utf8_next(text.substr(0, end), pos)) ++pos;
      ++e.column;
    }
  }
  e.reason = f.reason;
  return e;
}

// Whether the dot at `pos` is followed by whitespace, a comment or the end.
bool dot_ends(std::string_view text, std::size_t pos) {
  if (pos + 1 >= text.size()) return true;
  const char c = text[pos + 1];
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '%';
}

}  // namespace

std::string text_error::message() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + reason;
}

term_syntax_error::term_syntax_error(text_error e)
    : std::runtime_error(e.message()), error_(std::move(e)) {}

std::optional<term> parse_term(std::string_view text, text_error& error) {
  detail::parser p(text);
  try {
    term t = p.value(1);
    p.skip_ws();
    if (p.peek() == '.' && dot_ends(text, p.pos())) {
      p.expect(".", ".");
      p.skip_ws();
    }
    if (!p.at_end()) p.fail("expected the end of the text after the term");
    return t;
  } catch (const detail::failure& f) {
    error = locate(text, f);
    return std::nullopt;
  }
}

term parse_term(std::string_view text) {
  text_error e;
  auto t = parse_term(text, e);
  if (!t) throw term_syntax_error(std::move(e));
  return std::move(*t);
}

std::optional<std::vector<term>> consult(std::string_view text, text_error& error) {
  detail::parser p(text);
  std::vector<term> terms;
  try {
    for (;;) {
      p.skip_ws();
      if (p.at_end()) return terms;
      terms.push_back(p.value(1));
      p.skip_ws();
      if (p.peek() != '.') p.fail("expected a dot after the term");
      if (!dot_ends(text, p.pos())) p.fail("expected whitespace after the dot");
      p.expect(".", ".");
    }
  } catch (const detail::failure& f) {
    error = locate(text, f);
    return std::nullopt;
  }
}

std::vector<term> consult(std::string_view text) {
  text_error e;
  auto t = consult(text, e);
  if (!t) throw term_syntax_error(std::move(e));
  return std::move(*t);
}

}  // namespace moat::dist
