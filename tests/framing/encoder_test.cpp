#include "moat/framing/encoder.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "framing/framing_test_util.hpp"

namespace moat::framing {
namespace {

using test::bytes;
using test::payload;
using test::to_bytes;

TEST(FramingEncoder, RoundTripsThroughTheDecoderInEveryMode) {
  struct round_trip_case {
    packet_mode mode;
    std::vector<std::size_t> sizes;
  };
  const std::vector<round_trip_case> cases = {
      {packet_mode::u8, {0, 1, 2, 254, 255}},
      {packet_mode::u16, {0, 1, 255, 256, 65535}},
      {packet_mode::u32, {0, 1, 65535, 65536, 1 << 20}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.mode)));
    bytes stream;
    for (auto n : c.sizes) ASSERT_FALSE(encode(c.mode, payload(n, 3), stream)) << n;
    decoder d({c.mode});
    d.feed(stream);
    std::error_code ec;
    for (auto n : c.sizes) {
      auto f = d.next(ec);
      ASSERT_TRUE(f) << n;
      const bytes expected = payload(n, 3);
      EXPECT_TRUE(std::equal(f->begin(), f->end(), expected.begin(), expected.end())) << n;
    }
    EXPECT_FALSE(d.next(ec));
    EXPECT_FALSE(ec);
  }

  bytes lines;
  ASSERT_FALSE(encode(packet_mode::line, to_bytes("one\n"), lines));
  ASSERT_FALSE(encode(packet_mode::line, to_bytes("two\r\n"), lines));
  EXPECT_EQ(lines, to_bytes("one\ntwo\r\n"));
  decoder dl({packet_mode::line});
  dl.feed(lines);
  std::error_code ec;
  auto f = dl.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(test::to_string(*f), "one\n");
  f = dl.next(ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(test::to_string(*f), "two\r\n");

  bytes raw = {9};
  ASSERT_FALSE(encode(packet_mode::raw, to_bytes("as is"), raw));
  EXPECT_EQ(raw, to_bytes("\x09"
                          "as is"));
}

TEST(FramingEncoder, PrefixesTheLengthInBigEndian) {
  bytes out;
  ASSERT_FALSE(encode(packet_mode::u16, payload(0x0102), out));
  EXPECT_EQ(out[0], 0x01);
  EXPECT_EQ(out[1], 0x02);
  out.clear();
  ASSERT_FALSE(encode(packet_mode::u32, payload(0x010203), out));
  EXPECT_EQ((bytes{out.begin(), out.begin() + 4}), (bytes{0x00, 0x01, 0x02, 0x03}));
  out.clear();
  ASSERT_FALSE(encode(packet_mode::u8, to_bytes("abc"), out));
  EXPECT_EQ(out, to_bytes("\x03"
                          "abc"));
}

TEST(FramingEncoder, RejectsAPayloadTooLargeForAOneOrTwoBytePrefix) {
  bytes out = {42};
  EXPECT_EQ(encode(packet_mode::u8, payload(256), out), errc::payload_too_large_for_prefix);
  EXPECT_EQ(encode(options{packet_mode::u8, options::unlimited}, payload(256), out),
            errc::payload_too_large_for_prefix);
  EXPECT_EQ(encode(packet_mode::u16, payload(65536), out), errc::payload_too_large_for_prefix);
  EXPECT_EQ(out, bytes{42});  // unchanged on error
  std::array<std::uint8_t, max_header_size> header{};
  EXPECT_EQ(write_header(options{packet_mode::u32, options::unlimited}, std::size_t{0xffffffff} + 1,
                         header),
            errc::payload_too_large_for_prefix);
  EXPECT_FALSE(write_header(options{packet_mode::u32, options::unlimited}, 0xffffffffU, header));
  EXPECT_EQ(header, (std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
}

TEST(FramingEncoder, RejectsAPayloadAboveTheMaximumPacketSize) {
  bytes out;
  const options o{packet_mode::u16, 10};
  EXPECT_FALSE(encode(o, payload(10), out));
  EXPECT_EQ(encode(o, payload(11), out), errc::payload_too_large_for_prefix);
  EXPECT_EQ(encode(options{packet_mode::line, 4}, to_bytes("abcd\n"), out),
            errc::payload_too_large_for_prefix);
  std::array<std::uint8_t, 4> header{};
  EXPECT_EQ(write_header(packet_mode::u32, options::default_max_frame + 1, header),
            errc::payload_too_large_for_prefix);
  EXPECT_FALSE(encode(options{packet_mode::raw, 1}, payload(100), out));  // raw: no limit
}

TEST(FramingEncoder, WritesAHeaderForAGatherWrite) {
  EXPECT_EQ(header_size(packet_mode::raw), 0U);
  EXPECT_EQ(header_size(packet_mode::u8), 1U);
  EXPECT_EQ(header_size(packet_mode::u16), 2U);
  EXPECT_EQ(header_size(packet_mode::u32), 4U);
  EXPECT_EQ(header_size(packet_mode::line), 0U);

  const bytes body = payload(300);
  std::array<std::uint8_t, max_header_size> header{};
  const encoder enc({packet_mode::u16});
  ASSERT_FALSE(enc.write_header(body.size(), header));
  bytes wire(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(enc.header_size()));
  wire.insert(wire.end(), body.begin(), body.end());
  bytes encoded;
  ASSERT_FALSE(enc.encode(body, encoded));
  EXPECT_EQ(wire, encoded);
  EXPECT_EQ(enc.opts().mode, packet_mode::u16);
}

TEST(FramingEncoder, RejectsAHeaderBufferThatIsTooSmall) {
  std::array<std::uint8_t, 3> small{7, 7, 7};
  EXPECT_EQ(write_header(packet_mode::u32, 1, small), errc::buffer_too_small);
  EXPECT_EQ(small, (std::array<std::uint8_t, 3>{7, 7, 7}));
  EXPECT_FALSE(write_header(packet_mode::line, 1, std::span<std::uint8_t>{}));
}

}  // namespace
}  // namespace moat::framing
