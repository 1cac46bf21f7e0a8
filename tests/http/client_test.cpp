// The HTTP client against the moat server and against raw sockets that misbehave: TLS
// verification, connection reuse and the retry of a stale connection, redirects and their
// limit, size limits, timeouts, responses cut short, URLs.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <moat/error.hpp>
#include <moat/http/http.hpp>

#include "http/http_fixture.hpp"

namespace moat::http {
namespace {

using namespace test_fixture;

route_handler redirect_to(std::function<std::string(std::string_view)> where) {
  return [where](const incoming& in) -> awaitable<response> {
    auto r = make_response(bhttp::status::found);
    r.set(bhttp::field::location, where(in.path));
    co_return r;
  };
}

router routes() {
  router r;
  r.add(bhttp::verb::get, "/hello", text("hello, client"))
      .add(bhttp::verb::post, "/echo",
           [](const incoming& in) -> awaitable<response> {
             co_return make_response(bhttp::status::ok, in.message.body());
           })
      .add(bhttp::verb::get, "/headers",
           [](const incoming& in) -> awaitable<response> {
             const auto& m = in.message;
             co_return make_response(
                 bhttp::status::ok,
                 fmt::format("host={} ua={} x={} auth={}", std::string(m[bhttp::field::host]),
                             std::string(m[bhttp::field::user_agent]), std::string(m["X-Test"]),
                             std::string(m[bhttp::field::authorization])));
           })
      .add(bhttp::verb::get, "/big",
           [](const incoming&) -> awaitable<response> {
             co_return make_response(bhttp::status::ok, std::string(2 << 20, 'b'));
           })
      .add(bhttp::verb::get, "/big-header",
           [](const incoming&) -> awaitable<response> {
             auto res = make_response(bhttp::status::ok, "small");
             res.set("X-Large", std::string(32 * 1024, 'h'));  // (Beast's fields stop at 64 KiB)
             co_return res;
           })
      .add(bhttp::verb::get, "/loop/a", redirect_to([](auto) { return "/loop/b"; }))
      .add(bhttp::verb::get, "/loop/b", redirect_to([](auto) { return "a"; }))  // relative
      // /chain/N redirects to /chain/N-1; /chain/0 is the end.
      .add_prefix("/chain/", [](const incoming& in) -> awaitable<response> {
        const int n = std::stoi(std::string(in.path.substr(7)));
        if (n == 0) co_return make_response(bhttp::status::ok, "arrived");
        auto res = make_response(bhttp::status::found);
        res.set(bhttp::field::location, fmt::format("/chain/{}", n - 1));
        co_return res;
      });
  return r;
}

struct client_test : http_fixture {
  client_options trusting() const {
    client_options o;
    o.tls.cacertfile = ca.certfile();
    o.logger = log.logger();
    return o;
  }
  template <class T>
  T run(awaitable<T> aw) {
    return test::run(io, std::move(aw));
  }
  // Body or error text of a GET.
  std::string get(client& c, const std::string& url) {
    return run([&]() -> awaitable<std::string> {
      auto r = co_await c.get(url);
      co_return r ? r->body() : "error: " + r.error().message();
    }());
  }
  std::error_code get_error(client& c, const std::string& url) {
    return run([&]() -> awaitable<std::error_code> {
      auto r = co_await c.get(url);
      co_return r ? std::error_code{} : r.error();
    }());
  }
};

TEST_F(client_test, GetsOverTlsVerifyingTheServerWithTheTestCa) {
  server s(options(true), routes());
  s.start();
  client c(io.get_executor(), trusting());
  EXPECT_EQ(get(c, fmt::format("https://localhost:{}/hello", port(s))), "hello, client");
  // An IP literal is checked against the certificate's IP addresses.
  EXPECT_EQ(get(c, fmt::format("https://127.0.0.1:{}/hello", port(s))), "hello, client");
}

TEST_F(client_test, ClosesItsIdleConnectionsWithCloseNotifyNotAbruptly) {
  server s(options(true), routes());
  s.start();
  client c(io.get_executor(), trusting());
  EXPECT_EQ(get(c, fmt::format("https://localhost:{}/hello", port(s))), "hello, client");
  c.close_idle();
  run([&]() -> awaitable<void> {
    const auto deadline = std::chrono::steady_clock::now() + test::scaled(10s);
    while (s.get_stats().active != 0 && std::chrono::steady_clock::now() < deadline) {
      asio::steady_timer t(io, 2ms);
      co_await t.async_wait(asio::use_awaitable);
    }
  }());
  EXPECT_EQ(s.get_stats().active, 0U);
  // The server saw a close_notify: a normal close, nothing logged.
  EXPECT_EQ(log.count("close_notify"), 0U) << fmt::format("{}", fmt::join(log.lines(), "\n"));
}

TEST_F(client_test, RefusesAServerItsTrustStoreDoesNotKnow) {
  server s(options(true), routes());
  s.start();
  client_options o;  // the system's trust store: the test CA is not in it
  client c(io.get_executor(), o);
  EXPECT_EQ(get_error(c, fmt::format("https://localhost:{}/hello", port(s))),
            tls::errc::unknown_ca);
}

TEST_F(client_test, RefusesACertificateForAnotherHostName) {
  auto o = options(true);
  const auto other = ca.issue("other.example", pki::key_type::ecdsa_p256, {"DNS:other.example"});
  o.tls->certfile = other.certfile;
  o.tls->keyfile = other.keyfile;
  server s(o, routes());
  s.start();
  client c(io.get_executor(), trusting());
  EXPECT_EQ(get_error(c, fmt::format("https://localhost:{}/hello", port(s))),
            tls::errc::hostname_mismatch);
}

TEST_F(client_test, ReusesOneConnectionForRequestsOneAfterAnother) {
  server s(options(true), routes());
  s.start();
  client c(io.get_executor(), trusting());
  for (int i = 0; i < 5; ++i) {
    const auto body = fmt::format("request {}", i);
    auto r = run([&]() -> awaitable<std::string> {
      auto res =
          co_await c.post(fmt::format("https://localhost:{}/echo", port(s)), "text/plain", body);
      co_return res ? res->body() : res.error().message();
    }());
    EXPECT_EQ(r, body);
  }
  EXPECT_EQ(get(c, fmt::format("https://localhost:{}/hello", port(s))), "hello, client");
  EXPECT_EQ(s.get_stats().accepted, 1U);
}

TEST_F(client_test, RetriesOnceOnANewConnectionWhenTheReusedOneWasClosedByTheServer) {
  auto o = options(false);
  o.keep_alive_timeout = test::scaled(200ms);
  server s(o, routes());
  s.start();
  client c(io.get_executor(), trusting());
  const auto url = fmt::format("http://127.0.0.1:{}/hello", port(s));
  EXPECT_EQ(get(c, url), "hello, client");
  ASSERT_TRUE(eventually([&] { return s.get_stats().active == 0; }));  // closed while idle
  EXPECT_EQ(get(c, url), "hello, client");
  ASSERT_TRUE(eventually([&] { return s.get_stats().active == 0; }));
  // Also a POST: nothing of a response had arrived, so it is safe to send again.
  auto posted = run([&]() -> awaitable<std::string> {
    auto res = co_await c.post(fmt::format("http://127.0.0.1:{}/echo", port(s)), "text/plain", "x");
    co_return res ? res->body() : res.error().message();
  }());
  EXPECT_EQ(posted, "x");
  EXPECT_EQ(s.get_stats().accepted, 3U);
  EXPECT_EQ(log.count("retrying on a new one"), 2U);
}

TEST_F(client_test, FollowsRedirectsForGetUpToTheLimitAndStopsAtALoop) {
  server s(options(true), routes());
  s.start();
  auto o = trusting();
  o.max_redirects = 3;
  client c(io.get_executor(), o);
  const auto base = fmt::format("https://localhost:{}", port(s));
  EXPECT_EQ(get(c, base + "/chain/3"), "arrived");
  EXPECT_EQ(get_error(c, base + "/chain/4"), errc::too_many_redirects);
  EXPECT_EQ(get_error(c, base + "/loop/a"), errc::too_many_redirects);
  auto none = trusting();
  none.max_redirects = 0;
  client literal(io.get_executor(), none);
  auto status = run([&]() -> awaitable<unsigned> {
    auto r = co_await literal.get(base + "/chain/1");
    co_return r ? r->result_int() : 0U;
  }());
  EXPECT_EQ(status, 302U);
}

TEST_F(client_test, ReturnsTheRedirectOfAPostAsItIs) {
  server s(options(true), routes());
  s.start();
  client c(io.get_executor(), trusting());
  auto r = run([&]() -> awaitable<std::string> {
    request req;
    req.method = bhttp::verb::post;
    req.url = fmt::format("https://localhost:{}/chain/2", port(s));
    req.body = "data";
    auto res = co_await c.send(req);
    co_return res
        ? fmt::format("{} {}", res->result_int(), std::string((*res)[bhttp::field::location]))
        : res.error().message();
  }());
  EXPECT_EQ(r, "302 /chain/1");
}

TEST_F(client_test, DropsCredentialsWhenARedirectLeavesTheOrigin) {
  server elsewhere(options(false), routes());
  elsewhere.start();
  auto r = routes();
  const auto target = fmt::format("http://127.0.0.1:{}/headers", port(elsewhere));
  r.add(bhttp::verb::get, "/away", redirect_to([target](auto) { return target; }));
  server s(options(true), std::move(r));
  s.start();
  client c(io.get_executor(), trusting());
  auto body = run([&]() -> awaitable<std::string> {
    fields h;
    h.set(bhttp::field::authorization, "Bearer secret");
    h.set("X-Test", "kept");
    auto res = co_await c.get(fmt::format("https://localhost:{}/away", port(s)), h);
    co_return res ? res->body() : res.error().message();
  }());
  EXPECT_EQ(body, fmt::format("host=127.0.0.1:{} ua=moat x=kept auth=", port(elsewhere)));
}

TEST_F(client_test, SendsHostAndUserAgentAndTheGivenFields) {
  server s(options(true), routes());
  s.start();
  client c(io.get_executor(), trusting());
  auto body = run([&]() -> awaitable<std::string> {
    fields h;
    h.set("X-Test", "1");
    h.set(bhttp::field::authorization, "Basic eA==");
    auto res = co_await c.get(fmt::format("https://LOCALHOST:{}/headers", port(s)), h);
    co_return res ? res->body() : res.error().message();
  }());
  EXPECT_EQ(body, fmt::format("host=localhost:{} ua=moat x=1 auth=Basic eA==", port(s)));
}

TEST_F(client_test, ReadsAHeadResponseWithoutABody) {
  server s(options(false), routes());
  s.start();
  client c(io.get_executor(), trusting());
  auto r = run([&]() -> awaitable<std::string> {
    request req;
    req.method = bhttp::verb::head;
    req.url = fmt::format("http://127.0.0.1:{}/hello", port(s));
    auto res = co_await c.send(req);
    if (!res) co_return res.error().message();
    // The connection is still usable: the body was not expected.
    auto again = co_await c.get(req.url);
    co_return fmt::format("{} [{}] {}", std::string((*res)[bhttp::field::content_length]),
                          res->body(), again ? again->body() : again.error().message());
  }());
  EXPECT_EQ(r, "13 [] hello, client");
  EXPECT_EQ(s.get_stats().accepted, 1U);
}

TEST_F(client_test, RefusesResponsesBeyondItsSizeLimits) {
  server s(options(false), routes());
  s.start();
  auto o = trusting();
  o.max_body_bytes = 1 << 20;
  o.max_header_bytes = 16 * 1024;
  client c(io.get_executor(), o);
  EXPECT_EQ(get_error(c, fmt::format("http://127.0.0.1:{}/big", port(s))), errc::body_too_large);
  EXPECT_EQ(get_error(c, fmt::format("http://127.0.0.1:{}/big-header", port(s))),
            errc::header_too_large);
  EXPECT_EQ(get(c, fmt::format("http://127.0.0.1:{}/hello", port(s))), "hello, client");
}

// A raw server on the test's io_context: accepts, reads the request, then does `then`.
struct raw_server {
  tcp::acceptor acceptor;
  explicit raw_server(asio::io_context& io)
      : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  void serve(std::function<awaitable<void>(tcp::socket&)> then) {
    asio::co_spawn(
        acceptor.get_executor(),
        [this, then]() -> awaitable<void> {
          for (;;) {
            auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            std::array<char, 4096> buf{};
            std::string got;
            while (got.find("\r\n\r\n") == std::string::npos) {
              auto [rec, n] = co_await sock.async_read_some(asio::buffer(buf),
                                                            asio::as_tuple(asio::use_awaitable));
              if (rec) break;
              got.append(buf.data(), n);
            }
            co_await then(sock);
          }
        },
        asio::detached);
  }
};

TEST_F(client_test, TimesOutAgainstAServerThatNeverAnswers) {
  raw_server silent(io);
  std::vector<tcp::socket> held;  // never answered, never closed
  silent.serve([&](tcp::socket& s) -> awaitable<void> {
    held.push_back(std::move(s));
    co_return;
  });
  auto o = trusting();
  o.request_timeout = test::scaled(300ms);
  client c(io.get_executor(), o);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(get_error(c, fmt::format("http://127.0.0.1:{}/", silent.port())), errc::timeout);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, o.request_timeout);
  EXPECT_LT(took, o.request_timeout + test::scaled(5s));
}

TEST_F(client_test, ReportsAResponseCutShortAsClosedEarly) {
  raw_server rude(io);
  rude.serve([](tcp::socket& s) -> awaitable<void> {
    const std::string partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this";
    co_await asio::async_write(s, asio::buffer(partial), asio::as_tuple(asio::use_awaitable));
    s.close();
  });
  client c(io.get_executor(), trusting());
  EXPECT_EQ(get_error(c, fmt::format("http://127.0.0.1:{}/", rude.port())), errc::closed_early);
}

TEST_F(client_test, CallsAMalformedResponseMalformed) {
  raw_server odd(io);
  odd.serve([](tcp::socket& s) -> awaitable<void> {
    const std::string junk = "NOT HTTP\r\n\r\n";
    co_await asio::async_write(s, asio::buffer(junk), asio::as_tuple(asio::use_awaitable));
    s.close();
  });
  client c(io.get_executor(), trusting());
  EXPECT_EQ(get_error(c, fmt::format("http://127.0.0.1:{}/", odd.port())), errc::malformed_message);
}

TEST_F(client_test, RefusesUrlsItCannotUseBeforeConnecting) {
  client c(io.get_executor(), trusting());
  EXPECT_EQ(get_error(c, "not a url"), errc::invalid_url);
  EXPECT_EQ(get_error(c, "/relative/path"), errc::invalid_url);
  EXPECT_EQ(get_error(c, "http://"), errc::invalid_url);
  EXPECT_EQ(get_error(c, "http://user@localhost/"), errc::invalid_url);
  EXPECT_EQ(get_error(c, "http://localhost:70000/"), errc::invalid_url);
  EXPECT_EQ(get_error(c, "ftp://localhost/"), errc::unsupported_scheme);
}

TEST_F(client_test, ReportsARefusedConnection) {
  client c(io.get_executor(), trusting());
  tcp::acceptor closed(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto p = closed.local_endpoint().port();
  closed.close();
  EXPECT_EQ(get_error(c, fmt::format("http://127.0.0.1:{}/", p)), std::errc::connection_refused);
}

TEST_F(client_test, ReachesAnIpv6LiteralInBrackets) {
  auto o = options(false);
  boost::system::error_code ec;
  tcp::acceptor probe(io);
  probe.open(tcp::v6(), ec);
  if (!ec) probe.bind(tcp::endpoint(asio::ip::make_address("::1"), 0), ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback here";
  probe.close();
  o.listener.addresses = {tcp::endpoint(asio::ip::make_address("::1"), 0)};
  server s(o, routes());
  s.start();
  client c(io.get_executor(), trusting());
  EXPECT_EQ(get(c, fmt::format("http://[::1]:{}/headers", port(s))),
            fmt::format("host=[::1]:{} ua=moat x= auth=", port(s)));
}

TEST_F(client_test, RefusesOptionsItCannotHonour) {
  auto o = trusting();
  o.request_timeout = 0ms;
  EXPECT_THROW(client(io.get_executor(), o), config_error);
  o = trusting();
  o.tls.cacertfile = dir.path() / "missing.pem";
  EXPECT_THROW(client(io.get_executor(), o), config_error);
}

}  // namespace
}  // namespace moat::http
