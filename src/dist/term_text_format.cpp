// Printing terms in Erlang syntax, as io:format("~w") does.
#include <array>
#include <charconv>
#include <cmath>
#include <ostream>

#include "dist/term_text_common.hpp"
#include "dist/utf8.hpp"
#include "moat/dist/term_text.hpp"

namespace moat::dist {

namespace {

void append_octal(std::string& out, unsigned c) {
  out += '\\';
  out += static_cast<char>('0' + ((c >> 6U) & 7U));
  out += static_cast<char>('0' + ((c >> 3U) & 7U));
  out += static_cast<char>('0' + (c & 7U));
}

// Escapes one character inside quotes the way io_lib does.
// Characters past Latin-1 print as \x{...} (as in ~w) unless `raw_unicode`.
void append_quoted_char(std::string& out, char32_t c, char quote, bool raw_unicode = false) {
  switch (c) {
    case '\b':
      out += "\\b";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\v':
      out += "\\v";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\r':
      out += "\\r";
      return;
    case 27:
      out += "\\e";
      return;
    case 127:
      out += "\\d";
      return;
    case '\\':
      out += "\\\\";
      return;
    default:
      break;
  }
  if (c == static_cast<char32_t>(quote)) {
    out += '\\';
    out += quote;
  } else if (c < 32 || (c >= 128 && c < 160)) {
    append_octal(out, static_cast<unsigned>(c));
  } else if (c > 255 && !raw_unicode) {
    char buf[16];
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint32_t>(c), 16);
    out += "\\x{";
    for (const char* p = buf; p != r.ptr; ++p) {
      out += static_cast<char>(*p >= 'a' ? *p - 'a' + 'A' : *p);
    }
    out += '}';
  } else {
    detail::utf8_append(out, c);
  }
}

void append_atom(std::string& out, const atom& a) {
  const std::string& s = a.name();
  if (!detail::atom_needs_quotes(s)) {
    out += s;
    return;
  }
  out += '\'';
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto c = detail::utf8_next(s, pos);
    if (!c) break;  // atoms are valid UTF-8
    append_quoted_char(out, *c, '\'');
  }
  out += '\'';
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_big(std::string& out, const big_integer& b) {
  // Repeated division by 10^9 of a little-endian base-256 magnitude.
  std::vector<std::uint8_t> m = b.magnitude;
  std::vector<std::uint32_t> chunks;
  while (!m.empty()) {
    std::uint64_t rem = 0;
    for (std::size_t i = m.size(); i-- > 0;) {
      const std::uint64_t cur = (rem << 8U) | m[i];
      m[i] = static_cast<std::uint8_t>(cur / 1000000000U);
      rem = cur % 1000000000U;
    }
    chunks.push_back(static_cast<std::uint32_t>(rem));
    while (!m.empty() && m.back() == 0) m.pop_back();
  }
  if (b.negative) out += '-';
  if (chunks.empty()) {
    out += '0';
    return;
  }
  append_uint(out, chunks.back());
  for (std::size_t i = chunks.size() - 1; i-- > 0;) {
    char buf[12];
    const auto r = std::to_chars(buf, buf + sizeof buf, chunks[i]);
    out.append(9 - static_cast<std::size_t>(r.ptr - buf), '0');
    out.append(buf, r.ptr);
  }
}

// The shortest digits that read back, laid out as Erlang does: the shorter of the fixed and
// the scientific forms (fixed on a tie), scientific for integral values from 2^53 on.
void append_float(std::string& out, double d) {
  if (d == 0) {
    out += std::signbit(d) ? "-0.0" : "0.0";
    return;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  const bool negative = sci.front() == '-';
  if (negative) sci.remove_prefix(1);
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exp = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exp);
  // Scientific: D.DDDeX (at least one digit after the point).
  std::string s_form(1, digits[0]);
  s_form += '.';
  s_form += digits.size() > 1 ? digits.substr(1) : "0";
  s_form += 'e';
  s_form += std::to_string(exp);
  std::string f_form;
  const auto n = static_cast<int>(digits.size());
  if (exp < 0) {
    f_form = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  } else if (exp + 1 >= n) {
    f_form = digits + std::string(static_cast<std::size_t>(exp + 1 - n), '0') + ".0";
  } else {
    f_form = digits.substr(0, static_cast<std::size_t>(exp + 1)) + '.' +
             digits.substr(static_cast<std::size_t>(exp + 1));
  }
  const bool integral_big = exp + 1 >= n && std::fabs(d) >= 9007199254740992.0;
  if (negative) out += '-';
  out += (!integral_big && f_form.size() <= s_form.size()) ? f_form : s_form;
}

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (auto b : bytes) {
    out += hex[b >> 4U];
    out += hex[b & 15U];
  }
}

// io_lib's printable_unicode_list characters.
bool printable(std::int64_t c) noexcept {
  return (c >= 32 && c <= 126) || (c >= 0xA0 && c < 0xD800) || (c > 0xDFFF && c < 0xFFFE) ||
         (c > 0xFFFF && c <= 0x10FFFF) || c == '\n' || c == '\r' || c == '\t' || c == '\v' ||
         c == '\b' || c == '\f' || c == 27;
}

// A non-empty proper list of printable characters prints as "text" in the readable style.
bool append_string_list(std::string& out, const list& l) {
  if (l.elements.empty() || !l.is_proper()) return false;
  for (const auto& e : l.elements) {
    const auto* c = e.get_if<std::int64_t>();
    if (c == nullptr || !printable(*c)) return false;
  }
  out += '"';
  for (const auto& e : l.elements) {
    append_quoted_char(out, static_cast<char32_t>(*e.get_if<std::int64_t>()), '"', true);
  }
  out += '"';
  return true;
}

// A non-empty binary of printable ASCII prints as <<"text">>, of printable UTF-8 as
// <<"text"/utf8>>, in the readable style.
bool append_string_binary(std::string& out, const binary& b) {
  if (b.bytes.empty()) return false;
  const std::string_view s = b.view();
  bool ascii = true;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto c = detail::utf8_next(s, pos);
    if (!c || !printable(*c)) return false;
    ascii = ascii && *c < 128;
  }
  out += "<<\"";
  pos = 0;
  while (pos < s.size()) append_quoted_char(out, *detail::utf8_next(s, pos), '"', true);
  out += ascii ? "\">>" : "\"/utf8>>";
  return true;
}

void append_term(std::string& out, const term& t, bool readable);

void append_seq(std::string& out, const std::vector<term>& v, bool readable) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    append_term(out, v[i], readable);
  }
}

void append_term(std::string& out, const term& t, bool readable) {
  switch (t.kind()) {
    case term_kind::integer:
      append_int(out, *t.get_if<std::int64_t>());
      return;
    case term_kind::big_integer:
      append_big(out, *t.get_if<big_integer>());
      return;
    case term_kind::float_:
      append_float(out, *t.get_if<double>());
      return;
    case term_kind::atom:
      append_atom(out, *t.as_atom());
      return;
    case term_kind::binary:
    case term_kind::bitstring: {
      if (readable && t.is_binary() && append_string_binary(out, *t.as_binary())) return;
      out += "<<";
      const auto* bs = t.get_if<bitstring>();
      const auto& bytes = bs != nullptr ? bs->bytes() : t.as_binary()->bytes;
      const std::size_t whole = bs != nullptr ? bytes.size() - 1 : bytes.size();
      for (std::size_t i = 0; i < whole; ++i) {
        if (i > 0) out += ',';
        append_uint(out, bytes[i]);
      }
      if (bs != nullptr) {
        if (whole > 0) out += ',';
        append_uint(out, static_cast<unsigned>(bytes.back()) >> (8U - bs->bits()));
        out += ':';
        append_uint(out, bs->bits());
      }
      out += ">>";
      return;
    }
    case term_kind::tuple:
      out += '{';
      append_seq(out, t.as_tuple()->elements, readable);
      out += '}';
      return;
    case term_kind::list: {
      const auto& l = *t.as_list();
      if (readable && append_string_list(out, l)) return;
      out += '[';
      append_seq(out, l.elements, readable);
      if (l.tail() != nullptr) {
        out += '|';
        append_term(out, *l.tail(), readable);
      }
      out += ']';
      return;
    }
    case term_kind::map: {
      out += "#{";
      bool first = true;
      for (const auto& [k, v] : t.as_map()->entries) {
        if (!first) out += ',';
        first = false;
        append_term(out, k, readable);
        out += " => ";
        append_term(out, v, readable);
      }
      out += '}';
      return;
    }
    case term_kind::pid: {
      const auto& p = *t.as_pid();
      out += "#Pid<";
      append_atom(out, p.node);
      for (std::uint32_t v : {p.id, p.serial, p.creation}) {
        out += '.';
        append_uint(out, v);
      }
      out += '>';
      return;
    }
    case term_kind::port: {
      const auto& p = *t.as_port();
      out += "#Port<";
      append_atom(out, p.node);
      out += '.';
      append_uint(out, p.id);
      out += '.';
      append_uint(out, p.creation);
      out += '>';
      return;
    }
    case term_kind::reference: {
      const auto& r = *t.as_reference();
      out += "#Ref<";
      append_atom(out, r.node());
      out += '.';
      append_uint(out, r.creation());
      for (auto id : r.ids()) {
        out += '.';
        append_uint(out, id);
      }
      out += '>';
      return;
    }
    case term_kind::fun:
      out += "#Fun<";
      append_hex(out, t.get_if<fun>()->encoded());
      out += '>';
      return;
    case term_kind::export_fun: {
      const auto& e = *t.get_if<export_fun>();
      out += "fun ";
      append_atom(out, e.module);
      out += ':';
      append_atom(out, e.function);
      out += '/';
      append_uint(out, e.arity);
      return;
    }
  }
}

}  // namespace

void format_term_to(std::string& out, const term& t, term_style style) {
  append_term(out, t, style == term_style::readable);
}

std::string format_term(const term& t, term_style style) {
  std::string out;
  format_term_to(out, t, style);
  return out;
}

std::ostream& operator<<(std::ostream& os, const term& t) {
  return os << format_term(t, term_style::readable);
}

}  // namespace moat::dist
