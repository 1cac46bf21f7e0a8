// Encoding terms to the external term format: a size pass, then writes through a raw pointer
// into space reserved once.
#include <bit>
#include <cstring>
#include <system_error>

#include "dist/external_tags.hpp"
#include "moat/dist/external.hpp"

namespace moat::dist {

namespace {

constexpr std::size_t max_count = 0xFFFFFFFFU;

std::size_t checked(std::size_t n) {
  if (n > max_count) throw std::system_error(term_errc::too_large, "encode");
  return n;
}

std::size_t magnitude_bytes(std::uint64_t u) noexcept {
  return u == 0 ? 0 : static_cast<std::size_t>((64 - std::countl_zero(u) + 7) / 8);
}

std::uint64_t abs_u64(std::int64_t i) noexcept {
  return i < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(i);
}

// The significant length of a magnitude (high zero bytes dropped).
std::size_t big_length(const big_integer& b) noexcept {
  std::size_t n = b.magnitude.size();
  while (n > 0 && b.magnitude[n - 1] == 0) --n;
  return n;
}

std::size_t atom_size(const atom& a) noexcept {
  return a.name().size() <= 255 ? 2 + a.name().size() : 3 + a.name().size();
}

// Whether a proper list is a STRING_EXT: 1..65535 integers in 0..255.
bool is_byte_string(const list& l) noexcept {
  if (!l.is_proper() || l.elements.empty() || l.elements.size() > 65535) return false;
  for (const auto& e : l.elements) {
    const auto* i = e.get_if<std::int64_t>();
    if (i == nullptr || *i < 0 || *i > 255) return false;
  }
  return true;
}

std::size_t size_of(const term& t);

std::size_t size_of_list(const list& l) {
  if (l.elements.empty()) return l.tail() != nullptr ? size_of(*l.tail()) : 1;
  if (is_byte_string(l)) return 3 + l.elements.size();
  std::size_t n = 5 + (l.tail() != nullptr ? size_of(*l.tail()) : 1);
  for (const auto& e : l.elements) n += size_of(e);
  checked(l.elements.size());
  return n;
}

std::size_t size_of(const term& t) {
  switch (t.kind()) {
    case term_kind::integer: {
      const auto i = *t.get_if<std::int64_t>();
      if (i >= 0 && i <= 255) return 2;
      if (i >= INT32_MIN && i <= INT32_MAX) return 5;
      return 3 + magnitude_bytes(abs_u64(i));
    }
    case term_kind::big_integer: {
      const std::size_t n = checked(big_length(*t.get_if<big_integer>()));
      return n <= 255 ? 3 + n : 6 + n;
    }
    case term_kind::float_:
      return 9;
    case term_kind::atom:
      return atom_size(*t.as_atom());
    case term_kind::binary:
      return 5 + checked(t.as_binary()->bytes.size());
    case term_kind::bitstring:
      return 6 + checked(t.get_if<bitstring>()->bytes().size());
    case term_kind::tuple: {
      const auto& e = t.as_tuple()->elements;
      std::size_t n = checked(e.size()) <= 255 ? 2 : 5;
      for (const auto& x : e) n += size_of(x);
      return n;
    }
    case term_kind::list:
      return size_of_list(*t.as_list());
    case term_kind::map: {
      std::size_t n = 5;
      checked(t.as_map()->size());
      for (const auto& [k, v] : t.as_map()->entries) n += size_of(k) + size_of(v);
      return n;
    }
    case term_kind::pid:
      return 13 + atom_size(t.as_pid()->node);
    case term_kind::port: {
      const auto& p = *t.as_port();
      return (p.id <= 0xFFFFFFFFU ? 9 : 13) + atom_size(p.node);
    }
    case term_kind::reference: {
      const auto& r = *t.as_reference();
      return 7 + atom_size(r.node()) + 4 * r.ids().size();
    }
    case term_kind::fun:
      return t.get_if<fun>()->encoded().size();
    case term_kind::export_fun: {
      const auto& e = *t.get_if<export_fun>();
      return 3 + atom_size(e.module) + atom_size(e.function);
    }
  }
  return 0;
}

class writer {
 public:
  explicit writer(std::uint8_t* p) noexcept : p_(p) {}

  void u8(std::uint8_t v) noexcept { *p_++ = v; }
  void u16(std::size_t v) noexcept {
    u8(static_cast<std::uint8_t>(v >> 8U));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint64_t v) noexcept {
    for (unsigned s = 32; s > 0; s -= 8) u8(static_cast<std::uint8_t>(v >> (s - 8)));
  }
  void u64(std::uint64_t v) noexcept {
    for (unsigned s = 64; s > 0; s -= 8) u8(static_cast<std::uint8_t>(v >> (s - 8)));
  }
  void bytes(const void* data, std::size_t n) noexcept {
    if (n > 0) std::memcpy(p_, data, n);
    p_ += n;
  }

  void atom_(const atom& a) noexcept {
    const auto& s = a.name();
    if (s.size() <= 255) {
      u8(tag::small_atom_utf8);
      u8(static_cast<std::uint8_t>(s.size()));
    } else {
      u8(tag::atom_utf8);
      u16(s.size());
    }
    bytes(s.data(), s.size());
  }

  void big(bool negative, const std::uint8_t* mag, std::size_t n) noexcept {
    if (n <= 255) {
      u8(tag::small_big);
      u8(static_cast<std::uint8_t>(n));
    } else {
      u8(tag::large_big);
      u32(n);
    }
    u8(negative ? 1 : 0);
    bytes(mag, n);
  }

  void integer(std::int64_t i) noexcept {
    if (i >= 0 && i <= 255) {
      u8(tag::small_integer);
      u8(static_cast<std::uint8_t>(i));
    } else if (i >= INT32_MIN && i <= INT32_MAX) {
      u8(tag::integer);
      u32(static_cast<std::uint32_t>(static_cast<std::int32_t>(i)));
    } else {
      std::uint64_t u = abs_u64(i);
      std::uint8_t mag[8];
      const std::size_t n = magnitude_bytes(u);
      for (std::size_t k = 0; k < n; ++k, u >>= 8U) mag[k] = static_cast<std::uint8_t>(u);
      big(i < 0, mag, n);
    }
  }

  void list_(const list& l) {
    if (l.elements.empty()) {
      if (l.tail() != nullptr) {
        term_(*l.tail());
      } else {
        u8(tag::nil);
      }
      return;
    }
    if (is_byte_string(l)) {
      u8(tag::string);
      u16(l.elements.size());
      for (const auto& e : l.elements) u8(static_cast<std::uint8_t>(*e.get_if<std::int64_t>()));
      return;
    }
    u8(tag::list);
    u32(l.elements.size());
    for (const auto& e : l.elements) term_(e);
    if (l.tail() != nullptr) {
      term_(*l.tail());
    } else {
      u8(tag::nil);
    }
  }

  void term_(const term& t) {
    switch (t.kind()) {
      case term_kind::integer:
        integer(*t.get_if<std::int64_t>());
        return;
      case term_kind::big_integer: {
        const auto& b = *t.get_if<big_integer>();
        big(b.negative, b.magnitude.data(), big_length(b));
        return;
      }
      case term_kind::float_:
        u8(tag::new_float);
        u64(std::bit_cast<std::uint64_t>(*t.get_if<double>()));
        return;
      case term_kind::atom:
        atom_(*t.as_atom());
        return;
      case term_kind::binary: {
        const auto& b = t.as_binary()->bytes;
        u8(tag::binary);
        u32(b.size());
        bytes(b.data(), b.size());
        return;
      }
      case term_kind::bitstring: {
        const auto& b = *t.get_if<bitstring>();
        u8(tag::bit_binary);
        u32(b.bytes().size());
        u8(static_cast<std::uint8_t>(b.bits()));
        bytes(b.bytes().data(), b.bytes().size());
        return;
      }
      case term_kind::tuple: {
        const auto& e = t.as_tuple()->elements;
        if (e.size() <= 255) {
          u8(tag::small_tuple);
          u8(static_cast<std::uint8_t>(e.size()));
        } else {
          u8(tag::large_tuple);
          u32(e.size());
        }
        for (const auto& x : e) term_(x);
        return;
      }
      case term_kind::list:
        list_(*t.as_list());
        return;
      case term_kind::map: {
        const auto& m = *t.as_map();
        u8(tag::map);
        u32(m.size());
        for (const auto& [k, v] : m.entries) {
          term_(k);
          term_(v);
        }
        return;
      }
      case term_kind::pid: {
        const auto& p = *t.as_pid();
        u8(tag::new_pid);
        atom_(p.node);
        u32(p.id);
        u32(p.serial);
        u32(p.creation);
        return;
      }
      case term_kind::port: {
        const auto& p = *t.as_port();
        if (p.id <= 0xFFFFFFFFU) {
          u8(tag::new_port);
          atom_(p.node);
          u32(p.id);
        } else {
          u8(tag::v4_port);
          atom_(p.node);
          u64(p.id);
        }
        u32(p.creation);
        return;
      }
      case term_kind::reference: {
        const auto& r = *t.as_reference();
        u8(tag::newer_reference);
        u16(r.ids().size());
        atom_(r.node());
        u32(r.creation());
        for (auto id : r.ids()) u32(id);
        return;
      }
      case term_kind::fun: {
        const auto& b = t.get_if<fun>()->encoded();
        bytes(b.data(), b.size());
        return;
      }
      case term_kind::export_fun: {
        const auto& e = *t.get_if<export_fun>();
        u8(tag::export_ext);
        atom_(e.module);
        atom_(e.function);
        u8(tag::small_integer);
        u8(e.arity);
        return;
      }
    }
  }

  [[nodiscard]] std::uint8_t* position() const noexcept { return p_; }

 private:
  std::uint8_t* p_;
};

}  // namespace

std::size_t encoded_size(const term& t) {
  return 1 + size_of(t);
}

void encode_to(std::vector<std::uint8_t>& out, const term& t) {
  const std::size_t n = encoded_size(t);
  const std::size_t start = out.size();
  out.resize(start + n);
  writer w(out.data() + start);
  w.u8(external_version);
  w.term_(t);
}

void encode_body_to(std::vector<std::uint8_t>& out, const term& t) {
  const std::size_t n = size_of(t);
  const std::size_t start = out.size();
  out.resize(start + n);
  writer w(out.data() + start);
  w.term_(t);
}

std::vector<std::uint8_t> encode(const term& t) {
  std::vector<std::uint8_t> out;
  encode_to(out, t);
  return out;
}

}  // namespace moat::dist
