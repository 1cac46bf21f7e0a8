// The term type: construction, canonical forms and conversions (comparison is in
// term_compare.cpp).
#include "moat/dist/term.hpp"

#include <algorithm>
#include <system_error>

#include "dist/utf8.hpp"

namespace moat::dist {

namespace {

[[noreturn]] void fail(term_errc e, const char* what) {
  throw std::system_error(e, what);
}

// Drops high zero bytes of a magnitude.
void trim(std::vector<std::uint8_t>& m) {
  while (!m.empty() && m.back() == 0) m.pop_back();
}

}  // namespace

atom::atom(std::string_view name) {
  const auto n = detail::utf8_length(name);
  if (!n) fail(term_errc::invalid_utf8, "atom");
  if (*n > 255) fail(term_errc::atom_too_long, "atom");
  *this = from_checked(name);
}

atom atom::from_checked(std::string_view name) {
  atom a;
  if (!try_from_checked(name, a)) fail(term_errc::too_many_atoms, "atom");
  return a;
}

bitstring::bitstring(std::vector<std::uint8_t> bytes, unsigned bits)
    : bytes_(std::move(bytes)), bits_(bits) {
  if (bytes_.empty() || bits_ < 1 || bits_ > 8) fail(term_errc::invalid_field, "bitstring");
  bytes_.back() = static_cast<std::uint8_t>(bytes_.back() & (0xFFU << (8U - bits_)));
}

reference::reference(atom node, std::uint32_t creation, std::span<const std::uint32_t> ids)
    : node_(std::move(node)), creation_(creation), n_(ids.size()) {
  if (ids.empty() || ids.size() > ids_.size()) fail(term_errc::invalid_field, "reference ids");
  std::copy(ids.begin(), ids.end(), ids_.begin());
}

fun::fun(std::vector<std::uint8_t> encoded) : bytes_(std::move(encoded)) {
  // 112, Size(4, counting itself and what follows), Arity(1), Uniq(16), Index(4), NumFree(4),
  // then Module, OldIndex, OldUniq, Pid and the free variables as terms.
  if (bytes_.size() < 30 || bytes_[0] != 112) fail(term_errc::invalid_field, "fun");
  const std::uint32_t size = (std::uint32_t{bytes_[1]} << 24U) | (std::uint32_t{bytes_[2]} << 16U) |
                             (std::uint32_t{bytes_[3]} << 8U) | bytes_[4];
  if (size != bytes_.size() - 1) fail(term_errc::invalid_field, "fun size");
}

list::list(const list& other)
    : elements(other.elements),
      tail_(other.tail_ ? std::make_unique<term>(*other.tail_) : nullptr) {}

list& list::operator=(const list& other) {
  if (this != &other) {
    list copy(other);
    *this = std::move(copy);
  }
  return *this;
}

list::~list() = default;

list list::improper(std::vector<term> elements, term tail) {
  list l(std::move(elements));
  l.set_tail(std::move(tail));
  return l;
}

void list::set_tail(term t) {
  if (auto* l = t.get_if<list>()) {
    elements.reserve(elements.size() + l->elements.size());
    for (auto& e : l->elements) elements.push_back(std::move(e));
    tail_ = std::move(l->tail_);
    return;
  }
  tail_ = std::make_unique<term>(std::move(t));
}

namespace {

void check_unique_keys(const std::vector<std::pair<term, term>>& entries) {
  if (entries.size() < 2) return;
  std::vector<const term*> keys;
  keys.reserve(entries.size());
  for (const auto& e : entries) keys.push_back(&e.first);
  std::sort(keys.begin(), keys.end(), [](const term* a, const term* b) { return *a < *b; });
  for (std::size_t i = 1; i < keys.size(); ++i) {
    if (*keys[i - 1] == *keys[i]) fail(term_errc::duplicate_map_key, "map");
  }
}

}  // namespace

map::map(std::initializer_list<std::pair<term, term>> init) : entries(init) {
  check_unique_keys(entries);
}

map::map(std::vector<std::pair<term, term>> e) : entries(std::move(e)) {
  check_unique_keys(entries);
}

const term* map::find(const term& key) const noexcept {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void map::insert_or_assign(term key, term value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

term::term(big_integer b) : v_(std::int64_t{0}) {
  trim(b.magnitude);
  if (b.magnitude.size() <= 8) {
    std::uint64_t u = 0;
    for (std::size_t i = b.magnitude.size(); i-- > 0;) u = (u << 8U) | b.magnitude[i];
    if (!b.negative && u <= static_cast<std::uint64_t>(INT64_MAX)) {
      v_ = static_cast<std::int64_t>(u);
      return;
    }
    if (b.negative && u <= static_cast<std::uint64_t>(INT64_MAX) + 1U) {
      v_ = u == 0 ? 0 : -static_cast<std::int64_t>(u - 1U) - 1;
      return;
    }
  }
  v_ = std::move(b);
}

term::term(bitstring b) : v_(std::int64_t{0}) {
  if (b.bits() == 8) {
    v_ = binary(b.bytes());
  } else {
    v_ = std::move(b);
  }
}

term::term(list l) : v_(std::int64_t{0}) {
  if (l.elements.empty() && !l.is_proper()) {
    term t = *l.tail();
    *this = std::move(t);
  } else {
    v_ = std::move(l);
  }
}

void term::set_unsigned(std::uint64_t u) {
  big_integer b;
  for (; u != 0; u >>= 8U) b.magnitude.push_back(static_cast<std::uint8_t>(u & 0xFFU));
  v_ = std::move(b);
}

void term::throw_wrong_type() {
  fail(term_errc::wrong_type, "term::as");
}

std::optional<std::int64_t> term::int64_value() const noexcept {
  if (const auto* i = get_if<std::int64_t>()) return *i;
  return std::nullopt;
}

std::optional<std::string> term::string_value() const {
  if (const auto* b = get_if<binary>()) return std::string(b->view());
  const auto* l = get_if<list>();
  if (l == nullptr || !l->is_proper()) return std::nullopt;
  std::string out;
  out.reserve(l->elements.size());
  for (const auto& e : l->elements) {
    const auto* cp = e.get_if<std::int64_t>();
    if (cp == nullptr || !detail::is_scalar(*cp)) return std::nullopt;
    detail::utf8_append(out, static_cast<char32_t>(*cp));
  }
  return out;
}

term charlist(std::string_view text) {
  list l;
  l.elements.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto cp = detail::utf8_next(text, pos);
    if (!cp) fail(term_errc::invalid_utf8, "charlist");
    l.elements.emplace_back(static_cast<std::int64_t>(*cp));
  }
  return term(std::move(l));
}

}  // namespace moat::dist
