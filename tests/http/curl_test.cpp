// curl as a real peer of the server: HTTPS with verification, 100-continue and connection
// reuse, and a refused upload.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <moat/http/http.hpp>

#include "http/http_fixture.hpp"

namespace moat::http {
namespace {

using namespace test_fixture;

struct with_curl : http_fixture {
  void SetUp() override {
    if (!test::have_program("curl")) GTEST_SKIP() << "curl is not installed";
  }
  static router routes() {
    router r;
    r.add(bhttp::verb::get, "/hello", text("hello from moat"))
        .add(bhttp::verb::post, "/echo", [](const incoming& in) -> awaitable<response> {
          co_return make_response(bhttp::status::ok, in.message.body());
        });
    return r;
  }
  // Runs curl with `args` and returns its exit status and output.
  static std::pair<std::optional<int>, std::string> curl(std::vector<std::string> args) {
    args.insert(args.begin(), {"curl", "-sS"});
    test::child_process p(std::move(args));
    auto rc = p.wait(test::scaled(std::chrono::milliseconds(60s)));
    return {rc, p.output()};
  }
};

TEST_F(with_curl, GetsAPageOverHttpsVerifyingTheServerWithTheTestCa) {
  server s(options(true), routes());
  s.start();
  auto [rc, out] = curl(
      {"--cacert", ca.certfile().string(), fmt::format("https://localhost:{}/hello", port(s))});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "hello from moat");
}

TEST_F(with_curl, PostsTwiceWith100ContinueOnOneConnection) {
  server s(options(true), routes());
  s.start();
  const auto file = dir.path() / "upload";
  test::write_file(file, std::string(100000, 'u'));
  auto [rc, out] =
      curl({"--cacert", ca.certfile().string(), "-H", "Expect: 100-continue", "--data-binary",
            "@" + file.string(), fmt::format("https://localhost:{}/echo", port(s)),
            fmt::format("https://localhost:{}/echo", port(s))});
  EXPECT_EQ(rc, 0) << out.substr(0, 200);
  EXPECT_EQ(out, std::string(200000, 'u'));
  EXPECT_EQ(s.get_stats().accepted, 1U);
}

TEST_F(with_curl, GetsA413ForAnUploadBeyondTheLimit) {
  auto o = options(false);
  o.max_body_bytes = 1000;
  server s(o, routes());
  s.start();
  const auto file = dir.path() / "big";
  test::write_file(file, std::string(500000, 'b'));
  auto [rc, out] = curl({"-o", "/dev/null", "-w", "%{http_code}", "--data-binary",
                         "@" + file.string(), fmt::format("http://127.0.0.1:{}/echo", port(s))});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "413");
}

}  // namespace
}  // namespace moat::http
