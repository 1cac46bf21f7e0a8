// Exact equality and Erlang's term order for moat::dist::term.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "moat/dist/term.hpp"

namespace moat::dist {

namespace {

using ord = std::weak_ordering;

// Erlang's order of types: number < atom < reference < fun < port < pid < tuple < map < nil
// < list < bitstring.
int rank(const term& t) noexcept {
  switch (t.kind()) {
    case term_kind::integer:
    case term_kind::big_integer:
    case term_kind::float_:
      return 0;
    case term_kind::atom:
      return 1;
    case term_kind::reference:
      return 2;
    case term_kind::fun:
    case term_kind::export_fun:
      return 3;
    case term_kind::port:
      return 4;
    case term_kind::pid:
      return 5;
    case term_kind::tuple:
      return 6;
    case term_kind::map:
      return 7;
    case term_kind::list:
      return t.is_nil() ? 8 : 9;
    case term_kind::binary:
    case term_kind::bitstring:
      return 10;
  }
  return 11;
}

ord compare_big(const big_integer& a, const big_integer& b) noexcept {
  if (a.negative != b.negative) return a.negative ? ord::less : ord::greater;
  ord mag = ord::equivalent;
  if (a.magnitude.size() != b.magnitude.size()) {
    mag = a.magnitude.size() < b.magnitude.size() ? ord::less : ord::greater;
  } else {
    for (std::size_t i = a.magnitude.size(); i-- > 0;) {
      if (a.magnitude[i] != b.magnitude[i]) {
        mag = a.magnitude[i] < b.magnitude[i] ? ord::less : ord::greater;
        break;
      }
    }
  }
  if (!a.negative) return mag;
  return mag == ord::less ? ord::greater : mag == ord::greater ? ord::less : mag;
}

constexpr double two63 = 9223372036854775808.0;

// An integer against a float of the same value: the integer comes first.
ord compare_int_float(std::int64_t i, double d) noexcept {
  if (d >= two63) return ord::less;
  if (d < -two63) return ord::greater;
  const double t = std::trunc(d);
  const auto ti = static_cast<std::int64_t>(t);
  if (i != ti) return i < ti ? ord::less : ord::greater;
  if (d > t) return ord::less;
  if (d < t) return ord::greater;
  return ord::less;
}

// |d| >= 2^63, so d is an integer: its exact magnitude.
big_integer to_big(double d) {
  big_integer b;
  b.negative = d < 0;
  int e = 0;
  const double m = std::frexp(std::fabs(d), &e);  // |d| = m * 2^e, m in [0.5, 1)
  auto mant = static_cast<std::uint64_t>(std::ldexp(m, 53));
  const int shift = e - 53;  // >= 11
  b.magnitude.assign(static_cast<std::size_t>(shift / 8), 0);
  const int bit_shift = shift % 8;
  std::uint64_t v = mant << static_cast<unsigned>(bit_shift);  // 53 + 7 bits at most
  for (; v != 0; v >>= 8U) b.magnitude.push_back(static_cast<std::uint8_t>(v & 0xFFU));
  return b;
}

ord compare_big_float(const big_integer& b, double d) {
  if (std::fabs(d) < two63) return b.negative ? ord::less : ord::greater;
  const auto c = compare_big(b, to_big(d));
  return c == ord::equivalent ? ord::less : c;
}

ord flip(ord o) noexcept {
  return o == ord::less ? ord::greater : o == ord::greater ? ord::less : o;
}

ord compare_numbers(const term& a, const term& b) {
  const auto& va = a.value();
  const auto& vb = b.value();
  if (const auto* ia = std::get_if<std::int64_t>(&va)) {
    if (const auto* ib = std::get_if<std::int64_t>(&vb)) return *ia <=> *ib;
    if (const auto* bb = std::get_if<big_integer>(&vb))
      return bb->negative ? ord::greater : ord::less;
    return compare_int_float(*ia, std::get<double>(vb));
  }
  if (const auto* ba = std::get_if<big_integer>(&va)) {
    if (const auto* ib = std::get_if<std::int64_t>(&vb)) {
      (void)ib;
      return ba->negative ? ord::less : ord::greater;
    }
    if (const auto* bb = std::get_if<big_integer>(&vb)) return compare_big(*ba, *bb);
    return compare_big_float(*ba, std::get<double>(vb));
  }
  const double da = std::get<double>(va);
  if (const auto* ib = std::get_if<std::int64_t>(&vb)) return flip(compare_int_float(*ib, da));
  if (const auto* bb = std::get_if<big_integer>(&vb)) return flip(compare_big_float(*bb, da));
  const double db = std::get<double>(vb);
  return da < db ? ord::less : da > db ? ord::greater : ord::equivalent;
}

ord compare_bits(const std::vector<std::uint8_t>& a, std::size_t abits,
                 const std::vector<std::uint8_t>& b, std::size_t bbits) noexcept {
  const std::size_t n = std::min(abits, bbits);
  const std::size_t whole = n / 8;
  if (whole > 0) {
    const int c = std::memcmp(a.data(), b.data(), whole);
    if (c != 0) return c < 0 ? ord::less : ord::greater;
  }
  if (n % 8 != 0) {
    const unsigned mask = 0xFFU << (8U - n % 8);
    const unsigned x = a[whole] & mask;
    const unsigned y = b[whole] & mask;
    if (x != y) return x < y ? ord::less : ord::greater;
  }
  return abits <=> bbits;
}

template <class Seq>
ord compare_seq(const Seq& a, const Seq& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (auto c = a[i] <=> b[i]; c != 0) return c;
  }
  return a.size() <=> b.size();
}

// The rest of list `l` from element `i` on: compared as Erlang walks conses.
ord compare_lists(const list& a, const list& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (auto c = a[i] <=> b[i]; c != 0) return c;
  }
  // One (or both) ran out of elements: compare its tail with the other's remainder.
  const term nil;
  if (a.size() == b.size()) {
    return (a.tail() ? *a.tail() : nil) <=> (b.tail() ? *b.tail() : nil);
  }
  // The remainder of the longer one is a non-empty list; a tail is [] (shorter, so less) or
  // a non-list term (which ranks below lists, except bitstrings).
  if (a.size() < b.size()) {
    if (a.tail() == nullptr) return ord::less;
    return rank(*a.tail()) < 9 ? ord::less : ord::greater;
  }
  if (b.tail() == nullptr) return ord::greater;
  return rank(*b.tail()) < 9 ? ord::greater : ord::less;
}

std::vector<const std::pair<term, term>*> sorted_entries(const map& m) {
  std::vector<const std::pair<term, term>*> s;
  s.reserve(m.entries.size());
  for (const auto& e : m.entries) s.push_back(&e);
  std::sort(s.begin(), s.end(), [](auto* x, auto* y) { return x->first < y->first; });
  return s;
}

ord compare_maps(const map& a, const map& b) {
  if (a.size() != b.size()) return a.size() <=> b.size();
  const auto sa = sorted_entries(a);
  const auto sb = sorted_entries(b);
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (auto c = sa[i]->first <=> sb[i]->first; c != 0) return c;
  }
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (auto c = sa[i]->second <=> sb[i]->second; c != 0) return c;
  }
  return ord::equivalent;
}

ord compare_same_rank(const term& a, const term& b) {
  switch (rank(a)) {
    case 0:
      return compare_numbers(a, b);
    case 1:
      return *a.as_atom() <=> *b.as_atom();
    case 2: {
      const auto& x = *a.as_reference();
      const auto& y = *b.as_reference();
      if (auto c = x.node() <=> y.node(); c != 0) return c;
      if (auto c = x.creation() <=> y.creation(); c != 0) return c;
      return compare_seq(x.ids(), y.ids());
    }
    case 3: {
      const auto* ea = a.get_if<export_fun>();
      const auto* eb = b.get_if<export_fun>();
      if ((ea != nullptr) != (eb != nullptr)) return ea != nullptr ? ord::less : ord::greater;
      if (ea != nullptr) {
        if (auto c = ea->module <=> eb->module; c != 0) return c;
        if (auto c = ea->function <=> eb->function; c != 0) return c;
        return ea->arity <=> eb->arity;
      }
      return compare_seq(a.get_if<fun>()->encoded(), b.get_if<fun>()->encoded());
    }
    case 4: {
      const auto& x = *a.as_port();
      const auto& y = *b.as_port();
      if (auto c = x.node <=> y.node; c != 0) return c;
      if (auto c = x.id <=> y.id; c != 0) return c;
      return x.creation <=> y.creation;
    }
    case 5: {
      const auto& x = *a.as_pid();
      const auto& y = *b.as_pid();
      if (auto c = x.node <=> y.node; c != 0) return c;
      if (auto c = x.id <=> y.id; c != 0) return c;
      if (auto c = x.serial <=> y.serial; c != 0) return c;
      return x.creation <=> y.creation;
    }
    case 6: {
      const auto& x = a.as_tuple()->elements;
      const auto& y = b.as_tuple()->elements;
      if (x.size() != y.size()) return x.size() <=> y.size();
      return compare_seq(x, y);
    }
    case 7:
      return compare_maps(*a.as_map(), *b.as_map());
    case 8:
      return ord::equivalent;
    case 9:
      return compare_lists(*a.as_list(), *b.as_list());
    default: {
      auto bits = [](const term& t) -> std::pair<const std::vector<std::uint8_t>*, std::size_t> {
        if (const auto* bin = t.as_binary()) return {&bin->bytes, bin->bytes.size() * 8};
        const auto* bs = t.get_if<bitstring>();
        return {&bs->bytes(), bs->bit_size()};
      };
      const auto [pa, na] = bits(a);
      const auto [pb, nb] = bits(b);
      return compare_bits(*pa, na, *pb, nb);
    }
  }
}

bool equal_maps(const map& a, const map& b) {
  if (a.size() != b.size()) return false;
  if (a.size() <= 8) {  // small: look each key up
    for (const auto& [k, v] : a.entries) {
      const term* w = b.find(k);
      if (w == nullptr || !(*w == v)) return false;
    }
    return true;
  }
  return compare_maps(a, b) == 0;
}

}  // namespace

bool operator==(const term& a, const term& b) noexcept {
  if (a.v_.index() != b.v_.index()) return false;
  return std::visit(
      [&b](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        const auto& y = std::get<T>(b.v_);
        if constexpr (std::is_same_v<T, tuple>) {
          return x.elements == y.elements;
        } else if constexpr (std::is_same_v<T, list>) {
          if (x.elements != y.elements) return false;
          if ((x.tail() == nullptr) != (y.tail() == nullptr)) return false;
          return x.tail() == nullptr || *x.tail() == *y.tail();
        } else if constexpr (std::is_same_v<T, map>) {
          return equal_maps(x, y);
        } else {
          return x == y;
        }
      },
      a.v_);
}

std::weak_ordering operator<=>(const term& a, const term& b) noexcept {
  const int ra = rank(a);
  const int rb = rank(b);
  if (ra != rb) return ra <=> rb;
  return compare_same_rank(a, b);
}

}  // namespace moat::dist
