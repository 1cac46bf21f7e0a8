// The EPMD messages as bytes (src/dist/epmd_wire): the layouts the protocol documents.
#include "dist/epmd_wire.hpp"

#include <gtest/gtest.h>

namespace moat::dist::epmd_wire {
namespace {

bytes of(std::string_view s) {
  return {s.begin(), s.end()};
}

TEST(EpmdWire, Alive2RequestHasTheDocumentedLayout) {
  node_fields f;
  f.port = 0x1234;
  f.node_type = 72;
  f.highest_version = 6;
  f.lowest_version = 5;
  f.name = "ab";
  f.extra = "x";
  const bytes want = {0, 16, 120, 0x12, 0x34, 72, 0, 0, 6, 0, 5, 0, 2, 'a', 'b', 0, 1, 'x'};
  EXPECT_EQ(encode_alive2_request(f), want);
  // A server parses what a client builds, minus the length.
  auto p = parse_request(std::span(want).subspan(2));
  ASSERT_EQ(p.state, parse_state::complete) << p.why;
  EXPECT_EQ(p.value.command, alive2_req);
  EXPECT_EQ(p.value.alive2, f);
}

TEST(EpmdWire, OtherRequestsAreTheCommandAndMaybeAName) {
  EXPECT_EQ(encode_port_please2_request("n1"), (bytes{0, 3, 122, 'n', '1'}));
  EXPECT_EQ(encode_command(names_req), (bytes{0, 1, 110}));
  EXPECT_EQ(encode_stop_request("n"), (bytes{0, 2, 115, 'n'}));
}

TEST(EpmdWire, Alive2RepliesCarryA32BitOrA16BitCreation) {
  const bytes x = {118, 0, 0x12, 0x34, 0x56, 0x78};
  for (std::size_t n = 0; n < x.size(); ++n) {
    EXPECT_EQ(parse_alive2_reply(std::span(x).first(n)).state, parse_state::incomplete) << n;
  }
  auto p = parse_alive2_reply(x);
  ASSERT_EQ(p.state, parse_state::complete);
  EXPECT_TRUE(p.value.extended);
  EXPECT_EQ(p.value.creation, 0x12345678U);
  EXPECT_EQ(encode_alive2_reply(0, 0x12345678U, true), x);

  const bytes old = {121, 1, 0, 99};
  auto q = parse_alive2_reply(old);
  ASSERT_EQ(q.state, parse_state::complete);
  EXPECT_FALSE(q.value.extended);
  EXPECT_EQ(q.value.result, 1);
  EXPECT_EQ(q.value.creation, 99U);
  EXPECT_EQ(encode_alive2_reply(1, 99, false), old);

  EXPECT_EQ(parse_alive2_reply(bytes{119, 0}).state, parse_state::malformed);
}

TEST(EpmdWire, Port2RepliesRoundTripAndAnErrorIsTwoBytes) {
  node_fields f;
  f.port = 4242;
  f.name = "node";
  f.extra = "e";
  const bytes b = encode_port2_reply(&f);
  for (std::size_t n = 0; n < b.size(); ++n) {
    EXPECT_EQ(parse_port2_reply(std::span(b).first(n)).state, parse_state::incomplete) << n;
  }
  auto p = parse_port2_reply(b);
  ASSERT_EQ(p.state, parse_state::complete);
  EXPECT_EQ(p.value.result, 0);
  EXPECT_EQ(p.value.node, f);
  EXPECT_EQ(p.used, b.size());

  const bytes none = encode_port2_reply(nullptr);
  EXPECT_EQ(none, (bytes{119, 1}));
  auto q = parse_port2_reply(none);
  ASSERT_EQ(q.state, parse_state::complete);
  EXPECT_EQ(q.value.result, 1);
  EXPECT_EQ(parse_port2_reply(bytes{118}).state, parse_state::malformed);
}

TEST(EpmdWire, NamesRepliesAreCompleteOnlyAtTheEndOfTheStream) {
  bytes b = encode_port_header(4369);
  const std::string lines = names_line("a", 1) + names_line("b c", 65535);
  b.insert(b.end(), lines.begin(), lines.end());
  EXPECT_EQ(parse_names_reply(b, false).state, parse_state::incomplete);
  auto p = parse_names_reply(b, true);
  ASSERT_EQ(p.state, parse_state::complete) << p.why;
  EXPECT_EQ(p.value.epmd_port, 4369U);
  ASSERT_EQ(p.value.names.size(), 2U);
  EXPECT_EQ(p.value.names[0], (std::pair<std::string, std::uint16_t>{"a", 1}));
  EXPECT_EQ(p.value.names[1], (std::pair<std::string, std::uint16_t>{"b c", 65535}));

  EXPECT_EQ(parse_names_reply(encode_port_header(1), true).value.names.size(), 0U);
  for (std::string bad : {"name a at port 1", "nme a at port 1\n", "name a at port x\n",
                          "name  at port 1\n", "name a at port 65536\n", "name a at port \n"}) {
    bytes c = encode_port_header(1);
    c.insert(c.end(), bad.begin(), bad.end());
    EXPECT_EQ(parse_names_reply(c, true).state, parse_state::malformed) << bad;
  }
  EXPECT_EQ(parse_names_reply(bytes{0, 0}, true).state, parse_state::malformed);
  EXPECT_EQ(parse_names_reply(bytes(max_names_reply + 5, 'x'), false).state,
            parse_state::malformed);
}

TEST(EpmdWire, RequestsThatCannotBeUnderstoodAreMalformed) {
  const std::vector<bytes> bad = {
      {},
      {42},                                             // unknown command
      {110, 0},                                         // NAMES_REQ with a byte after
      {122},                                            // PORT_PLEASE2 without a name
      {122, 'a', 0, 'b'},                               // a NUL inside
      {122, 0xff},                                      // not UTF-8
      {120, 0, 1, 77, 0, 0, 6, 0, 6, 0, 5, 'a', 0},     // name runs past the end
      {120, 0, 1, 77, 0, 0, 6, 0, 6, 0, 1, 'a', 0, 9},  // extra runs past the end
      {120, 0, 1, 77, 0, 0, 6, 0, 6, 0, 1, 0, 0, 0},    // NUL name
      {120, 0, 1, 77, 0, 0, 6, 0, 6, 0, 0, 0, 0, 'x'},  // empty name, bytes after (fuzz)
  };
  for (const auto& b : bad) {
    EXPECT_EQ(parse_request(b).state, parse_state::malformed)
        << "request of " << b.size() << " bytes";
  }
  auto nul_ended = parse_request(bytes{122, 'a', 0});
  ASSERT_EQ(nul_ended.state, parse_state::complete);
  EXPECT_EQ(nul_ended.value.name, "a");
}

TEST(EpmdWire, RequestLengthsAreOneToTheLargestEpmdTakes) {
  EXPECT_FALSE(request_length(0, 0));
  EXPECT_EQ(request_length(0, 1), 1U);
  EXPECT_EQ(request_length(0x0b, 0xf1), 3057U);
  EXPECT_FALSE(request_length(0x0b, 0xf2));
  EXPECT_FALSE(request_length(0xff, 0xff));
}

TEST(EpmdWire, NamesAreOneTo255Utf8CharactersWithoutNul) {
  EXPECT_TRUE(valid_name("a"));
  EXPECT_TRUE(valid_name(std::string(255, 'x')));
  EXPECT_FALSE(valid_name(std::string(256, 'x')));
  std::string wide;
  for (int i = 0; i < 255; ++i) wide += "\xf0\x9f\x98\x80";  // U+1F600, 4 bytes each
  EXPECT_TRUE(valid_name(wide));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name(std::string("a\0", 2)));
  EXPECT_EQ(utf8_length("h\xc3\xa9"), 2U);
  EXPECT_FALSE(utf8_length("\xc0\xaf"));          // overlong
  EXPECT_FALSE(utf8_length("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(utf8_length("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(utf8_length("\xe2\x82"));          // truncated
}

TEST(EpmdWire, DumpLinesAreNulTerminatedAsEpmdSendsThem) {
  const std::string l = dump_line("n", 7, 9);
  EXPECT_EQ(l, std::string("active name     <n> at port 7, fd = 9\n\0", 39));
  (void)of;
}

}  // namespace
}  // namespace moat::dist::epmd_wire
