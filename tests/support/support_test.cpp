// The test support library's own checks, where a mistake would show only as a rare flake.
#include "support/support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

namespace moat::test {
namespace {

std::pair<unsigned, unsigned> ephemeral_range() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned lo = 32768, hi = 60999;
  f >> lo >> hi;
  return {lo, hi};
}

TEST(FreePort, IsOutsideTheEphemeralRangeSoNoOutgoingConnectionCanTakeIt) {
  // A port the kernel hands out for bind(0) is also the kind it gives every outgoing
  // connection: another test's connect could take it between free_port() and the listen.
  const auto [lo, hi] = ephemeral_range();
  for (int i = 0; i < 20; ++i) {
    const unsigned p = free_port();
    EXPECT_TRUE(p < lo || p > hi) << p << " is in the ephemeral range " << lo << "-" << hi;
  }
}

TEST(FreePort, NeverGivesTheSamePortTwiceWhileTheProcessLives) {
  std::set<unsigned short> seen;
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(seen.insert(free_port()).second);
}

}  // namespace
}  // namespace moat::test
