// The embedded EPMD's name table: epmd's rules for names and creations.
#include "dist/epmd_registry.hpp"

#include <gtest/gtest.h>

namespace moat::dist {
namespace {

epmd_wire::node_fields node(const std::string& name, std::uint16_t highest = 6) {
  epmd_wire::node_fields f;
  f.name = name;
  f.highest_version = highest;
  return f;
}

TEST(EpmdRegistry, ANewNameStartsItsCreationAtTheClockAndEachRegistrationBumpsIt) {
  epmd_registry r([] { return 1000U; });
  EXPECT_EQ(r.add(node("a"), 1, 10), 1001U);
  EXPECT_EQ(r.remove_owner(1), "a");
  EXPECT_EQ(r.add(node("a"), 2, 10), 1002U);
  EXPECT_EQ(r.add(node("b"), 3, 11), 1001U);
  ASSERT_EQ(r.registered().size(), 2U);
  EXPECT_EQ(r.registered()[0].node.name, "b");  // newest first
}

TEST(EpmdRegistry, CreationsAreNeverZeroEvenWhenTheCounterWraps) {
  epmd_registry r([] { return 0xffffffffU; });
  EXPECT_EQ(r.add(node("a"), 1, 0), 4U);
  epmd_registry zero([] { return 0U; });
  EXPECT_EQ(zero.add(node("a"), 1, 0), 4U);
}

TEST(EpmdRegistry, OldNodesGetACreationFromOneToThree) {
  epmd_registry r([] { return 1000U; });
  const auto c = r.add(node("old", 5), 1, 0);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, 1001U % 3 + 1);
}

TEST(EpmdRegistry, ATakenOrInvalidNameIsRefused) {
  epmd_registry r;
  ASSERT_TRUE(r.add(node("a"), 1, 0));
  EXPECT_FALSE(r.add(node("a"), 2, 0));
  EXPECT_FALSE(r.add(node(""), 3, 0));
  EXPECT_FALSE(r.add(node(std::string(256, 'x')), 4, 0));
  auto big = node("e");
  big.extra.assign(epmd_wire::max_symbol_bytes + 1, 'x');
  EXPECT_FALSE(r.add(big, 5, 0));
  EXPECT_FALSE(r.remove_owner(2));
  EXPECT_EQ(r.registered().size(), 1U);
}

TEST(EpmdRegistry, UnregisteredNamesAreBounded) {
  epmd_registry r([] { return 10U; });
  for (std::uint64_t i = 0; i < epmd_registry::max_unregistered + 5; ++i) {
    ASSERT_TRUE(r.add(node("n" + std::to_string(i)), i, 0));
    ASSERT_TRUE(r.remove_owner(i));
  }
  EXPECT_EQ(r.unregistered().size(), epmd_registry::max_unregistered);
}

}  // namespace
}  // namespace moat::dist
