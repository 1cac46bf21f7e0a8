#pragma once
/// @file
/// The body of the framing decoder fuzz target, shared by the libFuzzer binary
/// (fuzz/framing_decoder_fuzz.cpp) and the corpus replay test (tests/framing), so the entry is
/// exercised by the normal build too.
///
/// Input layout: the first byte chooses the packet mode (byte % 5), the limit ((byte / 5) % 8,
/// see `limits`) and the chunking seed (byte / 40); the rest is the stream. The stream is
/// decoded once by a deliberately naive reference over the whole input and once by
/// `moat::framing::decoder` fed in pseudo-random chunks (alternating `feed` and
/// `prepare`/`commit`); both must yield the same frames, byte for byte, and the same error,
/// and the decoder's memory must stay within one maximal frame plus one chunk.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "moat/framing/decoder.hpp"

namespace moat::fuzz {

namespace framing_detail {

using bytes = std::vector<std::uint8_t>;

struct outcome {
  std::vector<bytes> frames;
  std::error_code error;  // the error after the last frame (truncated at end of stream)
};

// The limits a fuzz input can pick (0: the mode's default).
inline constexpr std::array<std::size_t, 8> limits = {
    0, 1, 2, 7, 64, 255, 300, moat::framing::options::unlimited};

// Whole-input reference decoder: as simple as possible, no buffering concerns.
inline outcome reference_decode(const moat::framing::options& o, std::span<const std::uint8_t> in) {
  using moat::framing::errc;
  using moat::framing::packet_mode;
  outcome out;
  const std::size_t limit = moat::framing::effective_max_packet_size(o);
  const std::size_t hdr = moat::framing::header_size(o.mode);
  std::size_t pos = 0;
  if (o.mode == packet_mode::raw) {
    if (!in.empty()) out.frames.emplace_back(in.begin(), in.end());
    return out;
  }
  while (pos < in.size()) {
    const std::size_t rem = in.size() - pos;
    if (o.mode == packet_mode::line) {
      const auto nl = std::find(in.begin() + static_cast<std::ptrdiff_t>(pos), in.end(), '\n');
      if (nl == in.end()) {
        out.error = rem >= limit ? errc::line_too_long : errc::truncated;
        return out;
      }
      const auto len = static_cast<std::size_t>(nl - in.begin()) - pos + 1;
      if (len > limit) {
        out.error = errc::line_too_long;
        return out;
      }
      out.frames.emplace_back(in.begin() + static_cast<std::ptrdiff_t>(pos),
                              in.begin() + static_cast<std::ptrdiff_t>(pos + len));
      pos += len;
      continue;
    }
    if (rem < hdr) {
      out.error = errc::truncated;
      return out;
    }
    std::uint64_t len = 0;
    for (std::size_t i = 0; i < hdr; ++i) len = len * 256U + in[pos + i];
    if (len > limit) {
      out.error = errc::frame_too_large;
      return out;
    }
    if (rem - hdr < len) {
      out.error = errc::truncated;
      return out;
    }
    const auto start = static_cast<std::ptrdiff_t>(pos + hdr);
    out.frames.emplace_back(in.begin() + start,
                            in.begin() + start + static_cast<std::ptrdiff_t>(len));
    pos += hdr + static_cast<std::size_t>(len);
  }
  return out;
}

}  // namespace framing_detail

/// Runs one fuzz input (see the file comment). Returns true when the decoder behaved; on a
/// violation returns false and, if `why` is given, describes it.
/// Thread-safety: pure (uses only locals).
[[nodiscard]] inline bool framing_decoder_check(std::span<const std::uint8_t> input,
                                                std::string* why = nullptr) {
  using namespace framing_detail;
  using moat::framing::packet_mode;
  auto violation = [&](const char* what) {
    if (why != nullptr) *why = what;
    return false;
  };
  if (input.empty()) return true;

  const std::uint8_t sel = input[0];
  const std::span<const std::uint8_t> stream = input.subspan(1);
  constexpr std::array<packet_mode, 5> modes = {packet_mode::raw, packet_mode::u8, packet_mode::u16,
                                                packet_mode::u32, packet_mode::line};
  const moat::framing::options opts{modes[sel % 5U], limits[(sel / 5U) % 8U]};
  const unsigned seed = sel / 40U;
  constexpr std::array<std::size_t, 7> max_chunks = {1, 2, 3, 17, 257, 4096, 65536};
  const std::size_t max_chunk = max_chunks[seed % max_chunks.size()];
  const std::size_t max_request = max_chunk + 7;  // prepare asks for up to 7 spare bytes

  const outcome expected = reference_decode(opts, stream);

  moat::framing::decoder dec(opts);
  const std::size_t limit = dec.max_packet_size();
  const std::size_t hdr = moat::framing::header_size(opts.mode);
  if (limit != moat::framing::effective_max_packet_size(opts)) return violation("limit");

  std::uint32_t rng = (seed + 1U) * 2654435761U ^ static_cast<std::uint32_t>(stream.size());
  auto random = [&rng] {
    rng ^= rng << 13U;
    rng ^= rng >> 17U;
    rng ^= rng << 5U;
    return rng;
  };

  std::vector<bytes> frames;
  bytes raw_stream;  // raw mode: frames depend on chunking, so compare the concatenation
  std::error_code error;
  std::size_t pos = 0;
  while (pos < stream.size() && !error) {
    const std::size_t chunk = std::min(stream.size() - pos, 1 + random() % max_chunk);
    if (random() & 1U) {
      dec.feed(stream.subspan(pos, chunk));
    } else {
      const std::size_t extra = random() % 8U;
      auto space = dec.prepare(chunk + extra);
      if (space.size() != chunk + extra) return violation("prepare returned a short span");
      std::memcpy(space.data(), stream.data() + pos, chunk);
      dec.commit(chunk);
    }
    pos += chunk;
    std::error_code ec;
    while (auto frame = dec.next(ec)) {
      if (opts.mode == packet_mode::raw) {
        raw_stream.insert(raw_stream.end(), frame->begin(), frame->end());
      } else {
        if (frame->size() > limit) return violation("frame longer than the limit");
        frames.emplace_back(frame->begin(), frame->end());
      }
      if (dec.wanted() < 1) return violation("wanted() is 0");
    }
    if (ec) {
      error = ec;
      if (!dec.failed() || dec.error() != ec) return violation("error not sticky");
      std::error_code again;
      dec.feed(stream.subspan(pos - chunk, chunk));
      if (dec.next(again) || again != ec) return violation("failed decoder recovered");
      if (dec.buffered() != 0) return violation("failed decoder kept bytes");
      break;
    }
    if (dec.wanted() < 1) return violation("wanted() is 0");
    // Drained: what is left is one incomplete frame.
    if (opts.mode == packet_mode::raw) {
      if (dec.buffered() != 0) return violation("raw mode kept bytes after next");
      if (dec.capacity() > std::max<std::size_t>(512, 2 * max_request)) {
        return violation("raw buffer grew beyond twice a chunk");
      }
    } else if (limit != moat::framing::options::unlimited) {
      if (dec.buffered() >= hdr + limit) return violation("a complete frame was not returned");
      if (dec.capacity() > hdr + limit + max_request) {
        return violation("buffer grew beyond one frame plus one chunk");
      }
    }
  }
  if (!error) dec.finish(error);

  if (opts.mode == packet_mode::raw) {
    if (!std::equal(raw_stream.begin(), raw_stream.end(), stream.begin(), stream.end())) {
      return violation("raw mode did not return the stream as it came");
    }
    if (error) return violation("raw mode reported an error");
    return true;
  }
  if (frames != expected.frames) return violation("frames differ from the reference");
  if (error != expected.error) return violation("error differs from the reference");
  return true;
}

}  // namespace moat::fuzz
