#pragma once
/// @file
/// `moat::dist::term`: an Erlang term as a C++ value -- integers (int64 and big), floats,
/// atoms, binaries and bitstrings, tuples, lists (proper and improper), maps, pids, ports,
/// references, funs and exports. Terms are plain values: each owns its elements, copies are
/// deep, moves are cheap, and a term is safe to use from several threads as long as none
/// modifies it (no shared state, no reference counts).
///
/// Strings: Erlang has two. `std::string`, `std::string_view` and `const char*` convert to a
/// **binary** (what Elixir strings are, and what `<<"text">>` is in Erlang); `charlist("text")`
/// makes the list of code points an Erlang `"text"` literal is. An atom is always explicit:
/// `atom{"ok"}`. Comparing a term with a string literal does not compile (it would be a
/// binary): write `t.is_atom("ok")` or `t == atom{"ok"}`.
///
/// Equality is Erlang's exact equality (`=:=`): `term{1} != term{1.0}`; 0.0 and -0.0 are
/// equal, as in OTP 25. `<=>` is Erlang's term order (number < atom < reference < fun < port
/// < pid < tuple < map < [] < list < bitstring), numbers compared by value, an integer before
/// the float of the same value; so terms work as `std::map` keys and maps compare equal
/// whatever the order of their pairs. Within references, funs, ports and pids the order is
/// deterministic but not necessarily the one a node would use.

#include <array>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "moat/dist/term_errors.hpp"
#include "moat/dist/term_values.hpp"

namespace moat::dist {

class term;

/// A tuple. Build with braces (`tuple{atom{"ok"}, 42}`) or adopt a vector with parentheses
/// (`tuple(std::move(elements))`; braces around a vector would make a one-element tuple).
struct tuple {
  std::vector<term> elements;
  tuple() noexcept;
  tuple(std::initializer_list<term> init);
  explicit tuple(std::vector<term> e) noexcept;
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] const term& operator[](std::size_t i) const noexcept;
  [[nodiscard]] std::vector<term>::const_iterator begin() const noexcept;
  [[nodiscard]] std::vector<term>::const_iterator end() const noexcept;
};

/// A list: its elements, and for an improper list (`[a|b]`) its tail. The empty list `[]`
/// (NIL) is a list without elements. An improper tail is never itself a list (setting one
/// appends its elements), and a list without elements has no improper tail (a term built
/// from it is the tail itself).
class list {
 public:
  std::vector<term> elements;

  list() noexcept;  // []
  list(std::initializer_list<term> init);
  explicit list(std::vector<term> e) noexcept;
  /// `[e1, e2, ... | tail]`.
  static list improper(std::vector<term> elements, term tail);
  list(const list& other);
  list& operator=(const list& other);
  list(list&&) noexcept = default;
  list& operator=(list&&) noexcept = default;
  ~list();

  /// Whether the list ends in `[]`.
  [[nodiscard]] bool is_proper() const noexcept { return !tail_; }
  /// The tail of an improper list, nullptr for a proper one.
  [[nodiscard]] const term* tail() const noexcept { return tail_.get(); }
  /// Makes the list end in `t` (a list appends its elements and takes its tail).
  void set_tail(term t);

  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] bool empty() const noexcept;
  [[nodiscard]] const term& operator[](std::size_t i) const noexcept;
  [[nodiscard]] std::vector<term>::const_iterator begin() const noexcept;
  [[nodiscard]] std::vector<term>::const_iterator end() const noexcept;

 private:
  std::unique_ptr<term> tail_{};
};

/// A map: key/value pairs, encoded in the order kept here. Keys are unique: the
/// constructors throw `std::system_error(term_errc::duplicate_map_key)` otherwise.
struct map {
  std::vector<std::pair<term, term>> entries;
  map() noexcept;
  map(std::initializer_list<std::pair<term, term>> init);
  explicit map(std::vector<std::pair<term, term>> e);
  /// The value of `key` (exact equality), nullptr if absent. Linear.
  [[nodiscard]] const term* find(const term& key) const noexcept;
  /// Replaces the value of `key` or appends the pair.
  void insert_or_assign(term key, term value);
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] std::vector<std::pair<term, term>>::const_iterator begin() const noexcept;
  [[nodiscard]] std::vector<std::pair<term, term>>::const_iterator end() const noexcept;
};

/// What a term holds; the values follow the alternatives of `term::variant_type`.
enum class term_kind : std::uint8_t {
  integer,      ///< std::int64_t
  big_integer,  ///< big_integer (outside int64)
  float_,       ///< double
  atom,
  binary,
  bitstring,
  tuple,
  list,  ///< also [] (NIL)
  map,
  pid,
  port,
  reference,
  fun,
  export_fun,
};

/// An Erlang term. See the file comment for strings, equality and order.
class term {
 public:
  using variant_type = std::variant<std::int64_t, big_integer, double, atom, binary, bitstring,
                                    tuple, list, map, pid, port, reference, fun, export_fun>;

  /// `[]`.
  term() noexcept : v_(std::in_place_type<list>) {}
  template <std::integral I>
  requires(!std::same_as<I, bool>) term(I i)
      : v_(std::int64_t{0}) {  // NOLINT(google-explicit-constructor)
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (i > static_cast<I>(INT64_MAX)) {
        set_unsigned(static_cast<std::uint64_t>(i));
        return;
      }
    }
    v_.template emplace<std::int64_t>(static_cast<std::int64_t>(i));
  }
  /// `true` / `false` atoms.
  term(bool b) : v_(atom::from_checked(b ? "true" : "false")) {}
  term(double d) noexcept : v_(d) {}
  term(float f) noexcept : v_(static_cast<double>(f)) {}
  /// Binaries (see the file comment).
  term(std::string_view s) : v_(binary(s)) {}
  term(const char* s) : v_(binary(s)) {}
  term(const std::string& s) : v_(binary(std::string_view(s))) {}
  term(std::nullptr_t) = delete;
  term(atom a) noexcept : v_(std::move(a)) {}
  term(big_integer b);  ///< normalised: an int64 when it fits
  term(binary b) noexcept : v_(std::move(b)) {}
  term(bitstring b);  ///< a binary when the last byte is whole
  term(tuple t) noexcept : v_(std::move(t)) {}
  term(list l);  ///< an empty list with an improper tail is the tail
  term(map m) noexcept : v_(std::move(m)) {}
  term(pid p) noexcept : v_(std::move(p)) {}
  term(port p) noexcept : v_(std::move(p)) {}
  term(reference r) noexcept : v_(std::move(r)) {}
  term(fun f) noexcept : v_(std::move(f)) {}
  term(export_fun e) noexcept : v_(std::move(e)) {}
  /// A proper list of the converted elements.
  template <class T>
  requires std::convertible_to<const T&, term> term(const std::vector<T>& v)
      : v_(std::in_place_type<list>) {
    auto& l = std::get<list>(v_);
    l.elements.reserve(v.size());
    for (const auto& e : v) l.elements.emplace_back(e);
  }
  /// A map of the converted pairs.
  template <class K, class V, class C, class A>
  requires std::convertible_to<const K&, term> && std::convertible_to<const V&, term> term(
      const std::map<K, V, C, A>& m)
      : v_(std::in_place_type<map>) {
    auto& mm = std::get<map>(v_);
    mm.entries.reserve(m.size());
    for (const auto& [k, val] : m) mm.entries.emplace_back(term(k), term(val));
  }

  [[nodiscard]] term_kind kind() const noexcept { return static_cast<term_kind>(v_.index()); }
  /// The variant, for `std::visit`. The non-const one lets a caller move parts out; the
  /// canonical forms described above are then the caller's to keep.
  [[nodiscard]] const variant_type& value() const noexcept { return v_; }
  [[nodiscard]] variant_type& value() noexcept { return v_; }
  template <class T>
  [[nodiscard]] const T* get_if() const noexcept {
    return std::get_if<T>(&v_);
  }
  template <class T>
  [[nodiscard]] T* get_if() noexcept {
    return std::get_if<T>(&v_);
  }

  [[nodiscard]] bool is_integer() const noexcept { return v_.index() <= 1; }
  [[nodiscard]] bool is_float() const noexcept { return v_.index() == 2; }
  [[nodiscard]] bool is_number() const noexcept { return v_.index() <= 2; }
  [[nodiscard]] bool is_atom() const noexcept { return kind() == term_kind::atom; }
  [[nodiscard]] bool is_atom(std::string_view name) const noexcept {
    const auto* a = get_if<atom>();
    return a != nullptr && *a == name;
  }
  [[nodiscard]] bool is_bool() const noexcept { return is_atom("true") || is_atom("false"); }
  [[nodiscard]] bool is_binary() const noexcept { return kind() == term_kind::binary; }
  /// True for binaries too, as Erlang's is_bitstring/1.
  [[nodiscard]] bool is_bitstring() const noexcept {
    return kind() == term_kind::binary || kind() == term_kind::bitstring;
  }
  [[nodiscard]] bool is_tuple() const noexcept { return kind() == term_kind::tuple; }
  [[nodiscard]] bool is_tuple(std::size_t size) const noexcept {
    const auto* t = get_if<tuple>();
    return t != nullptr && t->elements.size() == size;
  }
  /// True for [] and for improper lists too (Erlang's is_list/1).
  [[nodiscard]] bool is_list() const noexcept { return kind() == term_kind::list; }
  [[nodiscard]] bool is_nil() const noexcept {
    const auto* l = get_if<list>();
    return l != nullptr && l->elements.empty() && l->is_proper();
  }
  [[nodiscard]] bool is_map() const noexcept { return kind() == term_kind::map; }
  [[nodiscard]] bool is_pid() const noexcept { return kind() == term_kind::pid; }
  [[nodiscard]] bool is_port() const noexcept { return kind() == term_kind::port; }
  [[nodiscard]] bool is_reference() const noexcept { return kind() == term_kind::reference; }
  /// A fun or an export.
  [[nodiscard]] bool is_fun() const noexcept {
    return kind() == term_kind::fun || kind() == term_kind::export_fun;
  }

  /// The held value, or nullptr if the term holds something else.
  [[nodiscard]] const atom* as_atom() const noexcept { return get_if<atom>(); }
  [[nodiscard]] const binary* as_binary() const noexcept { return get_if<binary>(); }
  [[nodiscard]] const tuple* as_tuple() const noexcept { return get_if<tuple>(); }
  [[nodiscard]] const list* as_list() const noexcept { return get_if<list>(); }
  [[nodiscard]] const map* as_map() const noexcept { return get_if<map>(); }
  [[nodiscard]] const pid* as_pid() const noexcept { return get_if<pid>(); }
  [[nodiscard]] const port* as_port() const noexcept { return get_if<port>(); }
  [[nodiscard]] const reference* as_reference() const noexcept { return get_if<reference>(); }

  /// Converts to T, or nullopt. T is an integral type (the integer must fit), a floating type
  /// (from a float only), bool (from the atoms true/false), std::string (from a binary, or a
  /// proper list of code points, returned as UTF-8) or atom.
  template <class T>
  [[nodiscard]] std::optional<T> try_as() const;
  /// As try_as, or throws std::system_error(term_errc::wrong_type).
  template <class T>
  [[nodiscard]] T as() const {
    auto v = try_as<T>();
    if (!v) throw_wrong_type();
    return std::move(*v);
  }

  friend bool operator==(const term& a, const term& b) noexcept;
  friend std::weak_ordering operator<=>(const term& a, const term& b) noexcept;
  /// A string literal would be a binary: say `is_atom("ok")` or `== atom{"ok"}`.
  friend bool operator==(const term&, const char*) = delete;

 private:
  void set_unsigned(std::uint64_t u);
  [[noreturn]] static void throw_wrong_type();
  [[nodiscard]] std::optional<std::int64_t> int64_value() const noexcept;
  [[nodiscard]] std::optional<std::string> string_value() const;

  variant_type v_;
};

template <class T>
std::optional<T> term::try_as() const {
  if constexpr (std::same_as<T, bool>) {
    if (is_atom("true")) return true;
    if (is_atom("false")) return false;
    return std::nullopt;
  } else if constexpr (std::integral<T>) {
    const auto v = int64_value();
    if (!v) {
      if constexpr (std::same_as<T, std::uint64_t>) {
        const auto* b = get_if<big_integer>();
        if (b != nullptr && !b->negative && b->magnitude.size() <= 8) {
          std::uint64_t u = 0;
          for (std::size_t i = b->magnitude.size(); i-- > 0;) u = (u << 8U) | b->magnitude[i];
          return u;
        }
      }
      return std::nullopt;
    }
    if (!std::in_range<T>(*v)) return std::nullopt;
    return static_cast<T>(*v);
  } else if constexpr (std::floating_point<T>) {
    const auto* d = get_if<double>();
    if (d == nullptr) return std::nullopt;
    return static_cast<T>(*d);
  } else if constexpr (std::same_as<T, std::string>) {
    return string_value();
  } else if constexpr (std::same_as<T, atom>) {
    const auto* a = get_if<atom>();
    if (a == nullptr) return std::nullopt;
    return *a;
  } else {
    static_assert(sizeof(T) == 0,
                  "term::try_as supports integers, floats, bool, std::string, atom");
  }
}

/// The list of code points of UTF-8 `text`, as an Erlang "string" literal is.
/// @throws std::system_error(term_errc::invalid_utf8).
[[nodiscard]] term charlist(std::string_view text);

/// A tuple of the arguments (each converted to a term), moving them in. Call it qualified
/// (`dist::make_tuple`): unqualified, std::make_tuple may be found too.
template <class... A>
[[nodiscard]] tuple make_tuple(A&&... a) {
  std::vector<term> e;
  e.reserve(sizeof...(A));
  (e.emplace_back(std::forward<A>(a)), ...);
  return tuple(std::move(e));
}

/// A proper list of the arguments (each converted to a term), moving them in.
template <class... A>
[[nodiscard]] list make_list(A&&... a) {
  std::vector<term> e;
  e.reserve(sizeof...(A));
  (e.emplace_back(std::forward<A>(a)), ...);
  return list(std::move(e));
}

/// Writes `format_term(t, term_style::readable)` (Erlang syntax, see term_text.hpp).
std::ostream& operator<<(std::ostream& os, const term& t);

// Members that need a complete term.
inline tuple::tuple() noexcept = default;
inline list::list() noexcept = default;
inline map::map() noexcept = default;
inline tuple::tuple(std::initializer_list<term> init) : elements(init) {}
inline tuple::tuple(std::vector<term> e) noexcept : elements(std::move(e)) {}
inline std::size_t tuple::size() const noexcept {
  return elements.size();
}
inline const term& tuple::operator[](std::size_t i) const noexcept {
  return elements[i];
}
inline list::list(std::initializer_list<term> init) : elements(init) {}
inline list::list(std::vector<term> e) noexcept : elements(std::move(e)) {}
inline std::size_t list::size() const noexcept {
  return elements.size();
}
inline const term& list::operator[](std::size_t i) const noexcept {
  return elements[i];
}
inline bool list::empty() const noexcept {
  return elements.empty();
}
inline std::vector<term>::const_iterator tuple::begin() const noexcept {
  return elements.begin();
}
inline std::vector<term>::const_iterator tuple::end() const noexcept {
  return elements.end();
}
inline std::vector<term>::const_iterator list::begin() const noexcept {
  return elements.begin();
}
inline std::vector<term>::const_iterator list::end() const noexcept {
  return elements.end();
}
inline std::size_t map::size() const noexcept {
  return entries.size();
}
inline std::vector<std::pair<term, term>>::const_iterator map::begin() const noexcept {
  return entries.begin();
}
inline std::vector<std::pair<term, term>>::const_iterator map::end() const noexcept {
  return entries.end();
}

}  // namespace moat::dist
