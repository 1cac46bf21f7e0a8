// The PROXY protocol parser: v1 text and v2 binary headers, fed any prefix of the bytes.
#include "server/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace moat::server::proxy {
namespace {

std::vector<std::uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

result parse_text(const std::string& s) {
  return parse(bytes(s));
}

TEST(ProxyProtocol, ParsesAV1Tcp4HeaderAndReportsItsLength) {
  const std::string h = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
  auto r = parse_text(h + "\x16\x03\x01");
  ASSERT_EQ(r.state, result::status::done);
  EXPECT_EQ(r.header_length, h.size());
  ASSERT_TRUE(r.source);
  EXPECT_EQ(r.source->address().to_string(), "192.0.2.7");
  EXPECT_EQ(r.source->port(), 56324);
  EXPECT_EQ(r.destination->port(), 443);
}

TEST(ProxyProtocol, ParsesAV1Tcp6Header) {
  auto r = parse_text("PROXY TCP6 2001:db8::1 2001:db8::2 1000 2000\r\n");
  ASSERT_EQ(r.state, result::status::done);
  EXPECT_EQ(r.source->address().to_string(), "2001:db8::1");
}

TEST(ProxyProtocol, AcceptsV1UnknownWithoutAnAddress) {
  auto r = parse_text("PROXY UNKNOWN\r\n");
  ASSERT_EQ(r.state, result::status::done);
  EXPECT_FALSE(r.source);
}

TEST(ProxyProtocol, AsksForMoreBytesForEveryStrictPrefix) {
  const std::string h = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
  for (std::size_t n = 0; n < h.size(); ++n) {
    EXPECT_EQ(parse_text(h.substr(0, n)).state, result::status::need_more) << n;
  }
}

TEST(ProxyProtocol, RejectsMalformedV1Headers) {
  for (const char* bad :
       {"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", "PROXY TCP4 nope 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 ::2 1 2\r\n", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "GET / HTTP/1.1\r\n",
        "\x16\x03\x01\x02\x00"}) {
    auto r = parse_text(bad);
    EXPECT_EQ(r.state, result::status::invalid) << bad;
    EXPECT_STRNE(r.reason, "") << bad;
  }
  EXPECT_EQ(parse_text("PROXY " + std::string(120, 'x')).state, result::status::invalid);
}

// Found by the proxy_protocol fuzz target: TCP6 with an IPv4 address (either end) was
// accepted, giving a source and a destination of two families.
TEST(ProxyProtocol, RejectsAV1Tcp6HeaderWithAnIpv4Address) {
  for (const char* bad : {"PROXY TCP6 19.0.2.0 ::2 2 2\r\n", "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
                          "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 ::1 1 2\r\n"}) {
    auto r = parse_text(bad);
    EXPECT_EQ(r.state, result::status::invalid) << bad;
    EXPECT_FALSE(r.source) << bad;
  }
}

std::vector<std::uint8_t> v2(std::uint8_t cmd, std::uint8_t fam, std::vector<std::uint8_t> body) {
  std::vector<std::uint8_t> h{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  h.push_back(static_cast<std::uint8_t>(0x20 | cmd));
  h.push_back(fam);
  h.push_back(static_cast<std::uint8_t>(body.size() >> 8));
  h.push_back(static_cast<std::uint8_t>(body.size() & 0xFF));
  h.insert(h.end(), body.begin(), body.end());
  return h;
}

TEST(ProxyProtocol, ParsesAV2Ipv4ProxyHeaderWithTlvs) {
  auto h =
      v2(1, 0x11, {192, 0, 2, 7, 198, 51, 100, 1, 0xDC, 0x04, 0x01, 0xBB, 0x04, 0x00, 0x01, 0x00});
  auto r = parse(h);
  ASSERT_EQ(r.state, result::status::done);
  EXPECT_EQ(r.header_length, h.size());
  EXPECT_EQ(r.source->address().to_string(), "192.0.2.7");
  EXPECT_EQ(r.source->port(), 0xDC04);
  EXPECT_EQ(r.destination->port(), 443);
  for (std::size_t n = 0; n < h.size(); ++n) {
    EXPECT_EQ(parse(std::span(h.data(), n)).state, result::status::need_more) << n;
  }
}

TEST(ProxyProtocol, ParsesAV2LocalCommandAsNoAddress) {
  auto r = parse(v2(0, 0x00, {}));
  ASSERT_EQ(r.state, result::status::done);
  EXPECT_FALSE(r.source);
}

TEST(ProxyProtocol, RejectsV2WithABadVersionFamilyOrTruncatedAddresses) {
  auto bad_version = v2(1, 0x11, std::vector<std::uint8_t>(12));
  bad_version[12] = 0x31;
  EXPECT_EQ(parse(bad_version).state, result::status::invalid);
  EXPECT_EQ(parse(v2(1, 0x31, std::vector<std::uint8_t>(12))).state, result::status::invalid);
  EXPECT_EQ(parse(v2(1, 0x11, std::vector<std::uint8_t>(4))).state, result::status::invalid);
  EXPECT_EQ(parse(v2(1, 0x21, std::vector<std::uint8_t>(12))).state, result::status::invalid);
  EXPECT_EQ(parse(v2(1, 0x11, std::vector<std::uint8_t>(600))).state, result::status::invalid);
}

}  // namespace
}  // namespace moat::server::proxy
