// The Prometheus text writer (src/admin/prometheus.hpp) and the metrics of a snapshot,
// checked as text and by a real Prometheus parser (python3-prometheus-client; promtool too
// where it is installed).
#include "admin/prometheus.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "admin/snapshot.hpp"
#include "support/support.hpp"

namespace moat::admin::detail {
namespace {

using namespace std::chrono_literals;
using type = prometheus_text::type;

TEST(PrometheusText, WritesHelpTypeAndSamplesWithEscapedLabelValues) {
  prometheus_text p;
  p.family("moat_things_total", type::counter, "Things, with a \\ and a\nnewline.");
  p.sample({{"listener", "a\"b\\c\nd"}}, std::uint64_t{3});
  p.sample({}, 0.5);
  EXPECT_EQ(p.text(),
            "# HELP moat_things_total Things, with a \\\\ and a\\nnewline.\n"
            "# TYPE moat_things_total counter\n"
            "moat_things_total{listener=\"a\\\"b\\\\c\\nd\"} 3\n"
            "moat_things_total 0.5\n");
}

TEST(PrometheusText, RefusesBadNamesCountersWithoutTotalAndRepeatedFamilies) {
  prometheus_text p;
  EXPECT_THROW(p.sample({}, 1.0), std::logic_error);
  EXPECT_THROW(p.family("1abc", type::gauge, "x"), std::invalid_argument);
  EXPECT_THROW(p.family("a-b", type::gauge, "x"), std::invalid_argument);
  EXPECT_THROW(p.family("moat_things", type::counter, "x"), std::invalid_argument);
  p.family("moat_gauge", type::gauge, "x");
  EXPECT_THROW(p.family("moat_gauge", type::gauge, "again"), std::invalid_argument);
  EXPECT_THROW(p.sample({{"__reserved", "v"}}, 1.0), std::invalid_argument);
  EXPECT_THROW(p.sample({{"bad-label", "v"}}, 1.0), std::invalid_argument);
  EXPECT_TRUE(valid_metric_name("moat:rate_5m"));
  EXPECT_FALSE(valid_label_name("a:b"));
}

TEST(PrometheusText, SpecialValuesAreWrittenAsTheFormatSpellsThem) {
  prometheus_text p;
  p.family("moat_g", type::gauge, "g");
  p.sample({{"k", "inf"}}, std::numeric_limits<double>::infinity());
  p.sample({{"k", "nan"}}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_NE(p.text().find("moat_g{k=\"inf\"} +Inf\n"), std::string::npos) << p.text();
  EXPECT_NE(p.text().find("moat_g{k=\"nan\"} NaN\n"), std::string::npos) << p.text();
}

snapshot sample_snapshot() {
  snapshot s;
  s.taken = std::chrono::system_clock::now();
  listener_view l;
  l.name = "serve";
  l.tls = true;
  l.stats.active = 2;
  l.stats.max_connections = 100;
  l.stats.accepted = 7;
  l.stats.handshakes = 5;
  l.stats.handshake_failures = 2;
  l.stats.handshake_failures_by_reason = {{"unknown_ca", 1}, {"timeout", 1}};
  l.stats.bytes_in = 1000;
  l.stats.bytes_out = 900;
  l.stats.accepting = true;
  s.listeners.push_back(l);
  s.certificates.push_back({"serve", {"localhost", "127.0.0.1"}, s.taken + 24h * 30, "ab:cd"});
  manager_view m;
  m.name = "example.com";
  m.stats.obtained = 1;
  m.stats.temporary = false;
  m.stats.renew_at = s.taken + 24h * 20;
  s.managers.push_back(m);
  s.process = read_process_stats().stats;
  return s;
}

TEST(AdminMetrics, ASnapshotRendersEveryFamilyAndARealParserReadsIt) {
  const auto text = render_metrics(sample_snapshot());
  for (const char* line :
       {"moat_listener_connections{listener=\"serve\"} 2\n",
        "moat_listener_max_connections{listener=\"serve\"} 100\n",
        "moat_listener_connections_accepted_total{listener=\"serve\"} 7\n",
        "moat_listener_handshake_failures_total{listener=\"serve\",reason=\"unknown_ca\"} 1\n",
        "moat_acme_certificates_obtained_total{identifiers=\"example.com\"} 1\n",
        "# TYPE process_cpu_seconds_total counter\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  EXPECT_NE(
      text.find("moat_certificate_expiry_timestamp_seconds{source=\"serve\",name=\"localhost\"}"),
      std::string::npos)
      << text;

  test::temp_dir dir;
  const auto file = dir.path() / "metrics.txt";
  test::write_file(file, text);
  // Debian's Python, where python3-prometheus-client is installed (not another on PATH).
  const auto py =
      test::run_process({"/usr/bin/python3", "-c",
                         "import sys\n"
                         "from prometheus_client.parser import text_string_to_metric_families\n"
                         "n = 0\n"
                         "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
                         "    n += len(f.samples)\n"
                         "print('samples', n)\n",
                         file.string()},
                        60s);
  ASSERT_EQ(py.status, 0) << py.output;
  EXPECT_NE(py.output.find("samples "), std::string::npos) << py.output;
  if (test::have_program("promtool")) {
    const auto lint =
        test::run_process({"sh", "-c", "promtool check metrics < '" + file.string() + "'"}, 60s);
    EXPECT_EQ(lint.status, 0) << lint.output;
  }
}

}  // namespace
}  // namespace moat::admin::detail
