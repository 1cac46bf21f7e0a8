// The http error category: every code has its own message, a stable name and, where one
// fits, a portable condition.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <moat/http/errors.hpp>
#include <set>
#include <string>

namespace moat::http {
namespace {

using ::testing::HasSubstr;

constexpr errc all_codes[] = {
    errc::invalid_url,    errc::unsupported_scheme, errc::malformed_message, errc::header_too_large,
    errc::body_too_large, errc::too_many_redirects, errc::timeout,           errc::closed_early};

TEST(HttpErrors, GiveEveryCodeADistinctMessageAndName) {
  std::set<std::string> messages;
  std::set<std::string_view> names;
  for (auto e : all_codes) {
    const std::error_code ec = e;
    EXPECT_EQ(&ec.category(), &category());
    EXPECT_TRUE(ec);
    const std::string m = ec.message();
    EXPECT_FALSE(m.empty());
    EXPECT_THAT(m, ::testing::Not(HasSubstr("unknown"))) << static_cast<int>(e);
    EXPECT_TRUE(messages.insert(m).second) << "duplicate message: " << m;
    const auto name = reason_name(e);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << "duplicate name: " << name;
  }
  const std::string unknown = category().message(999);
  EXPECT_THAT(unknown, HasSubstr("unknown"));
  EXPECT_THAT(unknown, HasSubstr("999"));
  EXPECT_EQ(messages.count(unknown), 0U);
  EXPECT_EQ(messages.count(category().message(0)), 0U);
  EXPECT_EQ(reason_name(errc::body_too_large), "body_too_large");
}

TEST(HttpErrors, NameTheirCategory) {
  EXPECT_STREQ(category().name(), "moat.http");
}

TEST(HttpErrors, CompareEqualToThePortableConditionsWhereOneFits) {
  EXPECT_EQ(std::error_code(errc::timeout), std::errc::timed_out);
  EXPECT_EQ(std::error_code(errc::body_too_large), std::errc::message_size);
  EXPECT_EQ(std::error_code(errc::header_too_large), std::errc::message_size);
  EXPECT_EQ(std::error_code(errc::malformed_message), std::errc::bad_message);
  EXPECT_EQ(std::error_code(errc::closed_early), std::errc::connection_reset);
  EXPECT_EQ(std::error_code(errc::invalid_url), std::errc::invalid_argument);
  EXPECT_EQ(std::error_code(errc::unsupported_scheme), std::errc::protocol_not_supported);
  EXPECT_NE(std::error_code(errc::timeout), std::errc::connection_reset);
  // A redirect loop has no errno of its own.
  EXPECT_EQ(std::error_code(errc::too_many_redirects),
            std::error_code(errc::too_many_redirects).default_error_condition());
}

}  // namespace
}  // namespace moat::http
