// Decoding the external term format: a bounded recursive descent over a byte span.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "dist/external_tags.hpp"
#include "dist/utf8.hpp"
#include "moat/dist/external.hpp"

namespace moat::dist {

namespace {

class decoder {
 public:
  decoder(const std::uint8_t* p, const std::uint8_t* end, const decode_limits& limits) noexcept
      : p_(p), end_(end), limits_(limits) {}

  [[nodiscard]] std::size_t left() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  [[nodiscard]] const std::uint8_t* position() const noexcept { return p_; }
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  bool fail(term_errc e) noexcept {
    if (!error_) error_ = e;
    return false;
  }

  bool need(std::size_t n) noexcept { return n <= left() || fail(term_errc::truncated); }
  // A count of elements each taking at least `each` bytes: refused before any allocation.
  bool need_elements(std::uint64_t count, std::size_t each) noexcept {
    if (count > left() / each)
      return fail(left() == 0 ? term_errc::truncated : term_errc::too_large);
    return true;
  }

  std::uint8_t u8() noexcept { return *p_++; }
  std::uint32_t u16() noexcept {
    const std::uint32_t v = (std::uint32_t{p_[0]} << 8U) | p_[1];
    p_ += 2;
    return v;
  }
  std::uint32_t u32() noexcept {
    const std::uint32_t v = (std::uint32_t{p_[0]} << 24U) | (std::uint32_t{p_[1]} << 16U) |
                            (std::uint32_t{p_[2]} << 8U) | p_[3];
    p_ += 4;
    return v;
  }
  std::uint64_t u64() noexcept {
    const std::uint64_t hi = u32();
    return (hi << 32U) | u32();
  }

  // One term (tag first) at nesting depth `depth` (1 for the outermost).
  bool term_(term& out, std::size_t depth);
  bool atom_(atom& out);

 private:
  bool atom_text(std::size_t len, bool utf8, atom& out);
  bool big(std::size_t n, term& out);
  bool float_string(term& out);
  bool list_(term& out, std::size_t depth, std::uint8_t first_tag);
  bool map_(term& out, std::size_t depth);
  bool pid_(term& out, bool old);
  bool port_(term& out, std::uint8_t t);
  bool reference_(term& out, std::uint8_t t);
  bool fun_(term& out);
  bool export_(term& out);

  const std::uint8_t* p_;
  const std::uint8_t* end_;
  const decode_limits& limits_;
  std::error_code error_{};
};

bool decoder::atom_text(std::size_t len, bool utf8, atom& out) {
  if (!need(len)) return false;
  const auto* s = reinterpret_cast<const char*>(p_);
  p_ += len;
  auto intern = [&](std::string_view name) {
    return atom::try_from_checked(name, out) || fail(term_errc::too_many_atoms);
  };
  if (utf8) {
    // An atom seen recently (the usual case on a connection) is valid by being in the table.
    if (atom::try_recent({s, len}, out)) return true;
    unsigned high = 0;  // ASCII, the usual case, needs no decoding
    for (std::size_t i = 0; i < len; ++i) high |= static_cast<unsigned char>(s[i]);
    if (high < 0x80U) {
      if (len > 255) return fail(term_errc::atom_too_long);
      return intern({s, len});
    }
    const auto n = detail::utf8_length({s, len});
    if (!n) return fail(term_errc::invalid_utf8);
    if (*n > 255) return fail(term_errc::atom_too_long);
    return intern({s, len});
  }
  if (len > 255) return fail(term_errc::atom_too_long);
  std::string name;
  name.reserve(len);
  for (std::size_t i = 0; i < len; ++i) {
    detail::utf8_append(name, static_cast<unsigned char>(s[i]));
  }
  return intern(name);
}

bool decoder::atom_(atom& out) {
  if (!need(1)) return false;
  const std::uint8_t t = u8();
  switch (t) {
    case tag::small_atom_utf8:
    case tag::small_atom_latin1:
      if (!need(1)) return false;
      return atom_text(u8(), t == tag::small_atom_utf8, out);
    case tag::atom_utf8:
    case tag::atom_latin1:
      if (!need(2)) return false;
      return atom_text(u16(), t == tag::atom_utf8, out);
    default:
      return fail(term_errc::invalid_field);
  }
}

bool decoder::big(std::size_t n, term& out) {
  if (!need(1)) return false;
  const std::uint8_t sign = u8();
  if (sign > 1) return fail(term_errc::invalid_field);
  if (!need(n)) return false;
  big_integer b;
  b.negative = sign == 1;
  b.magnitude.assign(p_, p_ + n);
  p_ += n;
  out = term(std::move(b));
  return true;
}

bool decoder::float_string(term& out) {
  if (!need(31)) return false;
  const auto* s = reinterpret_cast<const char*>(p_);
  p_ += 31;
  const std::size_t len = static_cast<std::size_t>(std::find(s, s + 31, '\0') - s);
  std::size_t start = 0;
  while (start < len && s[start] == ' ') ++start;
  double d = 0;
  const auto [end, ec] = std::from_chars(s + start, s + len, d);
  if (ec != std::errc{} || end != s + len || !std::isfinite(d)) {
    return fail(term_errc::invalid_float);
  }
  out.value().emplace<double>(d);
  return true;
}

bool decoder::list_(term& out, std::size_t depth, std::uint8_t first_tag) {
  list l;
  std::uint8_t t = first_tag;
  // A tail that is itself LIST_EXT / STRING_EXT (never sent by Erlang, but valid) continues
  // the same list here, without recursion.
  for (;;) {
    if (t == tag::nil) break;
    if (t == tag::string) {
      if (!need(2)) return false;
      const std::size_t n = u16();
      if (!need(n)) return false;
      l.elements.reserve(l.elements.size() + n);
      for (std::size_t i = 0; i < n; ++i) l.elements.emplace_back(std::int64_t{u8()});
      break;
    }
    if (!need(4)) return false;
    const std::uint32_t n = u32();
    if (!need_elements(std::uint64_t{n} + 1, 1)) return false;
    const std::size_t base = l.elements.size();
    l.elements.resize(base + n);
    for (std::size_t i = 0; i < n; ++i) {
      if (!term_(l.elements[base + i], depth + 1)) return false;
    }
    if (!need(1)) return false;
    const std::uint8_t tail = *p_;
    if (tail == tag::nil || tail == tag::list || tail == tag::string) {
      ++p_;
      t = tail;
      continue;
    }
    term tail_term;
    if (!term_(tail_term, depth + 1)) return false;
    l.set_tail(std::move(tail_term));
    break;
  }
  out = term(std::move(l));
  return true;
}

bool decoder::map_(term& out, std::size_t depth) {
  if (!need(4)) return false;
  const std::uint32_t n = u32();
  if (!need_elements(n, 2)) return false;
  map m;
  m.entries.resize(n);
  for (auto& [k, v] : m.entries) {
    if (!term_(k, depth + 1) || !term_(v, depth + 1)) return false;
  }
  if (n > 1) {
    bool duplicate = false;
    if (n <= 8) {
      for (std::size_t i = 0; i < n && !duplicate; ++i) {
        for (std::size_t j = i + 1; j < n && !duplicate; ++j) {
          duplicate = m.entries[i].first == m.entries[j].first;
        }
      }
    } else {
      std::vector<const term*> keys;
      keys.reserve(n);
      for (const auto& e : m.entries) keys.push_back(&e.first);
      std::sort(keys.begin(), keys.end(), [](const term* a, const term* b) { return *a < *b; });
      for (std::size_t i = 1; i < keys.size() && !duplicate; ++i) {
        duplicate = *keys[i - 1] == *keys[i];
      }
    }
    if (duplicate) return fail(term_errc::duplicate_map_key);
  }
  out.value().emplace<map>(std::move(m));
  return true;
}

bool decoder::pid_(term& out, bool old) {
  pid p;
  if (!atom_(p.node) || !need(old ? 9 : 12)) return false;
  p.id = u32();
  p.serial = u32();
  p.creation = old ? u8() : u32();
  out.value().emplace<pid>(std::move(p));
  return true;
}

bool decoder::port_(term& out, std::uint8_t t) {
  port p;
  if (!atom_(p.node)) return false;
  if (t == tag::v4_port) {
    if (!need(12)) return false;
    p.id = u64();
    p.creation = u32();
  } else if (t == tag::new_port) {
    if (!need(8)) return false;
    p.id = u32();
    p.creation = u32();
  } else {
    if (!need(5)) return false;
    p.id = u32();
    p.creation = u8();
  }
  out.value().emplace<port>(std::move(p));
  return true;
}

bool decoder::reference_(term& out, std::uint8_t t) {
  std::size_t n = 1;
  if (t != tag::reference_old) {
    if (!need(2)) return false;
    n = u16();
    if (n < 1 || n > 5) return fail(term_errc::invalid_field);
  }
  atom node;
  if (!atom_(node)) return false;
  std::uint32_t creation = 0;
  std::array<std::uint32_t, 5> ids{};
  if (t == tag::reference_old) {
    if (!need(5)) return false;
    ids[0] = u32();
    creation = u8();
  } else {
    if (!need((t == tag::newer_reference ? 4 : 1) + 4 * n)) return false;
    creation = t == tag::newer_reference ? u32() : u8();
    for (std::size_t i = 0; i < n; ++i) ids[i] = u32();
  }
  out.value().emplace<reference>(std::move(node), creation, std::span(ids.data(), n));
  return true;
}

bool decoder::fun_(term& out) {
  const std::uint8_t* start = p_ - 1;
  if (!need(4)) return false;
  const std::uint32_t size = u32();
  if (size < 29) return fail(term_errc::invalid_field);
  if (!need(size - 4)) return false;
  p_ += size - 4;
  out.value().emplace<fun>(std::vector<std::uint8_t>(start, p_));
  return true;
}

bool decoder::export_(term& out) {
  export_fun e;
  if (!atom_(e.module) || !atom_(e.function) || !need(2)) return false;
  if (u8() != tag::small_integer) return fail(term_errc::invalid_field);
  e.arity = u8();
  out.value().emplace<export_fun>(std::move(e));
  return true;
}

bool decoder::term_(term& out, std::size_t depth) {
  if (depth > limits_.max_depth) return fail(term_errc::too_deep);
  if (!need(1)) return false;
  const std::uint8_t t = u8();
  switch (t) {
    case tag::small_integer:
      if (!need(1)) return false;
      out.value().emplace<std::int64_t>(u8());
      return true;
    case tag::integer:
      if (!need(4)) return false;
      out.value().emplace<std::int64_t>(static_cast<std::int32_t>(u32()));
      return true;
    case tag::small_big:
      if (!need(1)) return false;
      return big(u8(), out);
    case tag::large_big:
      if (!need(4)) return false;
      return big(u32(), out);
    case tag::new_float: {
      if (!need(8)) return false;
      const double d = std::bit_cast<double>(u64());
      if (!std::isfinite(d)) return fail(term_errc::invalid_float);
      out.value().emplace<double>(d);
      return true;
    }
    case tag::float_string:
      return float_string(out);
    case tag::atom_utf8:
    case tag::small_atom_utf8:
    case tag::atom_latin1:
    case tag::small_atom_latin1: {
      --p_;
      atom a;
      if (!atom_(a)) return false;
      out.value().emplace<atom>(std::move(a));
      return true;
    }
    case tag::binary: {
      if (!need(4)) return false;
      const std::uint32_t n = u32();
      if (!need(n)) return false;
      out.value().emplace<binary>(std::vector<std::uint8_t>(p_, p_ + n));
      p_ += n;
      return true;
    }
    case tag::bit_binary: {
      if (!need(5)) return false;
      const std::uint32_t n = u32();
      const unsigned bits = u8();
      if (n == 0 && bits == 0) {
        out.value().emplace<binary>();
        return true;
      }
      if (n == 0 || bits < 1 || bits > 8) return fail(term_errc::invalid_field);
      if (!need(n)) return false;
      out = term(bitstring(std::vector<std::uint8_t>(p_, p_ + n), bits));
      p_ += n;
      return true;
    }
    case tag::small_tuple:
    case tag::large_tuple: {
      if (!need(t == tag::small_tuple ? 1 : 4)) return false;
      const std::uint32_t n = t == tag::small_tuple ? u8() : u32();
      if (!need_elements(n, 1)) return false;
      auto& tu = out.value().emplace<tuple>();
      tu.elements.resize(n);
      for (auto& e : tu.elements) {
        if (!term_(e, depth + 1)) return false;
      }
      return true;
    }
    case tag::nil:
    case tag::string:
    case tag::list:
      return list_(out, depth, t);
    case tag::map:
      return map_(out, depth);
    case tag::new_pid:
    case tag::pid_old:
      return pid_(out, t == tag::pid_old);
    case tag::v4_port:
    case tag::new_port:
    case tag::port_old:
      return port_(out, t);
    case tag::newer_reference:
    case tag::new_reference:
    case tag::reference_old:
      return reference_(out, t);
    case tag::new_fun:
      return fun_(out);
    case tag::export_ext:
      return export_(out);
    case tag::local:
      return fail(term_errc::local_term);
    case tag::atom_cache_ref:
      return fail(term_errc::atom_cache_ref);
    default:
      return fail(term_errc::unknown_tag);
  }
}

// Inflates a compressed term's data (after tag 80 and the size) and decodes it.
std::error_code decode_compressed(const std::uint8_t* p, std::size_t left, std::size_t& used,
                                  term& out, const decode_limits& limits) {
  if (!limits.allow_compressed) return term_errc::bad_compression;
  if (left < 4) return term_errc::truncated;
  const std::size_t size =
      (std::size_t{p[0]} << 24U) | (std::size_t{p[1]} << 16U) | (std::size_t{p[2]} << 8U) | p[3];
  if (size > limits.max_inflated_size) return term_errc::too_large;
  // Deflate inflates at most 1032 times: a larger claim cannot be met, and refusing it keeps
  // the allocation proportional to the input.
  constexpr std::size_t max_ratio = 1032;
  if (size == 0 || size > (left - 4) * max_ratio + 64) return term_errc::bad_compression;
  std::vector<std::uint8_t> inflated(size);
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return term_errc::bad_compression;
  zs.next_in = const_cast<Bytef*>(p + 4);  // zlib's API is not const-correct
  zs.avail_in =
      static_cast<uInt>(std::min<std::size_t>(left - 4, std::numeric_limits<uInt>::max()));
  zs.next_out = inflated.data();
  zs.avail_out = static_cast<uInt>(size);
  const int rc = inflate(&zs, Z_FINISH);
  const std::size_t consumed = (left - 4) - zs.avail_in;
  const bool complete = rc == Z_STREAM_END && zs.avail_out == 0;
  inflateEnd(&zs);
  if (!complete) {
    return rc == Z_BUF_ERROR && zs.avail_out != 0 ? term_errc::truncated
                                                  : term_errc::bad_compression;
  }
  used = 4 + consumed;
  decoder d(inflated.data(), inflated.data() + inflated.size(), limits);
  if (!d.term_(out, 1)) return d.error();
  if (d.left() != 0) return term_errc::bad_compression;
  return {};
}

}  // namespace

std::error_code decode_prefix(std::span<const std::uint8_t> bytes, term& out, std::size_t& used,
                              const decode_limits& limits) {
  used = 0;
  if (bytes.empty()) return term_errc::truncated;
  if (bytes[0] != external_version) return term_errc::bad_version;
  if (bytes.size() >= 2 && bytes[1] == tag::compressed) {
    std::size_t n = 0;
    if (auto ec = decode_compressed(bytes.data() + 2, bytes.size() - 2, n, out, limits)) return ec;
    used = 2 + n;
    return {};
  }
  decoder d(bytes.data() + 1, bytes.data() + bytes.size(), limits);
  if (!d.term_(out, 1)) return d.error();
  used = static_cast<std::size_t>(d.position() - bytes.data());
  return {};
}

std::error_code decode_body_prefix(std::span<const std::uint8_t> bytes, term& out,
                                   std::size_t& used, const decode_limits& limits) {
  used = 0;
  decoder d(bytes.data(), bytes.data() + bytes.size(), limits);
  if (!d.term_(out, 1)) return d.error();
  used = static_cast<std::size_t>(d.position() - bytes.data());
  return {};
}

std::error_code decode(std::span<const std::uint8_t> bytes, term& out,
                       const decode_limits& limits) {
  std::size_t used = 0;
  if (auto ec = decode_prefix(bytes, out, used, limits)) return ec;
  if (used != bytes.size()) return term_errc::trailing_bytes;
  return {};
}

term decode(std::span<const std::uint8_t> bytes, const decode_limits& limits) {
  term t;
  if (auto ec = decode(bytes, t, limits)) throw std::system_error(ec, "decode term");
  return t;
}

}  // namespace moat::dist
