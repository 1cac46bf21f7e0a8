#pragma once
// Helpers shared by the framing tests.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "moat/framing/framing.hpp"

namespace moat::framing::test {

using bytes = std::vector<std::uint8_t>;

inline bytes to_bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

inline std::string to_string(std::span<const std::uint8_t> b) {
  return {b.begin(), b.end()};
}

// A payload of `n` bytes whose content depends on `salt` and the position.
inline bytes payload(std::size_t n, unsigned salt = 0) {
  bytes p(n);
  for (std::size_t i = 0; i < n; ++i)
    p[i] = static_cast<std::uint8_t>((i * 31U + salt * 7U) & 0xffU);
  return p;
}

// Compares two lists of frames and, when they differ, says where (without printing them).
inline ::testing::AssertionResult same_frames(const std::vector<bytes>& got,
                                              const std::vector<bytes>& want) {
  const std::size_t n = std::min(got.size(), want.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (got[i] != want[i]) {
      return ::testing::AssertionFailure() << "frame " << i << " differs: " << got[i].size()
                                           << " bytes, expected " << want[i].size();
    }
  }
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " frames, expected " << want.size();
  }
  return ::testing::AssertionSuccess();
}

// Takes every frame `d` has ready, copying them.
inline std::vector<bytes> drain(decoder& d, std::error_code& ec) {
  std::vector<bytes> out;
  while (auto f = d.next(ec)) out.emplace_back(f->begin(), f->end());
  return out;
}

// Feeds `stream` to a fresh decoder for `o` in chunks of the sizes `sizes` yields, draining
// after each chunk; stops at the first error (kept in `ec`).
template <class ChunkSizes>
std::vector<bytes> decode_in_chunks(const options& o, std::span<const std::uint8_t> stream,
                                    ChunkSizes&& sizes, std::error_code& ec) {
  decoder d(o);
  std::vector<bytes> frames;
  std::size_t pos = 0;
  ec.clear();
  while (pos < stream.size()) {
    const std::size_t n = std::min(stream.size() - pos, std::max<std::size_t>(1, sizes()));
    d.feed(stream.subspan(pos, n));
    pos += n;
    for (auto& f : drain(d, ec)) frames.push_back(std::move(f));
    if (ec) return frames;
  }
  d.finish(ec);
  return frames;
}

}  // namespace moat::framing::test
