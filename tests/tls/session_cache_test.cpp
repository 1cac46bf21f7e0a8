// The client's session cache on its own: bounded, least recently used first out, a TLS 1.3
// ticket handed out once, TLS 1.2 session data reusable.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tls/context_state.hpp"

namespace moat::tls::detail {
namespace {

std::vector<std::uint8_t> data(std::uint8_t v) {
  return {v, v, v};
}

TEST(SessionCache, HoldsAtMostItsBoundForgettingTheLeastRecentlyUsedServer) {
  session_cache cache(3);
  for (int i = 0; i < 10; ++i) {
    cache.put("host" + std::to_string(i) + ":443", data(static_cast<std::uint8_t>(i)), false);
    EXPECT_LE(cache.size(), 3U);
  }
  EXPECT_EQ(cache.size(), 3U);
  EXPECT_TRUE(cache.take("host6:443").empty());
  EXPECT_EQ(cache.take("host7:443"), data(7));  // host7 is now the most recently used
  cache.put("other:443", data(42), false);      // so host8 goes
  EXPECT_TRUE(cache.take("host8:443").empty());
  EXPECT_EQ(cache.take("host7:443"), data(7));
  EXPECT_EQ(cache.take("host9:443"), data(9));
  EXPECT_EQ(cache.take("other:443"), data(42));
}

TEST(SessionCache, KeepsOneSessionPerServerTheLatest) {
  session_cache cache(3);
  cache.put("a:1", data(1), false);
  cache.put("a:1", data(2), false);
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(cache.take("a:1"), data(2));
}

TEST(SessionCache, HandsATls13TicketOutOnce) {
  session_cache cache(3);
  cache.put("a:1", data(1), true);
  EXPECT_EQ(cache.take("a:1"), data(1));
  EXPECT_TRUE(cache.take("a:1").empty()) << "a ticket is single-use";
  EXPECT_EQ(cache.size(), 0U);
}

TEST(SessionCache, HandsTls12SessionDataOutAgainAndAgain) {
  session_cache cache(3);
  cache.put("a:1", data(1), false);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cache.take("a:1"), data(1));
}

TEST(SessionCache, ANewBoundDropsTheLeastRecentlyUsedBeyondIt) {
  session_cache cache(4);
  for (std::uint8_t i = 0; i < 4; ++i) cache.put("h" + std::to_string(i), data(i), false);
  (void)cache.take("h0");
  cache.set_capacity(2);
  EXPECT_EQ(cache.capacity(), 2U);
  EXPECT_EQ(cache.size(), 2U);
  EXPECT_EQ(cache.take("h0"), data(0));
  EXPECT_EQ(cache.take("h3"), data(3));
  EXPECT_TRUE(cache.take("h1").empty());
}

}  // namespace
}  // namespace moat::tls::detail
