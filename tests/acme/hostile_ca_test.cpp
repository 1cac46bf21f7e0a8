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
                         .deadline = 2s}));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code(), acme::errc::deadline_exceeded);
  EXPECT_NE(o.error().message().find("processing"), std::string::npos) << o.error().message();
  EXPECT_LT(took, test::scaled(2s) + 1s);
  // Polled at the capped Retry-After (200 ms here), not in a tight loop.
  EXPECT_GE(polls.load(), 2);
  EXPECT_LE(polls.load(), 12);
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
