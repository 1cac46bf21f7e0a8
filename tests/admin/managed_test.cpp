// The admin endpoint over a listener that an ACME manager certifies through a real CA (the
// in-process one, over TLS-ALPN-01): what /metrics and /status.json say about the certificate
// in service and about the manager, read by a real Prometheus parser.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <moat/admin/admin.hpp>
#include <moat/http/client.hpp>
#include <regex>
#include <sstream>

#include "acme/manager_fixture.hpp"

namespace moat {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class AdminManaged : public test::manager_fixture, public ::testing::Test {
 protected:
  std::string get(const admin::endpoint& e, const std::string& path) {
    http::client client(io_.get_executor(), http::client_options{});
    const auto url =
        "http://127.0.0.1:" + std::to_string(e.local_endpoints().front().port()) + path;
    return run([&]() -> boost::asio::awaitable<std::string> {
      auto r = co_await client.get(url);
      if (!r || r->result_int() != 200) throw std::runtime_error("GET " + url + " failed");
      co_return r->body();
    }());
  }
};

// Every sample of `family`: {labels, value}.
std::vector<std::pair<std::string, double>> samples(const std::string& text,
                                                    const std::string& family) {
  std::vector<std::pair<std::string, double>> out;
  const std::regex line("^" + family + R"((\{[^}]*\})? (\S+)$)");
  std::istringstream in(text);
  std::string l;
  std::smatch m;
  while (std::getline(in, l)) {
    if (std::regex_match(l, m, line)) out.emplace_back(m[1].str(), std::stod(m[2].str()));
  }
  return out;
}

TEST_F(AdminManaged, TheCertificateInServiceIsTheOneFromTheCaNotTheTemporaryOne) {
  start(local_options({"localhost"}));
  const auto leaf = wait_cert();
  ASSERT_FALSE(leaf.empty());
  admin::options ao;
  ao.addresses = {test::loopback(0)};
  admin::endpoint admin(ao);
  admin.watch(*listener_);
  admin.watch(*mgr_);
  admin.start();

  const auto metrics = get(admin, "/metrics");
  const auto not_after = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(leaf.not_after().time_since_epoch())
          .count());
  // Every row for the name is the certificate clients get (the listener's temporary
  // self-signed one, a week long, only stands in until then).
  const auto expiry = samples(metrics, "moat_certificate_expiry_timestamp_seconds");
  ASSERT_FALSE(expiry.empty()) << metrics;
  for (const auto& [labels, value] : expiry) {
    EXPECT_NE(labels.find("name=\"localhost\""), std::string::npos) << labels;
    EXPECT_EQ(value, not_after) << labels << "\n" << metrics;
  }
  // The manager: one certificate obtained, none failed, not temporary, renewal ahead.
  const std::string id = "{identifiers=\"localhost\"}";
  const auto now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  using sample = std::pair<std::string, double>;
  EXPECT_EQ(samples(metrics, "moat_acme_certificates_obtained_total"),
            (std::vector<sample>{{id, 1}}));
  EXPECT_EQ(samples(metrics, "moat_acme_renewals_total"), (std::vector<sample>{{id, 0}}));
  EXPECT_EQ(samples(metrics, "moat_acme_failures_total"), (std::vector<sample>{{id, 0}}));
  EXPECT_EQ(samples(metrics, "moat_acme_consecutive_failures"), (std::vector<sample>{{id, 0}}));
  EXPECT_EQ(samples(metrics, "moat_acme_temporary_certificate"), (std::vector<sample>{{id, 0}}));
  const auto next = samples(metrics, "moat_acme_next_renewal_timestamp_seconds");
  ASSERT_EQ(next.size(), 1U) << metrics;
  EXPECT_GT(next[0].second, now);
  EXPECT_LT(next[0].second, not_after);

  // The status page's data says the same: days left as the CA's certificate has them.
  const auto status = json::parse(get(admin, "/status.json"));
  const auto& certs = status.at("certificates").as_array();
  ASSERT_FALSE(certs.empty());
  const double days = (not_after - now) / 86400.0;
  for (const auto& c : certs) {
    EXPECT_NEAR(c.at("days_left").to_number<double>(), days, 0.1) << json::serialize(c);
  }

  // And a real Prometheus parser reads it.
  const auto file = dir_ / "metrics.txt";
  test::write_file(file, metrics);
  const auto py = test::run_process(
      {"/usr/bin/python3", "-c",
       "import sys\n"
       "from prometheus_client.parser import text_string_to_metric_families\n"
       "names = {f.name for f in text_string_to_metric_families(open(sys.argv[1]).read())}\n"
       "assert 'moat_acme_certificates_obtained' in names, names\n",
       file.string()},
      60s);
  EXPECT_EQ(py.status, 0) << py.output;
}

}  // namespace
}  // namespace moat
