#include "moat/framing/decoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "framing/framing_test_util.hpp"

namespace moat::framing {
namespace {

using test::bytes;
using test::drain;
using test::payload;
using test::to_bytes;
using test::to_string;

constexpr packet_mode prefixed_modes[] = {packet_mode::u8, packet_mode::u16, packet_mode::u32};
constexpr packet_mode framed_modes[] = {packet_mode::u8, packet_mode::u16, packet_mode::u32,
                                        packet_mode::line};

// A stream of frames with sizes 0..max_size for mode `m` (lines end with '\n'), and the
// frames the decoder must yield from it.
struct sample {
  bytes stream;
  std::vector<bytes> frames;
};

sample make_sample(packet_mode m, std::size_t count, std::size_t max_size, unsigned salt = 1) {
  sample s;
  std::mt19937 rng(salt);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t n = i < 2 ? 0 : rng() % (std::min(max_size, max_prefix_length(m)) + 1);
    bytes p = payload(n, static_cast<unsigned>(i) + salt);
    if (m == packet_mode::line) {
      std::replace(p.begin(), p.end(), std::uint8_t{'\n'}, std::uint8_t{'x'});
      p.push_back('\n');
    }
    EXPECT_FALSE(encode(m, p, s.stream));
    s.frames.push_back(std::move(p));
  }
  return s;
}

std::vector<bytes> decode_all(const options& o, std::span<const std::uint8_t> stream,
                              std::size_t chunk, std::error_code& ec) {
  return test::decode_in_chunks(
      o, stream, [chunk] { return chunk; }, ec);
}

TEST(FramingDecoder, YieldsAFrameForEveryPrefixWidth) {
  for (auto m : prefixed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    bytes stream;
    ASSERT_FALSE(encode(m, to_bytes("hello"), stream));
    EXPECT_EQ(stream.size(), header_size(m) + 5);
    decoder d({m});
    d.feed(stream);
    std::error_code ec;
    auto f = d.next(ec);
    ASSERT_TRUE(f);
    EXPECT_FALSE(ec);
    EXPECT_EQ(to_string(*f), "hello");
    EXPECT_FALSE(d.next(ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(d.buffered(), 0U);
  }
}

TEST(FramingDecoder, ReadsTheLengthPrefixAsBigEndian) {
  decoder d({packet_mode::u16});
  bytes stream = {0x01, 0x02};
  const bytes body = payload(0x0102);
  stream.insert(stream.end(), body.begin(), body.end());
  d.feed(stream);
  std::error_code ec;
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_TRUE(std::equal(f->begin(), f->end(), body.begin(), body.end()));

  decoder d4({packet_mode::u32});
  bytes s4 = {0x00, 0x01, 0x00, 0x01};
  const bytes b4 = payload(0x10001);
  s4.insert(s4.end(), b4.begin(), b4.end());
  d4.feed(s4);
  f = d4.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), 0x10001U);
}

TEST(FramingDecoder, YieldsTheSameFramesWhateverByteBoundaryTheStreamIsSplitAt) {
  for (auto m : framed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    const sample s = make_sample(m, 12, 40);
    for (std::size_t cut = 0; cut <= s.stream.size(); ++cut) {
      decoder d({m});
      std::error_code ec;
      d.feed(std::span(s.stream).first(cut));
      auto frames = drain(d, ec);
      ASSERT_FALSE(ec);
      d.feed(std::span(s.stream).subspan(cut));
      for (auto& f : drain(d, ec)) frames.push_back(std::move(f));
      ASSERT_FALSE(ec);
      d.finish(ec);
      ASSERT_FALSE(ec) << "cut at " << cut;
      ASSERT_TRUE(test::same_frames(frames, s.frames)) << "cut at " << cut;
    }
  }
}

TEST(FramingDecoder, YieldsAFrameSplitAcrossManyFeeds) {
  for (auto m : framed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    const sample s = make_sample(m, 30, 300);
    std::error_code ec;
    EXPECT_TRUE(test::same_frames(decode_all({m}, s.stream, 1, ec), s.frames));
    EXPECT_FALSE(ec);
  }
}

TEST(FramingDecoder, YieldsTheSameFramesForRandomChunkSizes) {
  for (auto m : framed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    const sample s = make_sample(m, 200, 700, 7);
    for (unsigned seed = 0; seed < 20; ++seed) {
      std::mt19937 rng(seed);
      const std::size_t max_chunk = std::size_t{1} << (seed % 12);
      std::error_code ec;
      auto frames = test::decode_in_chunks(
          {m}, s.stream, [&] { return 1 + rng() % max_chunk; }, ec);
      EXPECT_FALSE(ec);
      ASSERT_TRUE(test::same_frames(frames, s.frames)) << "seed " << seed;
    }
  }
}

TEST(FramingDecoder, YieldsManyFramesFromOneFeed) {
  for (auto m : framed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    const sample s = make_sample(m, 500, 100, 3);
    decoder d({m});
    d.feed(s.stream);
    std::error_code ec;
    EXPECT_TRUE(test::same_frames(drain(d, ec), s.frames));
    EXPECT_FALSE(ec);
    EXPECT_EQ(d.buffered(), 0U);
  }
}

TEST(FramingDecoder, YieldsEmptyFramesForALengthOfZero) {
  for (auto m : prefixed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    decoder d({m});
    d.feed(bytes(header_size(m) * 3, 0));
    std::error_code ec;
    for (int i = 0; i < 3; ++i) {
      auto f = d.next(ec);
      ASSERT_TRUE(f);
      EXPECT_TRUE(f->empty());
    }
    EXPECT_FALSE(d.next(ec));
    EXPECT_FALSE(ec);
    d.finish(ec);
    EXPECT_FALSE(ec);
  }
}

TEST(FramingDecoder, YieldsAnEmptyLineAsTheNewlineAlone) {
  decoder d({packet_mode::line});
  d.feed(to_bytes("\n\nx\n"));
  std::error_code ec;
  auto frames = drain(d, ec);
  ASSERT_EQ(frames.size(), 3U);
  EXPECT_EQ(frames[0], to_bytes("\n"));
  EXPECT_EQ(frames[1], to_bytes("\n"));
  EXPECT_EQ(frames[2], to_bytes("x\n"));
}

TEST(FramingDecoder, AcceptsFramesAtAndBelowTheLimitAndRejectsOneAbove) {
  constexpr std::size_t limit = 100;
  for (auto m : prefixed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    for (std::size_t n : {limit - 1, limit}) {
      bytes stream;
      ASSERT_FALSE(encode(options{m, options::unlimited}, payload(n), stream));
      std::error_code ec;
      auto frames = decode_all({m, limit}, stream, 7, ec);
      EXPECT_FALSE(ec) << n;
      ASSERT_EQ(frames.size(), 1U);
      EXPECT_EQ(frames[0], payload(n));
    }
    bytes stream;
    ASSERT_FALSE(encode(options{m, options::unlimited}, payload(limit + 1), stream));
    std::error_code ec;
    EXPECT_TRUE(decode_all({m, limit}, stream, 7, ec).empty());
    EXPECT_EQ(ec, errc::frame_too_large);
  }
}

TEST(FramingDecoder, RejectsAnOversizedHeaderBeforeThePayloadArrives) {
  for (auto m : prefixed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    const options o{m, 10};
    bytes header(header_size(m));
    ASSERT_FALSE(write_header(options{m, options::unlimited}, 11, header));
    decoder d(o);
    std::error_code ec;
    // Every byte of the header but the last: nothing to say yet.
    d.feed(std::span(header).first(header.size() - 1));
    EXPECT_FALSE(d.next(ec));
    EXPECT_FALSE(ec);
    d.feed(std::span(header).last(1));
    EXPECT_FALSE(d.next(ec));
    EXPECT_EQ(ec, errc::frame_too_large);
    EXPECT_TRUE(d.failed());
    EXPECT_EQ(d.buffered(), 0U);
  }
}

TEST(FramingDecoder, RejectsAFourGigabyteHeaderUnderTheDefaultLimitWithoutAllocatingIt) {
  decoder d({packet_mode::u32});
  EXPECT_EQ(d.max_packet_size(), options::default_max_frame);
  d.feed(bytes{0xff, 0xff, 0xff, 0xff, 'a'});
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::frame_too_large);
  EXPECT_LE(d.capacity(), 4096U);
}

TEST(FramingDecoder, AcceptsAHeaderJustAtTheDefaultLimitAndAsksForItsPayload) {
  decoder d({packet_mode::u32});
  bytes header(4);
  ASSERT_FALSE(write_header(packet_mode::u32, options::default_max_frame, header));
  d.feed(header);
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(d.wanted(), options::default_max_frame);
  header.assign(4, 0);
  ASSERT_FALSE(write_header(options{packet_mode::u32, options::unlimited},
                            options::default_max_frame + 1, header));
  d.reset({packet_mode::u32});
  d.feed(header);
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::frame_too_large);
}

TEST(FramingDecoder, AcceptsLargeFramesWhenUnlimited) {
  const options o{packet_mode::u32, options::unlimited};
  bytes header(4);
  ASSERT_FALSE(write_header(o, 0xffffffffU, header));
  decoder d(o);
  d.feed(header);
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(d.wanted(), 0xffffffffU);
}

TEST(FramingDecoder, UsesTheModesDefaultLimitWhenMaxPacketSizeIsZero) {
  EXPECT_EQ(decoder({packet_mode::u8}).max_packet_size(), 255U);
  EXPECT_EQ(decoder({packet_mode::u16}).max_packet_size(), 65535U);
  EXPECT_EQ(decoder({packet_mode::u32}).max_packet_size(), 64U * 1024 * 1024);
  EXPECT_EQ(decoder({packet_mode::line}).max_packet_size(), 64U * 1024);
  EXPECT_EQ(decoder({packet_mode::raw}).max_packet_size(), options::unlimited);
  EXPECT_EQ(decoder({packet_mode::u16, 1000}).max_packet_size(), 1000U);
  EXPECT_EQ(decoder({packet_mode::u8, 1000}).max_packet_size(), 255U);
}

TEST(FramingDecoder, StaysFailedAfterAnErrorUntilReset) {
  decoder d({packet_mode::u8, 3});
  d.feed(bytes{4, 1, 2, 3, 4});
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::frame_too_large);
  d.feed(bytes{1, 'a'});
  EXPECT_EQ(d.buffered(), 0U);
  ec.clear();
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::frame_too_large);
  EXPECT_EQ(d.error(), errc::frame_too_large);
  auto space = d.prepare(2);
  space[0] = 1;
  space[1] = 'a';
  d.commit(2);
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::frame_too_large);
  d.finish(ec);
  EXPECT_EQ(ec, errc::frame_too_large);

  d.reset({packet_mode::u8, 3});
  EXPECT_FALSE(d.failed());
  d.feed(bytes{1, 'a'});
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_FALSE(ec);
  EXPECT_EQ(to_string(*f), "a");
}

TEST(FramingDecoder, SplitsLinesAndKeepsTheNewline) {
  decoder d({packet_mode::line});
  d.feed(to_bytes("first\nsecond\nthi"));
  std::error_code ec;
  auto frames = drain(d, ec);
  ASSERT_EQ(frames.size(), 2U);
  EXPECT_EQ(frames[0], to_bytes("first\n"));
  EXPECT_EQ(frames[1], to_bytes("second\n"));
  EXPECT_EQ(d.buffered(), 3U);
  d.feed(to_bytes("rd\n"));
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "third\n");
}

TEST(FramingDecoder, KeepsCarriageReturnLineFeedAsIs) {
  decoder d({packet_mode::line});
  d.feed(to_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::error_code ec;
  auto frames = drain(d, ec);
  ASSERT_EQ(frames.size(), 3U);
  EXPECT_EQ(frames[0], to_bytes("GET / HTTP/1.1\r\n"));
  EXPECT_EQ(frames[1], to_bytes("Host: x\r\n"));
  EXPECT_EQ(frames[2], to_bytes("\r\n"));
}

TEST(FramingDecoder, AcceptsLinesAtAndBelowTheLimitCountingTheNewline) {
  constexpr std::size_t limit = 16;
  for (std::size_t len : {limit - 1, limit}) {
    const std::string line = std::string(len - 1, 'a') + "\n";
    decoder d({packet_mode::line, limit});
    d.feed(to_bytes(line + line));
    std::error_code ec;
    auto frames = drain(d, ec);
    EXPECT_FALSE(ec) << len;
    ASSERT_EQ(frames.size(), 2U);
    EXPECT_EQ(frames[1], to_bytes(line));
  }
  decoder d({packet_mode::line, limit});
  d.feed(to_bytes(std::string(limit, 'a') + "\n"));
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::line_too_long);
}

TEST(FramingDecoder, RejectsALineAsSoonAsItPassesTheLimitWithoutANewline) {
  constexpr std::size_t limit = 16;
  decoder d({packet_mode::line, limit});
  std::error_code ec;
  for (std::size_t i = 0; i + 1 < limit; ++i) {
    d.feed(to_bytes("a"));
    EXPECT_FALSE(d.next(ec));
    ASSERT_FALSE(ec) << i;
  }
  // limit bytes and still no newline: the line cannot fit any more.
  d.feed(to_bytes("a"));
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::line_too_long);
  EXPECT_EQ(d.buffered(), 0U);
}

TEST(FramingDecoder, RejectsALineLongerThanTheDefaultLimit) {
  decoder d({packet_mode::line});
  std::error_code ec;
  d.feed(to_bytes(std::string(options::default_max_line - 1, 'a') + "\n"));
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), options::default_max_line);
  d.feed(to_bytes(std::string(options::default_max_line, 'a')));
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, errc::line_too_long);
}

TEST(FramingDecoder, AcceptsAVeryLongLineWhenUnlimited) {
  decoder d({packet_mode::line, options::unlimited});
  std::error_code ec;
  const std::string chunk(4096, 'b');
  for (int i = 0; i < 256; ++i) {
    d.feed(to_bytes(chunk));
    ASSERT_FALSE(d.next(ec));
    ASSERT_FALSE(ec);
  }
  d.feed(to_bytes("\n"));
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), 256U * 4096 + 1);
}

TEST(FramingDecoder, ReportsTruncatedWhenTheStreamEndsInsideAFrame) {
  struct truncated_case {
    packet_mode mode;
    bytes stream;
  };
  const std::vector<truncated_case> cases = {
      {packet_mode::u16, {0x00}},                         // inside the header
      {packet_mode::u32, {0x00, 0x00, 0x00}},             // inside the header
      {packet_mode::u8, {0x03, 'a', 'b'}},                // inside the payload
      {packet_mode::u16, {0x00, 0x01, 'a', 0x00, 0x02}},  // a frame, then a header
      {packet_mode::u32, {0x00, 0x00, 0x00, 0x05}},       // a header alone
      {packet_mode::line, to_bytes("done\nhalf a li")},   // a line without '\n'
  };
  for (const auto& c : cases) {
    decoder d({c.mode});
    d.feed(c.stream);
    std::error_code ec;
    (void)drain(d, ec);
    ASSERT_FALSE(ec);
    d.finish(ec);
    EXPECT_EQ(ec, errc::truncated) << to_string(c.mode);
    EXPECT_TRUE(d.failed());
  }
}

TEST(FramingDecoder, ReportsNoErrorWhenTheStreamEndsBetweenFrames) {
  for (auto m : framed_modes) {
    const sample s = make_sample(m, 5, 10);
    decoder d({m});
    std::error_code ec;
    d.finish(ec);
    EXPECT_FALSE(ec);
    d.feed(s.stream);
    (void)drain(d, ec);
    d.finish(ec);
    EXPECT_FALSE(ec) << to_string(m);
  }
}

TEST(FramingDecoder, ReturnsEverythingBufferedAsOneFrameInRawMode) {
  decoder d;
  EXPECT_EQ(d.opts().mode, packet_mode::raw);
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_FALSE(ec);
  d.feed(to_bytes("abc"));
  d.feed(to_bytes("def"));
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "abcdef");
  EXPECT_EQ(d.buffered(), 0U);
  EXPECT_FALSE(d.next(ec));
  d.feed(to_bytes("g"));
  d.finish(ec);
  EXPECT_FALSE(ec);
}

TEST(FramingDecoder, IgnoresTheLimitInRawMode) {
  decoder d({packet_mode::raw, 2});
  d.feed(to_bytes("more than two bytes"));
  std::error_code ec;
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), 19U);
}

TEST(FramingDecoder, ReadsStraightIntoItsBufferThroughPrepareAndCommit) {
  for (auto m : framed_modes) {
    SCOPED_TRACE(std::string(to_string(m)));
    const sample s = make_sample(m, 100, 200, 11);
    decoder d({m});
    std::vector<bytes> frames;
    std::error_code ec;
    std::size_t pos = 0;
    std::mt19937 rng(5);
    while (pos < s.stream.size()) {
      const std::size_t room = 1 + rng() % 300;
      auto space = d.prepare(room);
      ASSERT_GE(space.size(), room);
      const std::size_t n = std::min({room, s.stream.size() - pos, std::size_t{1} + rng() % 300});
      std::copy_n(s.stream.begin() + static_cast<std::ptrdiff_t>(pos), n, space.begin());
      d.commit(n);
      pos += n;
      for (auto& f : drain(d, ec)) frames.push_back(std::move(f));
      ASSERT_FALSE(ec);
    }
    d.finish(ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(test::same_frames(frames, s.frames));
  }
}

TEST(FramingDecoder, ClampsACommitToWhatWasPrepared) {
  decoder d({packet_mode::u8});
  auto space = d.prepare(2);
  space[0] = 1;
  space[1] = 'z';
  d.commit(100);
  EXPECT_EQ(d.buffered(), 2U);
  d.commit(5);  // no prepare: adds nothing
  EXPECT_EQ(d.buffered(), 2U);
  std::error_code ec;
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "z");
}

TEST(FramingDecoder, HintsHowManyBytesTheCurrentFrameStillNeeds) {
  decoder d({packet_mode::u32});
  EXPECT_EQ(d.wanted(), 4U);
  d.feed(bytes{0x00, 0x00});
  EXPECT_EQ(d.wanted(), 2U);
  d.feed(bytes{0x01, 0x00});
  EXPECT_EQ(d.wanted(), 256U);
  d.feed(payload(56));
  EXPECT_EQ(d.wanted(), 200U);
  d.feed(payload(200));
  EXPECT_EQ(d.wanted(), 1U);  // complete: next() has it
  std::error_code ec;
  ASSERT_TRUE(d.next(ec));
  EXPECT_EQ(d.wanted(), 4U);
  EXPECT_EQ(decoder({packet_mode::line}).wanted(), 1U);
  EXPECT_EQ(decoder({packet_mode::raw}).wanted(), 1U);
}

TEST(FramingDecoder, KeepsTheFrameViewValidUntilTheNextCall) {
  decoder d({packet_mode::u8});
  d.feed(bytes{2, 'h', 'i', 1});
  std::error_code ec;
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(d.buffered(), 1U);  // the returned frame no longer counts
  EXPECT_EQ(d.wanted(), 1U);
  EXPECT_EQ(to_string(*f), "hi");
  d.feed(bytes{'!'});
  f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "!");
}

// Streams 100 MB of small frames through a decoder and checks that neither the buffered
// bytes nor the allocated buffer grow past one maximal frame plus one read chunk.
void stream_100_megabytes(const options& o, std::size_t max_frame) {
  const sample s = make_sample(o.mode, 2000, max_frame, 13);
  const std::size_t limit = effective_max_packet_size(o);
  const std::size_t header = header_size(o.mode);
  constexpr std::size_t total = 100U * 1000 * 1000;
  constexpr std::size_t chunk = 1500;
  decoder d(o);
  std::error_code ec;
  std::size_t fed = 0;
  std::size_t frames = 0;
  std::size_t next_frame = 0;
  std::size_t pos = 0;
  std::size_t max_capacity = 0;
  std::size_t max_buffered = 0;
  bool use_prepare = false;
  while (fed < total) {
    const std::size_t n = std::min(chunk, s.stream.size() - pos);
    const auto piece = std::span(s.stream).subspan(pos, n);
    if (use_prepare) {
      auto space = d.prepare(chunk);
      std::copy(piece.begin(), piece.end(), space.begin());
      d.commit(n);
    } else {
      d.feed(piece);
    }
    use_prepare = !use_prepare;
    pos = (pos + n) % s.stream.size();
    fed += n;
    while (auto f = d.next(ec)) {
      ASSERT_TRUE(std::equal(f->begin(), f->end(), s.frames[next_frame].begin(),
                             s.frames[next_frame].end()));
      next_frame = (next_frame + 1) % s.frames.size();
      ++frames;
    }
    ASSERT_FALSE(ec);
    max_capacity = std::max(max_capacity, d.capacity());
    max_buffered = std::max(max_buffered, d.buffered());
  }
  EXPECT_GT(frames, total / (max_frame + header + 1));
  EXPECT_LT(max_buffered, header + limit);
  EXPECT_LE(max_capacity, header + limit + chunk);
  d.shrink_to_fit();
  EXPECT_EQ(d.capacity(), d.buffered());
}

TEST(FramingDecoder, StaysWithinOneFramePlusOneChunkWhileStreaming100MegabytesOfSmallFrames) {
  stream_100_megabytes({packet_mode::u16, 1024}, 1024);
  stream_100_megabytes({packet_mode::u8}, 255);
  stream_100_megabytes({packet_mode::line, 512}, 511);
}

TEST(FramingDecoder, ReleasesItsBufferOnShrinkToFitAfterALargeFrame) {
  decoder d({packet_mode::u32});
  bytes stream;
  ASSERT_FALSE(encode(packet_mode::u32, payload(1 << 20), stream));
  d.feed(stream);
  std::error_code ec;
  ASSERT_TRUE(d.next(ec));
  EXPECT_GE(d.capacity(), std::size_t{1} << 20);
  d.shrink_to_fit();
  EXPECT_EQ(d.capacity(), 0U);
  d.feed(bytes{0, 0, 0, 1, 'x'});
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "x");
}

TEST(FramingDecoder, SwitchesModeOnReset) {
  decoder d({packet_mode::u8});
  d.feed(bytes{5, 'a'});
  d.reset({packet_mode::line, 100});
  EXPECT_EQ(d.opts().mode, packet_mode::line);
  EXPECT_EQ(d.opts().max_packet_size, 100U);
  EXPECT_EQ(d.buffered(), 0U);
  d.feed(to_bytes("ok\n"));
  std::error_code ec;
  auto f = d.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "ok\n");
}

TEST(FramingDecoder, MovesItsStateToANewOwner) {
  decoder a({packet_mode::u8});
  a.feed(bytes{3, 'a', 'b'});
  decoder b(std::move(a));
  EXPECT_EQ(b.buffered(), 3U);
  b.feed(bytes{'c'});
  std::error_code ec;
  auto f = b.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "abc");
  decoder c;
  c = std::move(b);
  EXPECT_EQ(c.opts().mode, packet_mode::u8);
  c.feed(bytes{1, 'd'});
  f = c.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(to_string(*f), "d");
}

}  // namespace
}  // namespace moat::framing
