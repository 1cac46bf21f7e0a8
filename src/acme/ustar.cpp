// The ustar archive format of storage backups (see ustar.hpp): POSIX.1-1988 headers, pax
// extended headers ('x') for names that do not fit, two zero blocks at the end.
#include "acme/ustar.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <moat/acme/storage.hpp>
#include <optional>
#include <set>

namespace moat::acme {

namespace ustar {

namespace {

constexpr std::size_t block = 512;

void put_octal(char* field, std::size_t width, std::uint64_t v) {
  // width-1 octal digits, zero-padded, then NUL (values are bounded well below the width)
  for (std::size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7U));
    v >>= 3;
  }
  field[width - 1] = '\0';
}

void put(char* field, std::size_t width, std::string_view s) {
  if (!s.empty()) std::memcpy(field, s.data(), std::min(width, s.size()));  // may be null else
}

std::uint64_t checksum_unsigned(const char* h) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < block; ++i) {
    sum += (i >= 148 && i < 156) ? 0x20U : static_cast<unsigned char>(h[i]);
  }
  return sum;
}

std::int64_t checksum_signed(const char* h) {
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < block; ++i) {
    sum += (i >= 148 && i < 156) ? 0x20 : static_cast<signed char>(h[i]);
  }
  return sum;
}

void header(std::string& out, std::string_view name, std::string_view prefix, char type,
            std::uint64_t size, std::int64_t mtime) {
  char h[block] = {};
  put(h, 100, name);
  put_octal(h + 100, 8, 0600);
  put_octal(h + 108, 8, static_cast<std::uint64_t>(::getuid()) & 07777777U);
  put_octal(h + 116, 8, static_cast<std::uint64_t>(::getgid()) & 07777777U);
  put_octal(h + 124, 12, size);
  put_octal(h + 136, 12, static_cast<std::uint64_t>(mtime < 0 ? 0 : mtime));
  h[156] = type;
  put(h + 257, 6, std::string_view("ustar\0", 6));
  put(h + 263, 2, "00");
  put(h + 345, 155, prefix);
  put_octal(h + 148, 7, checksum_unsigned(h));  // six digits and a NUL, then a space
  h[155] = ' ';
  out.append(h, block);
}

void pad(std::string& out) {
  out.append((block - out.size() % block) % block, '\0');
}

// A pax record "<len> path=<name>\n", where <len> counts the whole record.
std::string pax_path_record(std::string_view name) {
  const std::size_t body = std::string_view(" path=").size() + name.size() + 1;
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " path=" + std::string(name) + "\n";
}

}  // namespace

std::string write(const std::vector<entry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    std::string_view name = e.name;
    std::string_view prefix;
    if (name.size() > 100) {
      // Split at a '/' so that the prefix fits 155 bytes and the rest 100.
      const std::size_t limit = std::min<std::size_t>(155, name.size() - 1);
      std::size_t cut = name.rfind('/', limit);
      if (cut != std::string_view::npos && name.size() - cut - 1 <= 100 && cut > 0) {
        prefix = name.substr(0, cut);
        name = name.substr(cut + 1);
      } else {
        const std::string records = pax_path_record(e.name);
        header(out, "PaxHeader", {}, 'x', records.size(), e.mtime);
        out += records;
        pad(out);
        name = name.substr(0, 100);
      }
    }
    header(out, name, prefix, '0', e.data.size(), e.mtime);
    out += e.data;
    pad(out);
  }
  out.append(2 * block, '\0');
  return out;
}

namespace {

// An octal numeric field: optional leading spaces, digits, then NUL/space padding.
std::optional<std::uint64_t> octal(std::string_view f) {
  std::size_t i = 0;
  while (i < f.size() && f[i] == ' ') ++i;
  std::uint64_t v = 0;
  std::size_t digits = 0;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i, ++digits) {
    if (v > (UINT64_MAX >> 3)) return std::nullopt;
    v = (v << 3) | static_cast<std::uint64_t>(f[i] - '0');
  }
  for (; i < f.size(); ++i) {
    if (f[i] != '\0' && f[i] != ' ') return std::nullopt;
  }
  if (digits == 0) return std::nullopt;
  return v;
}

std::string field(const char* h, std::size_t width) {
  return std::string(h, ::strnlen(h, width));
}

bool all_zero(std::string_view s) {
  return s.find_first_not_of('\0') == std::string_view::npos;
}

// The "path" of pax records; empty if none; nullopt if the records are malformed.
std::optional<std::string> pax_path(std::string_view records) {
  std::string path;
  while (!records.empty()) {
    const std::size_t sp = records.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp > 20) return std::nullopt;
    std::size_t len = 0;
    for (std::size_t i = 0; i < sp; ++i) {
      if (records[i] < '0' || records[i] > '9') return std::nullopt;
      len = len * 10 + static_cast<std::size_t>(records[i] - '0');
    }
    if (len <= sp + 1 || len > records.size() || records[len - 1] != '\n') return std::nullopt;
    const std::string_view kv = records.substr(sp + 1, len - sp - 2);
    const std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    if (kv.substr(0, eq) == "path") path = std::string(kv.substr(eq + 1));
    records.remove_prefix(len);
  }
  return path;
}

}  // namespace

parsed read(std::string_view a) {
  parsed out;
  std::set<std::string> seen;
  std::optional<std::string> next_path;  // from a pax header
  std::size_t index = 0;
  std::size_t off = 0;
  auto fail = [&](std::string why) {
    out.entries.clear();
    out.error = std::move(why);
    return out;
  };
  while (true) {
    if (a.size() - off < block) {
      return fail(off == a.size()
                      ? "truncated: it ends at byte " + std::to_string(off) +
                            " without the end-of-archive blocks"
                      : "truncated: a header at byte " + std::to_string(off) + " is cut short");
    }
    const char* h = a.data() + off;
    if (all_zero(a.substr(off, block))) {
      if (a.size() - off < 2 * block || !all_zero(a.substr(off + block, block))) {
        return fail("truncated or corrupt: one zero block at byte " + std::to_string(off) +
                    " instead of the two that end an archive");
      }
      if (!all_zero(a.substr(off + 2 * block))) {
        return fail("data after the end-of-archive blocks at byte " +
                    std::to_string(off + 2 * block));
      }
      if (next_path) return fail("a pax header at the end, with no entry after it");
      return out;
    }
    ++index;
    const std::string where =
        "entry " + std::to_string(index) + " (header at byte " + std::to_string(off) + ")";
    const auto sum = octal(std::string_view(h + 148, 8));
    if (!sum ||
        (*sum != checksum_unsigned(h) && static_cast<std::int64_t>(*sum) != checksum_signed(h))) {
      return fail(where + ": bad header checksum");
    }
    if (std::string_view(h + 257, 5) != "ustar") {
      return fail(where + ": not a ustar header (magic '" + field(h + 257, 6) + "')");
    }
    const auto size = octal(std::string_view(h + 124, 12));
    if (!size) return fail(where + ": bad size field");
    const std::size_t data_at = off + block;
    if (*size > a.size() - data_at) {
      return fail("truncated: " + where + " has " + std::to_string(*size) +
                  " bytes of data, only " + std::to_string(a.size() - data_at) + " remain");
    }
    const std::string_view data = a.substr(data_at, static_cast<std::size_t>(*size));
    const std::size_t padded = static_cast<std::size_t>((*size + block - 1) / block * block);
    if (padded > a.size() - data_at) {
      return fail("truncated: the padding of " + where + " is cut short");
    }
    off = data_at + padded;
    const char type = h[156];
    if (type == 'x') {
      next_path = pax_path(data);
      if (!next_path) return fail(where + ": malformed pax extended header");
      continue;
    }
    if (type == 'g') continue;  // global pax header: nothing we use
    std::string name = field(h, 100);
    const std::string prefix = field(h + 345, 155);
    if (!prefix.empty()) name = prefix + "/" + name;
    if (next_path && !next_path->empty()) name = *next_path;
    next_path.reset();
    if (type == '5') {
      if (*size != 0) return fail(where + ": a directory with data");
      continue;
    }
    if (type != '0' && type != '\0') {
      return fail(where + " '" + name.substr(0, 100) + "': entry type '" + std::string(1, type) +
                  "' is not supported (only regular files and directories)");
    }
    if (std::string why = validate_key(name); !why.empty()) {
      return fail(where + ": the name '" + name.substr(0, 100) + "' is not a storage key (" + why +
                  ")");
    }
    if (!seen.insert(name).second) return fail(where + ": '" + name + "' appears twice");
    const auto mtime = octal(std::string_view(h + 136, 12));
    if (!mtime) return fail(where + ": bad mtime field");
    out.entries.push_back({name, std::string(data), static_cast<std::int64_t>(*mtime)});
  }
}

}  // namespace ustar

}  // namespace moat::acme
