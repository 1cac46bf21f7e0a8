// The HTTP server over real sockets, plain TCP and TLS alike: routes, 404/405, keep-alive,
// pipelining, HEAD, 100-continue, HTTP/1.0, and what a handler sees of a request.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <moat/error.hpp>
#include <moat/http/http.hpp>

#include "http/http_fixture.hpp"

namespace moat::http {
namespace {

using namespace test_fixture;

router routes() {
  router r;
  r.add(bhttp::verb::get, "/hello", text("hello, world"))
      .add(bhttp::verb::post, "/echo",
           [](const incoming& in) -> awaitable<response> {
             co_return make_response(bhttp::status::ok, in.message.body());
           })
      .add(bhttp::verb::get, "/whoami",
           [](const incoming& in) -> awaitable<response> {
             co_return make_response(
                 bhttp::status::ok,
                 fmt::format("path={} query={} host={} secure={} peer={}", in.path, in.query,
                             in.host, in.secure, in.peer.address().to_string()));
           })
      .add_prefix("/files/", [](const incoming& in) -> awaitable<response> {
        co_return make_response(bhttp::status::ok, std::string(in.path));
      });
  return r;
}

using http_server = over_both;

TEST_P(http_server, AnswersRoutesAnd404And405) {
  server s(options(secure()), routes());
  s.start();
  auto got = split_responses(exchange(port(s), secure(),
                                      "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                      "GET /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                      "DELETE /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                      "GET /files/a/b.txt HTTP/1.1\r\nHost: localhost\r\n"
                                      "Connection: close\r\n\r\n"));
  ASSERT_EQ(got.responses.size(), 4U) << got.rest;
  EXPECT_EQ(got.responses[0].result_int(), 200U);
  EXPECT_EQ(got.responses[0].body(), "hello, world");
  EXPECT_EQ(got.responses[1].result_int(), 404U);
  EXPECT_EQ(got.responses[2].result_int(), 405U);
  EXPECT_EQ(got.responses[2][bhttp::field::allow], "GET, HEAD");
  EXPECT_EQ(got.responses[3].body(), "/files/a/b.txt");
  EXPECT_EQ(got.responses[3][bhttp::field::connection], "close");
  EXPECT_TRUE(got.rest.empty());
}

TEST_P(http_server, ServesSeveralRequestsOnOneKeepAliveConnection) {
  server s(options(secure()), routes());
  s.start();
  auto bodies = test::run(io, [&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> out;
    auto c = co_await dial(port(s), secure());
    if (!c) co_return std::vector<std::string>{c.error().message()};
    std::string pending;
    for (int i = 0; i < 5; ++i) {
      const std::string body = "message " + std::to_string(i);
      (void)co_await c->send(
          fmt::format("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{}",
                      body.size(), body));
      auto r = co_await read_one(*c, pending);
      out.push_back(r ? r->body() : r.error().message());
    }
    co_return out;
  }());
  EXPECT_EQ(bodies, (std::vector<std::string>{"message 0", "message 1", "message 2", "message 3",
                                              "message 4"}));
  EXPECT_EQ(s.get_stats().accepted, 1U);
}

TEST_P(http_server, AnswersPipelinedRequestsInOrder) {
  server s(options(secure()), routes());
  s.start();
  std::string wire;
  for (int i = 0; i < 20; ++i) {
    wire += fmt::format("GET /files/{} HTTP/1.1\r\nHost: localhost\r\n{}\r\n", i,
                        i == 19 ? "Connection: close\r\n" : "");
  }
  auto got = split_responses(exchange(port(s), secure(), wire));
  ASSERT_EQ(got.responses.size(), 20U);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(got.responses[i].body(), fmt::format("/files/{}", i));
  }
}

TEST_P(http_server, AnswersHeadWithTheHeadersOfGetAndNoBody) {
  server s(options(secure()), routes());
  s.start();
  const auto wire = exchange(port(s), secure(),
                             "HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"
                             "GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  auto got = split_responses(wire, {true, false});
  ASSERT_EQ(got.responses.size(), 2U) << wire;
  EXPECT_EQ(got.responses[0][bhttp::field::content_length], "12");
  EXPECT_TRUE(got.responses[0].body().empty());
  EXPECT_EQ(got.responses[1].body(), "hello, world");  // so nothing followed the HEAD's head
}

TEST_P(http_server, Answers100ContinueBeforeTheBodyIsSent) {
  server s(options(secure()), routes());
  s.start();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto c = co_await dial(port(s), secure());
    if (!c) co_return c.error().message();
    (void)co_await c->send(
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        "Content-Length: 4\r\nConnection: close\r\n\r\n");
    std::string pending;
    while (pending.find("\r\n\r\n") == std::string::npos) {
      auto m = co_await c->recv_view(0, test::scaled(10s));
      if (!m) co_return "no 100 Continue: " + m.error().message();
      pending.append(reinterpret_cast<const char*>(m->data()), m->size());
    }
    if (!pending.starts_with("HTTP/1.1 100 Continue\r\n\r\n")) co_return "got " + pending;
    (void)co_await c->send("body");
    pending += co_await read_all(*c);
    auto got =
        split_responses(pending.substr(std::string_view("HTTP/1.1 100 Continue\r\n\r\n").size()));
    co_return got.responses.size() == 1 ? got.responses[0].body() : "got " + pending;
  }());
  EXPECT_EQ(r, "body");
}

TEST_P(http_server, ClosesHttp10ConnectionsUnlessKeepAliveIsAsked) {
  server s(options(secure()), routes());
  s.start();
  auto plain10 = split_responses(exchange(port(s), secure(), "GET /hello HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(plain10.responses.size(), 1U);
  EXPECT_EQ(plain10.responses[0][bhttp::field::connection], "close");
  auto kept = split_responses(exchange(port(s), secure(),
                                       "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                       "GET /hello HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(kept.responses.size(), 2U);
  EXPECT_EQ(kept.responses[0][bhttp::field::connection], "keep-alive");
  EXPECT_EQ(kept.responses[1][bhttp::field::connection], "close");
}

TEST_P(http_server, GivesEveryResponseLengthDateAndServer) {
  server s(options(secure()), routes());
  s.start();
  auto got = split_responses(
      exchange(port(s), secure(), "GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  ASSERT_EQ(got.responses.size(), 1U);
  const auto& r = got.responses[0];
  EXPECT_EQ(r.version(), 11U);
  EXPECT_EQ(r[bhttp::field::content_length], std::to_string(r.body().size()));
  EXPECT_TRUE(std::string(r[bhttp::field::date]).ends_with(" GMT"));
  EXPECT_EQ(r[bhttp::field::server], "moat");
}

TEST_P(http_server, ShowsHandlersTheDecodedPathTheRawQueryAndTheHost) {
  server s(options(secure()), routes());
  s.start();
  auto got = split_responses(exchange(
      port(s), secure(),
      "GET /who%61mi?a=%20b&c HTTP/1.1\r\nHost: LocalHost:1234\r\nConnection: close\r\n\r\n"));
  ASSERT_EQ(got.responses.size(), 1U);
  EXPECT_EQ(
      got.responses[0].body(),
      fmt::format("path=/whoami query=a=%20b&c host=localhost secure={} peer=127.0.0.1", secure()));
}

TEST_P(http_server, ClosesTheConnectionAfterTheLastRequestItAllows) {
  auto o = options(secure());
  o.max_requests_per_connection = 2;
  server s(o, routes());
  s.start();
  auto got = split_responses(exchange(port(s), secure(),
                                      "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                                      "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                                      "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_EQ(got.responses.size(), 2U);
  EXPECT_EQ(got.responses[0].count(bhttp::field::connection), 0U);
  EXPECT_EQ(got.responses[1][bhttp::field::connection], "close");
}

INSTANTIATE_TEST_SUITE_P(Transports, http_server, ::testing::Bool(), transport_name);

TEST_F(http_fixture, ServerRefusesOptionsItCannotHonour) {
  auto o = options(false);
  o.listener.socket.packet = framing::packet_mode::u32;
  EXPECT_THROW(server(o, routes()), config_error);
  o = options(false);
  o.header_timeout = 0ms;
  EXPECT_THROW(server(o, routes()), config_error);
  o = options(false);
  o.max_requests_per_connection = 0;
  EXPECT_THROW(server(o, routes()), config_error);
  server plain(options(false), routes());
  EXPECT_FALSE(plain.is_tls());
  tls::options t;
  t.certfile = leaf.certfile;
  t.keyfile = leaf.keyfile;
  EXPECT_THROW(plain.reload(t), config_error);
  server secure(options(true), routes());
  EXPECT_TRUE(secure.is_tls());
  EXPECT_NO_THROW(secure.reload(t));
}

}  // namespace
}  // namespace moat::http
