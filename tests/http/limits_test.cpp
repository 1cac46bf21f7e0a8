// The server's limits and failure paths over real sockets: 431, 413, 408 (slowloris), 400,
// a handler that throws (500), the keep-alive timeout, and the drain.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <future>
#include <moat/http/http.hpp>
#include <thread>

#include "http/http_fixture.hpp"

namespace moat::http {
namespace {

using namespace test_fixture;

router routes() {
  router r;
  r.add(bhttp::verb::get, "/hello", text("hello"))
      .add(bhttp::verb::post, "/echo",
           [](const incoming& in) -> awaitable<response> {
             co_return make_response(bhttp::status::ok, in.message.body());
           })
      .add(bhttp::verb::get, "/boom", [](const incoming&) -> awaitable<response> {
        throw std::runtime_error("the handler blew up on purpose");
        co_return response{};
      });
  return r;
}

using limits = over_both;

TEST_P(limits, AnOversizedHeadGets431AndTheConnectionCloses) {
  auto o = options(secure());
  o.max_header_bytes = 1024;
  server s(o, routes());
  s.start();
  const auto wire = exchange(port(s), secure(),
                             "GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(4000, 'x') +
                                 "\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  auto got = split_responses(wire);
  ASSERT_EQ(got.responses.size(), 1U) << wire;
  EXPECT_EQ(got.responses[0].result_int(), 431U);
  EXPECT_EQ(got.responses[0][bhttp::field::connection], "close");
  EXPECT_EQ(log.count("refused with 431"), 1U);
}

TEST_P(limits, AnOversizedBodyGets413WhetherItsLengthIsGivenOrChunked) {
  auto o = options(secure());
  o.max_body_bytes = 1000;
  server s(o, routes());
  s.start();
  // The whole body is sent: the server must answer although it does not read it all.
  auto declared =
      split_responses(exchange(port(s), secure(),
                               "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n" +
                                   std::string(200000, 'b')));
  ASSERT_EQ(declared.responses.size(), 1U);
  EXPECT_EQ(declared.responses[0].result_int(), 413U);
  std::string chunked = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) chunked += "12C\r\n" + std::string(300, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  auto streamed = split_responses(exchange(port(s), secure(), chunked));
  ASSERT_EQ(streamed.responses.size(), 1U);
  EXPECT_EQ(streamed.responses[0].result_int(), 413U);
  // A body within the limit still gets through.
  auto fine = split_responses(exchange(
      port(s), secure(),
      "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n" +
          std::string(1000, 'f')));
  ASSERT_EQ(fine.responses.size(), 1U);
  EXPECT_EQ(fine.responses[0].body().size(), 1000U);
}

TEST_P(limits, MalformedRequestsGet400) {
  server s(options(secure()), routes());
  s.start();
  for (const std::string wire : {"NOT HTTP AT ALL\r\n\r\n", "GET /hello HTTP/1.1\r\n\r\n",
                                 "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                                 "GET /hello HTTP/1.1\r\nHost: a\r\nBad Field\r\n\r\n"}) {
    auto got = split_responses(exchange(port(s), secure(), wire));
    ASSERT_EQ(got.responses.size(), 1U) << wire;
    EXPECT_EQ(got.responses[0].result_int(), 400U) << wire;
    EXPECT_EQ(got.responses[0][bhttp::field::connection], "close");
  }
}

TEST_P(limits, AHandlerThatThrowsGets500AndTheConnectionClosesLoggedOnce) {
  server s(options(secure()), routes());
  s.start();
  auto got = split_responses(exchange(port(s), secure(),
                                      "GET /boom HTTP/1.1\r\nHost: a\r\n\r\n"
                                      "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_EQ(got.responses.size(), 1U);
  EXPECT_EQ(got.responses[0].result_int(), 500U);
  EXPECT_EQ(got.responses[0][bhttp::field::connection], "close");
  EXPECT_EQ(log.count("the handler blew up on purpose"), 1U);
  EXPECT_EQ(log.count("GET /boom"), 1U);
}

TEST_P(limits, AHeadDribbledSlowerThanTheHeaderTimeoutGets408WithinTheDeadline) {
  auto o = options(secure());
  o.header_timeout = test::scaled(600ms);
  server s(o, routes());
  s.start();
  const auto started = std::chrono::steady_clock::now();
  auto wire = test::run(io, [&]() -> awaitable<std::string> {
    auto dialed = co_await dial(port(s), secure());
    if (!dialed) co_return dialed.error().message();
    auto c = std::make_shared<tls::socket>(std::move(*dialed));
    // One byte every 50 ms, forever (the head never ends); the reader below sees the answer.
    auto dribble = [](std::shared_ptr<tls::socket> sock) -> awaitable<void> {
      const std::string head = "GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: ";
      asio::steady_timer t(sock->get_executor());
      for (std::size_t i = 0;; ++i) {
        // (Not a conditional inside co_await: GCC 12 destroys its temporary twice.)
        std::string piece = "x";
        if (i < head.size()) piece = head.substr(i, 1);
        if (co_await sock->send(piece)) co_return;
        t.expires_after(50ms);
        co_await t.async_wait(asio::use_awaitable);
      }
    };
    asio::co_spawn(io, dribble(c), asio::detached);
    auto got = co_await read_all(*c);
    co_await c->close();  // ends the dribble too
    co_return got;
  }());
  const auto took = std::chrono::steady_clock::now() - started;
  auto got = split_responses(wire);
  ASSERT_EQ(got.responses.size(), 1U) << wire;
  EXPECT_EQ(got.responses[0].result_int(), 408U);
  EXPECT_GE(took, o.header_timeout);
  EXPECT_LT(took, o.header_timeout + test::scaled(5s));
  // The request still being read when the clock ran out was logged, rate-limited.
  EXPECT_EQ(log.count("refused with 408"), 1U);
}

TEST_P(limits, AKeepAliveConnectionIdleForTooLongIsClosedQuietly) {
  auto o = options(secure());
  o.keep_alive_timeout = test::scaled(300ms);
  server s(o, routes());
  s.start();
  auto r = test::run(io, [&]() -> awaitable<std::string> {
    auto c = co_await dial(port(s), secure());
    if (!c) co_return c.error().message();
    (void)co_await c->send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    std::string pending;
    auto first = co_await read_one(*c, pending);
    auto after = co_await read_all(*c);  // nothing more, then the close
    co_return (first ? first->body() : first.error().message()) + "|" + pending + after;
  }());
  EXPECT_EQ(r, "hello|");
  EXPECT_TRUE(eventually([&] { return s.get_stats().active == 0; }));
  EXPECT_EQ(log.count("refused"), 0U);
}

TEST_P(limits, TheDrainCompletesTheRequestInProgressAndClosesIdleConnectionsAtOnce) {
  auto o = options(secure());
  o.listener.shutdown_grace = test::scaled(60s);
  auto release = std::make_shared<std::promise<void>>();
  auto released = release->get_future().share();
  std::atomic<bool> in_handler{false};
  auto r = routes();
  r.add(bhttp::verb::get, "/slow", [&](const incoming&) -> awaitable<response> {
    in_handler = true;
    // Waits for the test without blocking the worker: polls the future on a timer.
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (released.wait_for(0s) != std::future_status::ready) {
      t.expires_after(5ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    co_return make_response(bhttp::status::ok, "finished");
  });
  server s(o, std::move(r));
  s.start();
  const auto started = std::chrono::steady_clock::now();
  auto result = test::run(io, [&]() -> awaitable<std::string> {
    auto idle = co_await dial(port(s), secure());
    auto busy = co_await dial(port(s), secure());
    if (!idle || !busy) co_return std::string("connect failed");
    std::string pending;
    (void)co_await idle->send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    auto first = co_await read_one(*idle, pending);
    (void)co_await busy->send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    eventually([&] { return in_handler.load(); });
    std::thread stopper([&] { s.stop(); });
    const auto idle_rest = co_await read_all(*idle);  // closed by the drain, nothing sent
    release->set_value();
    const auto slow = co_await read_all(*busy);
    co_await busy->close();  // as a client does at the end of the response
    stopper.join();
    auto got = split_responses(slow);
    co_return fmt::format(
        "{}|{}|{}|{}", first ? first->body() : first.error().message(), idle_rest.size(),
        got.responses.size() == 1 ? got.responses[0].body() : slow,
        got.responses.size() == 1 ? std::string(got.responses[0][bhttp::field::connection]) : "");
  }());
  EXPECT_EQ(result, "hello|0|finished|close");
  EXPECT_LT(std::chrono::steady_clock::now() - started, o.listener.shutdown_grace);
}

INSTANTIATE_TEST_SUITE_P(Transports, limits, ::testing::Bool(), transport_name);

}  // namespace
}  // namespace moat::http
