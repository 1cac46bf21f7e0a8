// The docs' example (examples/dist_gen_server.cpp) as a process, called by a real Elixir node
// with GenServer.call and GenServer.cast.
#include <gtest/gtest.h>

#include "dist/node_fixture.hpp"

namespace moat::dist {
namespace {

TEST(DocsExample, AnElixirNodeCallsTheCppGenServerOfTheDocs) {
  testing::cluster c;
  const auto files = c.files();
  test::child_process cpp({MOAT_EXAMPLE_DIST_GEN_SERVER, "cpp@localhost", "moat-test-cookie",
                           files.certfile.string(), files.keyfile.string(),
                           files.cacertfile.string(), std::to_string(c.epmd.port())});
  ASSERT_TRUE(
      cpp.wait_for_output("node 'cpp@localhost' up", test::scaled(std::chrono::seconds(20))))
      << cpp.output();
  auto o = c.erlang_options("ex", c.files());
  o.kind = test::node_kind::elixir;
  test::erlang_node ex(o);
  ASSERT_TRUE(ex.wait_ready()) << ex.output();
  EXPECT_EQ(ex.eval_elixir("GenServer.call({:counter, :\"cpp@localhost\"}, {:add, 2})"), "2")
      << ex.output() << cpp.output();
  EXPECT_EQ(ex.eval_elixir("GenServer.cast({:counter, :\"cpp@localhost\"}, {:add, 40})"), "ok");
  EXPECT_EQ(ex.eval_elixir("GenServer.call({:counter, :\"cpp@localhost\"}, :get)"), "42");
  EXPECT_EQ(ex.eval_elixir("GenServer.call({:counter, :\"cpp@localhost\"}, :nonsense)"), "badarg");
}

}  // namespace
}  // namespace moat::dist
