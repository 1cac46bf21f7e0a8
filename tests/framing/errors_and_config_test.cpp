#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "moat/error.hpp"
#include "moat/framing/framing.hpp"

namespace moat::framing {
namespace {

using ::testing::HasSubstr;

constexpr errc all_codes[] = {
    errc::frame_too_large, errc::invalid_mode,  errc::payload_too_large_for_prefix,
    errc::truncated,       errc::line_too_long, errc::invalid_active_mode,
    errc::buffer_too_small};

TEST(FramingErrors, GivesEveryCodeADistinctMessage) {
  std::set<std::string> messages;
  for (auto e : all_codes) {
    const std::error_code ec = e;
    EXPECT_EQ(&ec.category(), &category());
    EXPECT_TRUE(ec);
    const std::string m = ec.message();
    EXPECT_FALSE(m.empty());
    EXPECT_THAT(m, ::testing::Not(HasSubstr("unknown"))) << static_cast<int>(e);
    EXPECT_TRUE(messages.insert(m).second) << "duplicate message: " << m;
  }
  const std::string unknown = category().message(999);
  EXPECT_THAT(unknown, HasSubstr("unknown"));
  EXPECT_THAT(unknown, HasSubstr("999"));
  EXPECT_EQ(messages.count(unknown), 0U);
  EXPECT_EQ(messages.count(category().message(0)), 0U);
}

TEST(FramingErrors, NamesItsCategory) {
  EXPECT_STREQ(category().name(), "moat.framing");
}

TEST(FramingErrors, CompareEqualToThePortableConditions) {
  EXPECT_EQ(std::error_code(errc::frame_too_large), std::errc::message_size);
  EXPECT_EQ(std::error_code(errc::line_too_long), std::errc::message_size);
  EXPECT_EQ(std::error_code(errc::payload_too_large_for_prefix), std::errc::message_size);
  EXPECT_EQ(std::error_code(errc::invalid_mode), std::errc::invalid_argument);
  EXPECT_EQ(std::error_code(errc::buffer_too_small), std::errc::no_buffer_space);
  EXPECT_NE(std::error_code(errc::truncated), std::errc::message_size);
  EXPECT_EQ(std::error_code(errc::truncated),
            std::error_code(errc::truncated).default_error_condition());
}

TEST(FramingPacketMode, ParsesEveryErlangSpelling) {
  EXPECT_EQ(parse_packet_mode("raw"), packet_mode::raw);
  EXPECT_EQ(parse_packet_mode("0"), packet_mode::raw);
  EXPECT_EQ(parse_packet_mode("1"), packet_mode::u8);
  EXPECT_EQ(parse_packet_mode("2"), packet_mode::u16);
  EXPECT_EQ(parse_packet_mode("4"), packet_mode::u32);
  EXPECT_EQ(parse_packet_mode("line"), packet_mode::line);
  EXPECT_EQ(parse_packet_mode("u16"), packet_mode::u16);
  for (auto m :
       {packet_mode::raw, packet_mode::u8, packet_mode::u16, packet_mode::u32, packet_mode::line}) {
    EXPECT_EQ(parse_packet_mode(to_string(m)), m);
  }
  EXPECT_EQ(to_string(static_cast<packet_mode>(42)), "unknown");
}

TEST(FramingPacketMode, RejectsAnythingElseNamingTheOptionAndTheValidValues) {
  for (const char* bad : {"3", "8", "", "RAW", "4 ", "line\n", "-1", "asn1", "http"}) {
    try {
      (void)parse_packet_mode(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const moat::config_error& e) {
      EXPECT_EQ(e.subject(), "packet");
      EXPECT_EQ(e.code(), errc::invalid_mode);
      EXPECT_THAT(e.what(), HasSubstr("raw, 0, 1, 2, 4, line"));
      EXPECT_THAT(e.what(), HasSubstr("'" + std::string(bad) + "'"));
    }
  }
}

TEST(FramingActiveMode, ParsesFalseTrueOnceAndACount) {
  EXPECT_EQ(parse_active_mode("false"), (active_mode{delivery::passive, 0}));
  EXPECT_EQ(parse_active_mode("true"), (active_mode{delivery::active, 0}));
  EXPECT_EQ(parse_active_mode("once"), (active_mode{delivery::once, 0}));
  EXPECT_EQ(parse_active_mode("1"), (active_mode{delivery::count, 1}));
  EXPECT_EQ(parse_active_mode("32767"), (active_mode{delivery::count, 32767}));
  EXPECT_EQ(parse_active_mode("0"), (active_mode{delivery::passive, 0}));
  for (const auto& a : {active_mode{delivery::passive, 0}, active_mode{delivery::active, 0},
                        active_mode{delivery::once, 0}, active_mode{delivery::count, 100}}) {
    EXPECT_EQ(parse_active_mode(to_string(a)), a);
  }
  EXPECT_EQ(to_string(delivery::count), "count");
  EXPECT_EQ(to_string(static_cast<delivery>(9)), "unknown");
  EXPECT_EQ(active_mode{}.mode, delivery::passive);
}

TEST(FramingActiveMode, RejectsAnythingElseNamingTheOptionAndTheValidValues) {
  for (const char* bad :
       {"", "TRUE", "yes", "-1", "32768", "99999999999999999999", "+3", "1x", " 1", "once "}) {
    try {
      (void)parse_active_mode(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const moat::config_error& e) {
      EXPECT_EQ(e.subject(), "active");
      EXPECT_EQ(e.code(), errc::invalid_active_mode);
      EXPECT_THAT(e.what(), HasSubstr("false, true, once"));
      EXPECT_THAT(e.what(), HasSubstr("'" + std::string(bad) + "'"));
    }
  }
}

TEST(FramingOptions, ComputesTheEffectiveLimit) {
  EXPECT_EQ(effective_max_packet_size({packet_mode::u32}), options::default_max_frame);
  EXPECT_EQ(effective_max_packet_size({packet_mode::u32, options::unlimited}), 0xffffffffU);
  EXPECT_EQ(effective_max_packet_size({packet_mode::u16}), 65535U);
  EXPECT_EQ(effective_max_packet_size({packet_mode::u16, 100}), 100U);
  EXPECT_EQ(effective_max_packet_size({packet_mode::line}), options::default_max_line);
  EXPECT_EQ(effective_max_packet_size({packet_mode::line, options::unlimited}), options::unlimited);
  EXPECT_EQ(effective_max_packet_size({packet_mode::raw, 5}), options::unlimited);
  static_assert(effective_max_packet_size({packet_mode::u8}) == 255);
}

}  // namespace
}  // namespace moat::framing
