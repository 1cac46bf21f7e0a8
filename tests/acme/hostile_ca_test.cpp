// A CA that answers garbage -- bad JSON, the wrong content type, a 10 MB body, a redirect
// loop, no nonce, endless badNonce, an order that stays "processing", silence -- gets a clear
// error within its deadline, never a crash or a hang. The CA is a real HTTPS server (moat's
// own), scripted per test.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/acme/client.hpp>
#include <moat/http/server.hpp>
#include <moat/pki/pki.hpp>
#include <optional>
#include <thread>

#include "acme/scripted_ca.hpp"
#include "support/support.hpp"

namespace acme = moat::acme;
namespace http = moat::http;
namespace net = boost::asio;
namespace test = moat::test;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

http::response json_response(std::string body, bhttp::status st = bhttp::status::ok,
                             std::string_view type = "application/json") {
  auto r = http::make_response(st, std::move(body), type);
  r.set("Replay-Nonce", "bm9uY2U" + std::to_string(st == bhttp::status::ok ? 1 : 2));
  r.set(bhttp::field::cache_control, "no-store");
  return r;
}

/// A scripted ACME server over HTTPS on 127.0.0.1 with a certificate from a test CA.
class HostileCa : public test::scripted_ca_test {
 protected:
  void serve(http::router r) { scripted_ca_test::serve(std::move(r), "hostile-ca"); }

  /// The directory every scripted CA serves (URLs on this server).
  std::string directory_json() const {
    return R"({"newNonce":")" + base_ + R"(/nonce","newAccount":")" + base_ +
           R"(/account","newOrder":")" + base_ + R"(/order","revokeCert":")" + base_ +
           R"(/revoke"})";
  }

  acme::client_options options(const std::string& path = "/dir") const {
    auto o = scripted_ca_test::options(path);
    o.http.request_timeout = 2s;
    o.max_poll_interval = 200ms;
    return o;
  }

  /// A route for the directory (answering at /dir), newNonce and (unless the test scripts its
  /// own) newAccount.
  http::router basic_ca(bool with_account = true) {
    http::router r;
    r.add(bhttp::verb::get, "/dir",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            co_return json_response(directory_json());
          });
    r.add(bhttp::verb::head, "/nonce", [](const http::incoming&) -> net::awaitable<http::response> {
      co_return json_response("");
    });
    if (!with_account) return r;
    r.add(bhttp::verb::post, "/account",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            auto res = json_response(R"({"status":"valid"})", bhttp::status::created);
            res.set(bhttp::field::location, base_ + "/account/1");
            co_return res;
          });
    return r;
  }
};

}  // namespace

TEST_F(HostileCa, ADirectoryThatIsNotJsonIsABadResponse) {
  http::router r;
  r.add(bhttp::verb::get, "/dir", [](const http::incoming&) -> net::awaitable<http::response> {
    co_return json_response("{\"newNonce\": ");
  });
  serve(std::move(r));
  acme::client c(io_.get_executor(), options());
  auto d = run(c.get_directory());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), acme::errc::bad_response);
  EXPECT_NE(d.error().message().find("not JSON"), std::string::npos) << d.error().message();
  EXPECT_TRUE(d.error().retryable());
}

TEST_F(HostileCa, AnAnswerWithTheWrongContentTypeIsRefusedByName) {
  http::router r;
  r.add(bhttp::verb::get, "/dir", [this](const http::incoming&) -> net::awaitable<http::response> {
    co_return json_response(directory_json(), bhttp::status::ok, "text/html");
  });
  serve(std::move(r));
  acme::client c(io_.get_executor(), options());
  auto d = run(c.get_directory());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), acme::errc::bad_response);
  EXPECT_NE(d.error().message().find("text/html"), std::string::npos) << d.error().message();
}

TEST_F(HostileCa, ATenMegabyteBodyStopsAtTheLimit) {
  http::router r;
  r.add(bhttp::verb::get, "/dir", [](const http::incoming&) -> net::awaitable<http::response> {
    co_return json_response(std::string(10 * 1024 * 1024, ' '));
  });
  serve(std::move(r));
  acme::client c(io_.get_executor(), options());
  auto d = run(c.get_directory());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), http::errc::body_too_large) << d.error().message();
  EXPECT_NE(d.error().message().find("directory"), std::string::npos) << d.error().message();
}

TEST_F(HostileCa, ARedirectLoopEndsAfterTheRedirectLimit) {
  http::router r;
  r.add(bhttp::verb::get, "/dir", [](const http::incoming&) -> net::awaitable<http::response> {
    auto res = http::make_response(bhttp::status::found);
    res.set(bhttp::field::location, "/dir");
    co_return res;
  });
  serve(std::move(r));
  acme::client c(io_.get_executor(), options());
  auto d = run(c.get_directory());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), http::errc::too_many_redirects) << d.error().message();
}

TEST_F(HostileCa, ACaThatGivesNoNonceIsToldApart) {
  http::router r = basic_ca();
  r.add(bhttp::verb::head, "/nonce-less",
        [](const http::incoming&) -> net::awaitable<http::response> {
          co_return http::make_response(bhttp::status::ok);
        });
  r.add(bhttp::verb::get, "/dir-nonce-less",
        [this](const http::incoming&) -> net::awaitable<http::response> {
          std::string d = directory_json();
          const auto at = d.find("/nonce\"");
          d.replace(at, 6, "/nonce-less");
          // The directory's own answer carries no nonce either.
          co_return http::make_response(bhttp::status::ok, d, "application/json");
        });
  serve(std::move(r));
  acme::client c(io_.get_executor(), options("/dir-nonce-less"));
  auto a = run(c.register_account());
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), acme::errc::no_nonce) << a.error().message();
}

TEST_F(HostileCa, EndlessBadNonceStopsAfterTheRetryLimit) {
  std::atomic<int> posts{0};
  http::router r = basic_ca(false);
  r.add(bhttp::verb::post, "/account",
        [&posts](const http::incoming&) -> net::awaitable<http::response> {
          ++posts;
          co_return json_response(
              R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"})",
              bhttp::status::bad_request, "application/problem+json");
        });
  serve(std::move(r));
  auto o = options();
  o.bad_nonce_retries = 3;
  acme::client c(io_.get_executor(), o);
  auto a = run(c.register_account());
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), acme::errc::bad_nonce);
  EXPECT_EQ(posts.load(), 4);
  ASSERT_TRUE(a.error().problem());
  EXPECT_EQ(a.error().problem()->detail, "stale");
}

TEST_F(HostileCa, ARateLimitCarriesTheTimeToWait) {
  http::router r = basic_ca(false);
  r.add(bhttp::verb::post, "/account", [](const http::incoming&) -> net::awaitable<http::response> {
    auto res = json_response(
        R"({"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new accounts"})",
        bhttp::status::too_many_requests, "application/problem+json");
    res.set(bhttp::field::retry_after, "3600");
    co_return res;
  });
  serve(std::move(r));
  acme::client c(io_.get_executor(), options());
  auto a = run(c.register_account());
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), acme::errc::rate_limited);
  EXPECT_EQ(a.error().retry_after(), std::chrono::seconds(3600));
  EXPECT_TRUE(a.error().retryable());
  EXPECT_NE(a.error().message().find("too many new accounts"), std::string::npos);
}

TEST_F(HostileCa, AnOrderMissingItsFinalizeUrlNamesTheMember) {
  http::router r = basic_ca();
  r.add(bhttp::verb::post, "/order", [this](const http::incoming&) -> net::awaitable<http::response> {
    auto res = json_response(
        R"({"status":"pending","identifiers":[{"type":"dns","value":"localhost"}],"authorizations":[]})",
        bhttp::status::created);
    res.set(bhttp::field::location, base_ + "/order/1");
    co_return res;
  });
  serve(std::move(r));
  acme::http01_responder responder;
  acme::client c(io_.get_executor(), options());
  auto o =
      run(c.obtain({.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&responder}}));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code(), acme::errc::bad_response);
  EXPECT_NE(o.error().message().find("'finalize'"), std::string::npos) << o.error().message();
}

TEST_F(HostileCa, AnOrderThatStaysProcessingEndsAtTheDeadline) {
  std::atomic<int> polls{0};
  http::router r = basic_ca();
  const auto order_json = [this](std::string_view status) {
    return R"({"status":")" + std::string(status) +
           R"(","identifiers":[{"type":"dns","value":"localhost"}],"authorizations":[],)" +
           R"("finalize":")" + base_ + R"(/finalize"})";
  };
  r.add(bhttp::verb::post, "/order",
        [this, order_json](const http::incoming&) -> net::awaitable<http::response> {
          auto res = json_response(order_json("ready"), bhttp::status::created);
          res.set(bhttp::field::location, base_ + "/order/1");
          co_return res;
        });
  r.add(bhttp::verb::post, "/finalize",
        [order_json](const http::incoming&) -> net::awaitable<http::response> {
          co_return json_response(order_json("processing"));
        });
  r.add(bhttp::verb::post, "/order/1",
        [order_json, &polls](const http::incoming&) -> net::awaitable<http::response> {
          ++polls;
          auto res = json_response(order_json("processing"));
          res.set(bhttp::field::retry_after, "1");
          co_return res;
        });
  serve(std::move(r));
  acme::http01_responder responder;
  acme::client c(io_.get_executor(), options());
  const auto t0 = std::chrono::steady_clock::now();
  auto o = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")},
                         .solvers = {&responder},
                         .deadline = test::scaled(2s)}));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code(), acme::errc::deadline_exceeded);
  EXPECT_NE(o.error().message().find("processing"), std::string::npos) << o.error().message();
  EXPECT_LT(took, test::scaled(3s));
  // Polled at the capped Retry-After (200 ms here), not in a tight loop.
  EXPECT_GE(polls.load(), 2);
  EXPECT_LE(polls.load(), 12 * test::slowdown());
}

TEST_F(HostileCa, ASilentCaTimesOutAtTheRequestTimeout) {
  // Accepts TCP, reads forever, never answers (not even the TLS handshake).
  net::io_context silent_io;
  net::ip::tcp::acceptor acceptor(silent_io, {net::ip::make_address("127.0.0.1"), 0});
  std::vector<net::ip::tcp::socket> held;
  std::function<void()> accept_next = [&] {
    acceptor.async_accept([&](boost::system::error_code ec, net::ip::tcp::socket s) {
      if (ec) return;
      held.push_back(std::move(s));
      accept_next();
    });
  };
  accept_next();
  std::thread t([&] { silent_io.run(); });
  base_ = "https://localhost:" + std::to_string(acceptor.local_endpoint().port());
  auto o = options();
  o.http.connect_timeout = 1s;
  acme::client c(io_.get_executor(), o);
  const auto t0 = std::chrono::steady_clock::now();
  auto d = run(c.get_directory());
  const auto took = std::chrono::steady_clock::now() - t0;
  net::post(silent_io, [&] {
    acceptor.close();
    held.clear();
  });
  t.join();
  ASSERT_FALSE(d);
  EXPECT_TRUE(d.error().retryable()) << d.error().message();
  EXPECT_LT(took, test::scaled(1s) + 2s);
}

namespace {

/// A DNS-01 solver whose hooks do nothing: it cannot tell when the CA looks.
acme::dns01_solver quiet_dns01() {
  return acme::dns01_solver([](std::string, std::string) -> net::awaitable<void> { co_return; },
                            [](std::string, std::string) -> net::awaitable<void> { co_return; });
}

/// A solver whose wait throws after presenting; it records what it was asked to clean up.
class throwing_solver : public acme::solver {
 public:
  std::string_view challenge_type() const noexcept override { return "dns-01"; }
  net::awaitable<void> present(const acme::challenge_task&) override {
    ++presented;
    co_return;
  }
  net::awaitable<bool> wait_fetched(const acme::challenge_task&,
                                    std::chrono::milliseconds) override {
    throw std::runtime_error("the DNS provider's API is down");
    co_return false;
  }
  net::awaitable<void> cleanup(const acme::challenge_task&) override {
    ++cleaned;
    co_return;
  }
  int presented = 0;
  int cleaned = 0;
};

}  // namespace

/// An order with one DNS-01 authorization that stays pending for `pending_for` after its
/// challenge is answered, then the order turns invalid (the test is about the waiting).
class SlowAuthorization : public HostileCa {
 protected:
  void serve_slow(std::chrono::milliseconds pending_for, std::string retry_after = {}) {
    http::router r = basic_ca();
    r.add(bhttp::verb::post, "/order",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            auto res = json_response(order_json("pending"), bhttp::status::created);
            res.set(bhttp::field::location, base_ + "/order/1");
            co_return res;
          });
    r.add(bhttp::verb::post, "/order/1",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            co_return json_response(order_json("invalid"));
          });
    r.add(bhttp::verb::post, "/chall/1",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            answered_ = std::chrono::steady_clock::now();
            co_return json_response(R"({"type":"dns-01","url":")" + base_ +
                                    R"(/chall/1","status":"processing","token":"dG9rZW4"})");
          });
    r.add(
        bhttp::verb::post, "/authz/1",
        [this, pending_for, retry_after](const http::incoming&) -> net::awaitable<http::response> {
          ++authz_polls_;
          const bool done =
              answered_ && std::chrono::steady_clock::now() - *answered_ > pending_for;
          auto res = json_response(R"({"status":")" + std::string(done ? "valid" : "pending") +
                                   R"(","identifier":{"type":"dns","value":"example.test"},)" +
                                   R"("challenges":[{"type":"dns-01","url":")" + base_ +
                                   R"(/chall/1","status":"pending","token":"dG9rZW4"}]})");
          if (!retry_after.empty()) res.set(bhttp::field::retry_after, retry_after);
          co_return res;
        });
    serve(std::move(r));
  }

  std::string order_json(std::string_view status) const {
    return R"({"status":")" + std::string(status) +
           R"(","identifiers":[{"type":"dns","value":"example.test"}],"authorizations":[")" +
           base_ + R"(/authz/1"],"finalize":")" + base_ + R"(/finalize"})";
  }

  std::atomic<int> authz_polls_{0};
  std::optional<std::chrono::steady_clock::time_point> answered_;
};

TEST_F(SlowAuthorization, ASolverThatCannotSeeTheFetchStillPollsAtIntervalsNotBackToBack) {
  serve_slow(1500ms);
  auto dns = quiet_dns01();
  acme::client c(io_.get_executor(), options());
  auto o =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&dns}}));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code(), acme::errc::order_failed) << o.error().message();
  // 1.5 s of pending at one poll per 500 ms at most, plus the first and the last.
  EXPECT_GE(authz_polls_.load(), 2);
  EXPECT_LE(authz_polls_.load(), 6);
}

TEST_F(SlowAuthorization, RetryAfterZeroDoesNotMakeTheClientPollWithoutPause) {
  serve_slow(1500ms, "0");
  auto dns = quiet_dns01();
  acme::client c(io_.get_executor(), options());
  auto o =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&dns}}));
  ASSERT_FALSE(o);
  EXPECT_LE(authz_polls_.load(), 6);
}

TEST_F(SlowAuthorization, ASolverThatThrowsFailsTheOrderAsAValueAndIsCleanedUp) {
  serve_slow(1500ms);
  throwing_solver solver;
  acme::client c(io_.get_executor(), options());
  auto o =
      run(c.obtain({.identifiers = {acme::identifier::dns("example.test")}, .solvers = {&solver}}));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code(), acme::errc::solver_failed);
  EXPECT_NE(o.error().message().find("API is down"), std::string::npos) << o.error().message();
  EXPECT_EQ(solver.presented, 1);
  EXPECT_EQ(solver.cleaned, 1);
}

TEST_F(HostileCa, AUrlFromTheCaThatIsNotHttpsIsRefusedNotFollowed) {
  http::router r;
  r.add(bhttp::verb::get, "/dir", [this](const http::incoming&) -> net::awaitable<http::response> {
    std::string d = directory_json();
    const auto at = d.find("https://localhost", d.find("newAccount"));
    d.replace(at, 5, "http");  // newAccount on http://
    co_return json_response(d);
  });
  serve(std::move(r));
  acme::client c(io_.get_executor(), options());
  auto a = run(c.register_account());
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), acme::errc::bad_response);
  EXPECT_NE(a.error().message().find("not https"), std::string::npos) << a.error().message();
}
