// The admin endpoint (moat/admin/admin.hpp) over real connections: a TLS listener with real
// clients, the endpoint asked with moat's HTTP client; its options' checks; the token.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <moat/admin/admin.hpp>
#include <moat/admin/errors.hpp>
#include <moat/error.hpp>
#include <moat/http/client.hpp>

#include "server/server_fixture.hpp"
#include "support/captured_log.hpp"

namespace moat::admin {
namespace {

using namespace moat::server::test_fixture;
namespace json = boost::json;
namespace bhttp = boost::beast::http;

options local_admin() {
  options o;
  o.addresses = {tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  return o;
}

struct AdminEndpoint : server_fixture {
  http::client client{io.get_executor(), http::client_options{}};

  http::response get(const endpoint& e, const std::string& path, http::fields headers = {}) {
    const auto url =
        "http://127.0.0.1:" + std::to_string(e.local_endpoints().front().port()) + path;
    return test::run(io, [&]() -> awaitable<http::response> {
      auto r = co_await client.get(url, headers);
      if (!r) throw std::runtime_error("GET " + url + ": " + r.error().message());
      co_return std::move(*r);
    }());
  }
  json::value status(const endpoint& e) { return json::parse(get(e, "/status.json").body()); }

  // Asks until `pred(status)` holds (a scaled deadline).
  template <class P>
  bool status_until(const endpoint& e, P pred) {
    const auto deadline = std::chrono::steady_clock::now() + test::scaled(10s);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(status(e))) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

TEST_F(AdminEndpoint, ANonLoopbackAddressNoAddressAndABadTokenAreConfigurationErrors) {
  options o = local_admin();
  o.addresses = {tcp::endpoint(asio::ip::make_address("0.0.0.0"), 0)};
  try {
    endpoint e(o);
    ADD_FAILURE() << "0.0.0.0 accepted without allow_remote";
  } catch (const config_error& x) {
    EXPECT_EQ(x.code(), make_error_code(errc::not_loopback)) << x.what();
    EXPECT_NE(std::string(x.what()).find("0.0.0.0"), std::string::npos) << x.what();
  }
  o.allow_remote = true;
  EXPECT_NO_THROW(endpoint{o});
  options none;
  EXPECT_THROW(endpoint{none}, config_error);
  options spaced = local_admin();
  spaced.bearer_token = "two words";
  EXPECT_THROW(endpoint{spaced}, config_error);
}

TEST_F(AdminEndpoint, MetricsAndStatusFollowAClientThatConnectsAndAHandshakeThatFails) {
  moat::server::listener l(opts(1), server_tls(leaf), echo());
  l.start();
  endpoint admin(local_admin());
  admin.watch(l);
  admin.start();

  auto metrics = get(admin, "/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_NE(metrics[bhttp::field::content_type].find("version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.body().find("moat_listener_connections{listener=\"test\"} 0\n"),
            std::string::npos)
      << metrics.body();
  EXPECT_NE(metrics.body().find("moat_certificate_expiry_timestamp_seconds{source=\"test\","
                                "name=\"localhost\"}"),
            std::string::npos)
      << metrics.body();

  // A client connects and stays: the count and the live list show it, with its TLS details.
  auto peer = test::run(io, [&]() -> awaitable<std::optional<tls::socket>> {
    auto s = co_await dial(port(l));
    if (!s) co_return std::nullopt;
    co_return std::move(*s);
  }());
  ASSERT_TRUE(peer);
  ASSERT_TRUE(status_until(admin, [](const json::value& s) {
    const auto& l0 = s.at("listeners").at(0);
    return l0.at("connections").as_int64() == 1 && l0.at("live").as_array().size() == 1;
  }));
  const auto s = status(admin);
  const auto& live = s.at("listeners").at(0).at("live").at(0);
  EXPECT_EQ(live.at("sni").as_string(), "localhost");
  EXPECT_FALSE(live.at("tls_version").as_string().empty());
  EXPECT_EQ(s.at("certificates").at(0).at("names").at(0).as_string(), "localhost");
  EXPECT_GT(s.at("certificates").at(0).at("days_left").as_double(), 1.0);

  // Plain text where a TLS ClientHello should be: a failed handshake, counted by reason.
  test::run(io, [&]() -> awaitable<void> {
    tcp::socket raw(io);
    co_await raw.async_connect(l.local_endpoints().front(), asio::use_awaitable);
    const std::string junk = "GET / HTTP/1.1\r\n\r\n";
    co_await asio::async_write(raw, asio::buffer(junk), asio::use_awaitable);
    std::array<char, 64> buf{};
    boost::system::error_code ec;
    (void)co_await raw.async_read_some(asio::buffer(buf),
                                       asio::redirect_error(asio::use_awaitable, ec));
  }());
  ASSERT_TRUE(status_until(admin, [](const json::value& st) {
    return st.at("listeners").at(0).at("handshake_failures").as_int64() >= 1;
  }));
  metrics = get(admin, "/metrics");
  EXPECT_NE(metrics.body().find("moat_listener_handshake_failures_total{listener=\"test\",reason="),
            std::string::npos)
      << metrics.body();
  EXPECT_NE(metrics.body().find("process_resident_memory_bytes "), std::string::npos);
}

TEST_F(AdminEndpoint, WithATokenDataNeedsTheBearerTokenButThePageDoesNot) {
  options o = local_admin();
  o.bearer_token = "s3cret-token";
  endpoint admin(o);
  admin.start();
  auto none = get(admin, "/metrics");
  EXPECT_EQ(none.result_int(), 401);
  EXPECT_EQ(none[bhttp::field::www_authenticate], "Bearer realm=\"moat\"");
  http::fields wrong;
  wrong.set(bhttp::field::authorization, "Bearer s3cret-tokeX");
  EXPECT_EQ(get(admin, "/status.json", wrong).result_int(), 401);
  http::fields right;
  right.set(bhttp::field::authorization, "Bearer s3cret-token");
  EXPECT_EQ(get(admin, "/status.json", right).result_int(), 200);
  EXPECT_EQ(get(admin, "/metrics", right).result_int(), 200);
  auto page = get(admin, "/");
  EXPECT_EQ(page.result_int(), 200);
  EXPECT_NE(page.body().find("status.json"), std::string::npos);
  EXPECT_EQ(page.body().find("s3cret"), std::string::npos);
}

TEST_F(AdminEndpoint, RecentEventsAreListedLatestFirstUpToTheirLimit) {
  options o = local_admin();
  o.recent_events = 3;
  endpoint admin(o);
  admin.start();
  for (int i = 1; i <= 5; ++i) admin.event(i == 5 ? "warn" : "info", "event " + std::to_string(i));
  const auto s = status(admin);
  const auto& events = s.at("events").as_array();
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events.at(0).at("text").as_string(), "event 5");
  EXPECT_EQ(events.at(0).at("level").as_string(), "warn");
  EXPECT_EQ(events.at(2).at("text").as_string(), "event 3");
}

// Out of descriptors -- just when an operator needs to look -- /proc cannot be read: the
// process_* families are left out of /metrics, and the log says so once, with the reason.
TEST_F(AdminEndpoint, WithoutADescriptorForProcTheProcessMetricsAreLeftOutAndTheLogSaysWhy) {
  test::captured_log log;
  options o = local_admin();
  o.logger = log.logger();
  endpoint admin(o);
  admin.start();
  // One kept-alive connection, so that a request needs no descriptor but /proc's.
  tcp::socket raw(io);
  raw.connect(admin.local_endpoints().front());
  auto metrics = [&] {
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/metrics", 11);
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(raw, req);
    boost::beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(raw, buf, res);
    EXPECT_EQ(res.result_int(), 200);
    return res.body();
  };
  EXPECT_NE(metrics().find("process_cpu_seconds_total "), std::string::npos);

  // No descriptor left: the limit just above the highest one open, the holes below filled.
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  int highest = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    highest = std::max(highest, std::stoi(e.path().filename().string()));
  rlimit low = before;
  low.rlim_cur = static_cast<rlim_t>(highest) + 1;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers.push_back(fd);
  const auto starved = metrics();
  const auto starved_again = metrics();
  for (int fd : fillers) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);

  EXPECT_EQ(starved.find("process_"), std::string::npos) << starved;
  EXPECT_EQ(starved_again.find("process_"), std::string::npos) << starved_again;
  const auto warned = log.lines("process_");
  ASSERT_EQ(warned.size(), 1U) << "one line for the failure, not one per scrape";
  EXPECT_NE(warned[0].find("/proc/self/"), std::string::npos) << warned[0];
  EXPECT_NE(warned[0].find(std::strerror(EMFILE)), std::string::npos) << warned[0];
  // Descriptors free again: the families are back, and the log says that too.
  EXPECT_NE(metrics().find("process_cpu_seconds_total "), std::string::npos);
  EXPECT_EQ(log.lines("process_").size(), 2U);
}

}  // namespace
}  // namespace moat::admin
