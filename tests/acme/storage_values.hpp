#pragma once
// Values whose completeness can be checked: generation N of SIZE bytes is
// "gen=<N>;" + filler derived from N + ";end=<N>\n", exactly SIZE bytes (at least 64).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moat::test {

inline std::string storage_value(std::uint64_t gen, std::size_t size) {
  if (size < 64) size = 64;
  const std::string head = "gen=" + std::to_string(gen) + ";";
  const std::string tail = ";end=" + std::to_string(gen) + "\n";
  std::string v = head;
  const char fill = static_cast<char>('a' + gen % 26);
  v.append(size - head.size() - tail.size(), fill);
  v += tail;
  return v;
}

/// The generation of a complete value of `size` bytes, or nullopt if it is partial, empty or
/// mixed.
inline std::optional<std::uint64_t> storage_value_generation(std::string_view v, std::size_t size) {
  if (!v.starts_with("gen=")) return std::nullopt;
  const std::size_t semi = v.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  std::uint64_t gen = 0;
  for (std::size_t i = 4; i < semi; ++i) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
    gen = gen * 10 + static_cast<std::uint64_t>(v[i] - '0');
  }
  if (v != storage_value(gen, size)) return std::nullopt;
  return gen;
}

}  // namespace moat::test
