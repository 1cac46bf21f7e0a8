// The redirect server of an HTTP port (seed 4): 301 for GET and HEAD, 308 for the rest, to
// https:// on the same host with the path and query kept; curl as a real peer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <moat/http/http.hpp>

#include "http/http_fixture.hpp"

namespace moat::http {
namespace {

using namespace test_fixture;

struct redirect : http_fixture {
  // The one response to `request_head` (a request line and headers, without the final CRLF)
  // and `body`.
  response ask(server& s, const std::string& request_head, const std::string& body = {}) {
    auto got =
        split_responses(exchange(port(s), false, request_head + "Connection: close\r\n\r\n" + body),
                        {request_head.starts_with("HEAD ")});
    EXPECT_EQ(got.responses.size(), 1U) << request_head;
    return got.responses.empty() ? response{} : got.responses.front();
  }
};

TEST_F(redirect, SendsGetAndHeadTo301WithThePathAndQueryKeptAndPort443Omitted) {
  server s(options(false), https_redirect());
  s.start();
  auto r = ask(s, "GET /a/b%20c?x=1&y=%2F HTTP/1.1\r\nHost: Example.com:8080\r\n");
  EXPECT_EQ(r.result_int(), 301U);
  EXPECT_EQ(r[bhttp::field::location], "https://example.com/a/b%20c?x=1&y=%2F");
  auto h = ask(s, "HEAD / HTTP/1.1\r\nHost: example.com\r\n");
  EXPECT_EQ(h.result_int(), 301U);
  EXPECT_EQ(h[bhttp::field::location], "https://example.com/");
  EXPECT_TRUE(h.body().empty());
}

TEST_F(redirect, SendsOtherMethodsTo308SoThatTheyAreRepeatedAsTheyWere) {
  server s(options(false), https_redirect());
  s.start();
  auto r = ask(s, "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n", "abc");
  EXPECT_EQ(r.result_int(), 308U);
  EXPECT_EQ(r[bhttp::field::location], "https://example.com/form");
}

TEST_F(redirect, NamesTheHttpsPortWhenItIsNot443AndKeepsIpv6Brackets) {
  server s(options(false), https_redirect(8443));
  s.start();
  EXPECT_EQ(ask(s, "GET /p?q HTTP/1.1\r\nHost: example.com\r\n")[bhttp::field::location],
            "https://example.com:8443/p?q");
  EXPECT_EQ(ask(s, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n")[bhttp::field::location],
            "https://[::1]:8443/");
  EXPECT_EQ(ask(s, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")[bhttp::field::location],
            "https://127.0.0.1:8443/");
}

TEST_F(redirect, AnswersARequestWithoutAHostWith400) {
  server s(options(false), https_redirect());
  s.start();
  EXPECT_EQ(ask(s, "GET / HTTP/1.0\r\n").result_int(), 400U);
}

TEST_F(redirect, CurlSeesThe301AndItsLocation) {
  if (!test::have_program("curl")) GTEST_SKIP() << "curl is not installed";
  server s(options(false), https_redirect());
  s.start();
  test::child_process curl({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                            "-H", "Host: www.example.org",
                            fmt::format("http://127.0.0.1:{}/blog/post?id=7", port(s))});
  EXPECT_EQ(curl.wait(test::scaled(std::chrono::milliseconds(30s))), 0) << curl.output();
  EXPECT_EQ(curl.output(), "301 https://www.example.org/blog/post?id=7");
}

}  // namespace
}  // namespace moat::http
