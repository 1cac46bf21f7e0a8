#include "moat/dist/node_name.hpp"

#include <gtest/gtest.h>

#include <set>

#include "moat/dist/errors.hpp"
#include "moat/error.hpp"

namespace moat::dist {
namespace {

TEST(NodeName, SplitsAPeersNameAtItsAt) {
  auto n = parse_node_name("alice@host.example");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->name, "alice");
  EXPECT_EQ(n->host, "host.example");
  EXPECT_EQ(n->full(), "alice@host.example");
}

TEST(NodeName, RefusesNamesThatAreNotNameAtHost) {
  for (const char* bad : {"", "alice", "@host", "alice@", "al ice@host", "alice@ho st",
                          "alice@host@x", "al.ice@host"})
    EXPECT_FALSE(parse_node_name(bad)) << bad;
}

TEST(NodeName, ShortNamesTakeHostsWithoutDotsAndLongNamesDottedHostsOrAddresses) {
  EXPECT_TRUE(host_fits("myhost", name_mode::short_names));
  EXPECT_FALSE(host_fits("myhost.example", name_mode::short_names));
  EXPECT_TRUE(host_fits("myhost.example", name_mode::long_names));
  EXPECT_TRUE(host_fits("127.0.0.1", name_mode::long_names));
  EXPECT_TRUE(host_fits("::1", name_mode::long_names));
  EXPECT_FALSE(host_fits("myhost", name_mode::long_names));
}

TEST(NodeName, ALocalShortNameWithoutHostTakesThisMachinesFirstLabel) {
  const node_name n = make_local_name("alice", name_mode::short_names);
  EXPECT_EQ(n.name, "alice");
  EXPECT_FALSE(n.host.empty());
  EXPECT_EQ(n.host.find('.'), std::string::npos);
}

TEST(NodeName, ALocalNameThatDoesNotFitItsModeIsAConfigurationErrorNamingTheOption) {
  try {
    (void)make_local_name("alice@a.example", name_mode::short_names);
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::name_mode_mismatch));
    EXPECT_NE(std::string(e.what()).find("--name 'alice@a.example'"), std::string::npos);
  }
  EXPECT_THROW((void)make_local_name("a!ice", name_mode::short_names), config_error);
  EXPECT_EQ(make_local_name("alice@127.0.0.1", name_mode::long_names).host, "127.0.0.1");
}

}  // namespace
}  // namespace moat::dist

namespace moat::dist {
namespace {

TEST(DistErrors, EveryCodeHasItsOwnMessage) {
  std::set<std::string> seen;
  for (int v = 1; v <= static_cast<int>(errc::disconnected); ++v) {
    const std::string m = make_error_code(static_cast<errc>(v)).message();
    EXPECT_EQ(m.find("unknown"), std::string::npos) << v;
    EXPECT_TRUE(seen.insert(m).second) << "twice: " << m;
  }
  EXPECT_STREQ(category().name(), "moat.dist");
}

}  // namespace
}  // namespace moat::dist
