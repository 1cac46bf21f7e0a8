// The route table: exact paths by method, the longest prefix, 404 and 405 with Allow, and
// loud mistakes when it is built.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <moat/error.hpp>
#include <moat/http/http.hpp>

namespace moat::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

route_handler says(std::string what) {
  return [what](const incoming& in) -> asio::awaitable<response> {
    co_return make_response(bhttp::status::ok, what + " " + std::string(in.path));
  };
}

// Runs the router on one request (decoded path given directly).
std::pair<unsigned, std::string> call(const router& r, bhttp::verb v, const std::string& path) {
  request_message m{v, path, 11};
  const incoming in{m, path, "", {}, false, "x"};
  asio::io_context io;
  auto f = asio::co_spawn(io, r.dispatch(in), asio::use_future);
  io.run();
  auto res = f.get();
  return {res.result_int(),
          res.result_int() == 405 ? std::string(res[bhttp::field::allow]) : res.body()};
}

router sample() {
  router r;
  r.add(bhttp::verb::get, "/items", says("list"))
      .add(bhttp::verb::post, "/items", says("create"))
      .add(bhttp::verb::put, "/only-put", says("put"))
      .add_prefix("/static/", says("static"))
      .add_prefix("/static/deep/", says("deep"))
      .add_prefix("/", says("fallback"));
  return r;
}

TEST(Router, ChoosesTheExactRouteForItsMethod) {
  const auto r = sample();
  EXPECT_EQ(call(r, bhttp::verb::get, "/items"), std::pair(200U, std::string("list /items")));
  EXPECT_EQ(call(r, bhttp::verb::post, "/items"), std::pair(200U, std::string("create /items")));
}

TEST(Router, AnswersHeadWithTheGetRoute) {
  EXPECT_EQ(call(sample(), bhttp::verb::head, "/items").second, "list /items");
}

TEST(Router, Answers405WithTheAllowedMethodsForAnExactPathWithoutThatMethod) {
  const auto r = sample();
  EXPECT_EQ(call(r, bhttp::verb::delete_, "/items"),
            std::pair(405U, std::string("GET, HEAD, POST")));
  EXPECT_EQ(call(r, bhttp::verb::get, "/only-put"), std::pair(405U, std::string("PUT")));
}

TEST(Router, LetsTheLongestPrefixWin) {
  const auto r = sample();
  EXPECT_EQ(call(r, bhttp::verb::get, "/static/a.css").second, "static /static/a.css");
  EXPECT_EQ(call(r, bhttp::verb::delete_, "/static/deep/x").second, "deep /static/deep/x");
  EXPECT_EQ(call(r, bhttp::verb::get, "/items/1").second, "fallback /items/1");
}

TEST(Router, Answers404WhenNothingServesThePath) {
  router r;
  r.add(bhttp::verb::get, "/a", says("a")).add_prefix("/b/", says("b"));
  EXPECT_EQ(call(r, bhttp::verb::get, "/c").first, 404U);
  EXPECT_EQ(call(r, bhttp::verb::get, "/b").first, 404U);
  EXPECT_EQ(call(router{}, bhttp::verb::get, "/").first, 404U);
}

TEST(Router, RefusesBadRoutesWhenTheyAreAdded) {
  router r;
  EXPECT_THROW(r.add(bhttp::verb::get, "no-slash", says("x")), config_error);
  EXPECT_THROW(r.add(bhttp::verb::get, "/x", route_handler{}), config_error);
  EXPECT_THROW(r.add_prefix("", says("x")), config_error);
  r.add(bhttp::verb::get, "/x", says("x"));
  EXPECT_THROW(r.add(bhttp::verb::get, "/x", says("again")), config_error);
  r.add_prefix("/p/", says("p"));
  EXPECT_THROW(r.add_prefix("/p/", says("again")), config_error);
  try {
    r.add(bhttp::verb::get, "/x", says("again"));
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("GET /x"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moat::http
