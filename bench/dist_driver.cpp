// moat_dist_driver: the moat driver of moat's distribution benchmark (bench/dist.sh,
// docs/bench.md): what bench/peers/dist_driver.erl does from an Erlang node, from a moat
// node, with the same phases, parameters and key=value output.
//
//   moat_dist_driver --name d@localhost --cookie C --cert node.pem --key node.key
//       --cacert ca.pem --epmd-port P --target p@localhost --peer-os-pid PID [--versions 1.3]
//       [--workers 1] [--seconds 3] [--rtt-seconds 2] [--rtt-iterations 20000] [--warmup 2000]
//       [--window 256] [--small-size 64] [--bulk-size 65536] [--bulk-window 16]
//       [--bulk-ack 4] [--setup-samples 6]
//
// Phases:
//   setup       a new moat node (its own name, a fresh TLS client context) pings the target,
//               timed from the call to the pong (EPMD, TCP, TLS, the distribution handshake
//               and one net_kernel round trip), then stops: `setup-samples` times -> the
//               first (this process's first connection), and the p50, min and max of the
//               others.
//   rtt         {echo, Target} ! {self(), Small}, wait for Small: `warmup` round trips, then
//               up to `rtt-iterations` timed ones (at most `rtt-seconds`) -> p50, p99.
//   throughput  `window` messages in flight to echo, every reply sends the next one, for
//               `seconds` -> replies per second and the CPU time (utime + stime,
//               /proc/PID/stat) of this process and of the target's per message.
//   bulk        `bulk-size` binaries to {sink, Target}, `bulk-window` in flight, an ack every
//               `bulk-ack` -> MB/s acknowledged and CPU per MB on both sides.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dist_common.hpp"

namespace {

namespace asio = boost::asio;
namespace dist = moat::dist;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct driver_args {
  moat::bench::node_args node{};
  std::string target{};
  long peer_os_pid{0};
  int seconds{3};
  int rtt_seconds{2};
  int rtt_iterations{20000};
  int warmup{2000};
  int window{256};
  std::size_t small_size{64};
  std::size_t bulk_size{65536};
  int bulk_window{16};
  int bulk_ack{4};
  int setup_samples{6};
};

// The key=value lines, in order.
class report {
 public:
  template <class T>
  void add(const std::string& key, const T& value) {
    std::ostringstream s;
    s << key << '=' << value << '\n';
    text_ += s.str();
  }
  void add(const std::string& key, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    text_ += key + '=' + buf + '\n';
  }
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto n = static_cast<double>(sorted.size());
  auto i = static_cast<std::size_t>(std::max(1.0, std::min(n, std::round(p * n))));
  return sorted[i - 1];
}

double seconds_since(clock_type::time_point t0, clock_type::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The next message, or a failure after 10 s.
asio::awaitable<dist::term> next(dist::process& self, const char* what) {
  auto m = co_await self.receive(10s);
  if (!m) throw failure(std::string("nothing within 10 s (") + what + ")");
  co_return std::move(*m);
}

void setup(const driver_args& a, report& r) {
  std::vector<double> ms;
  int failures = 0;
  const auto at = a.node.name.find('@');
  const std::string base = a.node.name.substr(0, at);
  const std::string host = at == std::string::npos ? "" : a.node.name.substr(at);
  for (int i = 0; i < a.setup_samples; ++i) {
    const std::string name = base + "_setup" + std::to_string(i) + host;
    dist::node n(moat::bench::make_node_options(a.node, name));
    const auto t0 = clock_type::now();
    const bool ok = n.ping(a.target, 10s);
    const auto t1 = clock_type::now();
    n.stop();
    if (ok) {
      ms.push_back(seconds_since(t0, t1) * 1e3);
    } else {
      ++failures;
    }
  }
  r.add("setup_samples", ms.size());
  r.add("setup_failures", failures);
  if (ms.empty()) return;
  // The first connection of this process, then the others (as dist_driver.erl reports them).
  r.add("setup_ms_first", ms.front());
  std::vector<double> later(ms.size() > 1 ? ms.begin() + 1 : ms.begin(), ms.end());
  std::sort(later.begin(), later.end());
  r.add("setup_ms_p50", percentile(later, 0.5));
  r.add("setup_ms_min", later.front());
  r.add("setup_ms_max", later.back());
}

asio::awaitable<void> rtt(dist::process& self, const driver_args& a, const dist::term& small,
                          report& r) {
  const dist::destination echo("echo", a.target);
  for (int i = 0; i < a.warmup; ++i) {
    (void)self.send(echo, dist::make_tuple(self.self(), small));
    (void)co_await next(self, "round trip");
  }
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(a.rtt_iterations));
  const auto deadline = clock_type::now() + std::chrono::seconds(a.rtt_seconds);
  for (int i = 0; i < a.rtt_iterations; ++i) {
    const auto t0 = clock_type::now();
    (void)self.send(echo, dist::make_tuple(self.self(), small));
    (void)co_await next(self, "round trip");
    const auto t1 = clock_type::now();
    us.push_back(seconds_since(t0, t1) * 1e6);
    if (t1 >= deadline) break;
  }
  std::sort(us.begin(), us.end());
  r.add("rtt_samples", us.size());
  r.add("rtt_p50_us", percentile(us, 0.5));
  r.add("rtt_p99_us", percentile(us, 0.99));
}

asio::awaitable<void> throughput(dist::process& self, const driver_args& a, const dist::term& small,
                                 report& r) {
  const dist::destination echo("echo", a.target);
  const long me = static_cast<long>(::getpid());
  const auto tck = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (int i = 0; i < a.window; ++i) (void)self.send(echo, dist::make_tuple(self.self(), small));
  // Every reply sends the next request; the clock is read every 64 replies.
  auto loop = [&](clock_type::time_point deadline) -> asio::awaitable<std::int64_t> {
    std::int64_t n = 0;
    for (;;) {
      (void)co_await next(self, "throughput");
      (void)self.send(echo, dist::make_tuple(self.self(), small));
      ++n;
      if ((n & 63) == 0 && clock_type::now() >= deadline) co_return n;
    }
  };
  (void)co_await loop(clock_type::now() + 200ms);  // the window goes round once
  const auto c0 = moat::bench::cpu_ticks(me);
  const auto p0 = moat::bench::cpu_ticks(a.peer_os_pid);
  const auto t0 = clock_type::now();
  const auto n = co_await loop(t0 + std::chrono::seconds(a.seconds));
  const auto t1 = clock_type::now();
  const auto c1 = moat::bench::cpu_ticks(me);
  const auto p1 = moat::bench::cpu_ticks(a.peer_os_pid);
  for (int i = 0; i < a.window; ++i) (void)co_await next(self, "throughput drain");
  const double secs = seconds_since(t0, t1);
  const auto msgs = static_cast<double>(std::max<std::int64_t>(n, 1));
  r.add("tp_window", a.window);
  r.add("tp_msgs", n);
  r.add("tp_seconds", secs);
  r.add("tp_msgs_per_s", static_cast<double>(n) / secs);
  r.add("tp_driver_cpu_us_per_msg", static_cast<double>(c1 - c0) * 1e6 / tck / msgs);
  r.add("tp_peer_cpu_us_per_msg", static_cast<double>(p1 - p0) * 1e6 / tck / msgs);
  r.add("tp_driver_util", static_cast<double>(c1 - c0) / tck / secs);
  r.add("tp_peer_util", static_cast<double>(p1 - p0) / tck / secs);
}

// {sink, Count, Bytes} -> Count.
std::int64_t ack_count(const dist::term& m, const char* tag) {
  const auto* t = m.as_tuple();
  if (t == nullptr || t->size() != 3 || !(*t)[0].is_atom(tag))
    throw failure(std::string("unexpected message from sink (wanted ") + tag + ")");
  return (*t)[1].as<std::int64_t>();
}

asio::awaitable<void> bulk(dist::process& self, const driver_args& a, report& r) {
  const dist::destination sink("sink", a.target);
  const long me = static_cast<long>(::getpid());
  const auto tck = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const dist::term payload = dist::binary(std::vector<std::uint8_t>(a.bulk_size, 'b'));
  (void)self.send(sink, dist::make_tuple(self.self(), dist::atom("reset"), a.bulk_ack));
  if (ack_count(co_await next(self, "sink reset"), "sink") != 0)
    throw failure("sink did not reset");
  const auto c0 = moat::bench::cpu_ticks(me);
  const auto p0 = moat::bench::cpu_ticks(a.peer_os_pid);
  const auto t0 = clock_type::now();
  const auto deadline = t0 + std::chrono::seconds(a.seconds);
  std::int64_t sent = 0;
  std::int64_t acked = 0;
  for (;;) {
    if (sent - acked < a.bulk_window) {
      (void)self.send(sink, dist::make_tuple(self.self(), payload));
      ++sent;
    } else {
      acked = ack_count(co_await next(self, "bulk ack"), "sink");
    }
    if (clock_type::now() >= deadline) break;
  }
  const auto t1 = clock_type::now();
  const auto c1 = moat::bench::cpu_ticks(me);
  const auto p1 = moat::bench::cpu_ticks(a.peer_os_pid);
  (void)self.send(sink, dist::make_tuple(self.self(), dist::atom("count")));
  for (;;) {
    const dist::term m = co_await next(self, "sink count");
    if (const auto* t = m.as_tuple(); t != nullptr && t->size() == 3 && (*t)[0].is_atom("sink"))
      continue;  // an ack sent before the count
    const auto counted = ack_count(m, "sink_count");
    if (counted != sent)
      throw failure("sink counted " + std::to_string(counted) + " of " + std::to_string(sent));
    break;
  }
  const double secs = seconds_since(t0, t1);
  const double mb = static_cast<double>(acked) * static_cast<double>(a.bulk_size) / 1e6;
  r.add("bulk_msgs", acked);
  r.add("bulk_seconds", secs);
  r.add("bulk_mb_per_s", mb / secs);
  r.add("bulk_driver_cpu_us_per_mb", static_cast<double>(c1 - c0) * 1e6 / tck / std::max(mb, 1e-9));
  r.add("bulk_peer_cpu_us_per_mb", static_cast<double>(p1 - p0) * 1e6 / tck / std::max(mb, 1e-9));
}

}  // namespace

int main(int argc, char** argv) {
  (void)moat::dist::tune_allocator();  // as the moat command does (docs/dist.md, "Performance")
  CLI::App app{"moat_dist_driver: the moat driver of bench/dist.sh"};
  driver_args a;
  moat::bench::add_node_args(app, a.node);
  app.add_option("--target", a.target, "The target node, name@host")->required();
  app.add_option("--peer-os-pid", a.peer_os_pid, "The target's OS process (for its CPU time)");
  app.add_option("--seconds", a.seconds, "Throughput and bulk windows")->capture_default_str();
  app.add_option("--rtt-seconds", a.rtt_seconds, "At most this long timing round trips")
      ->capture_default_str();
  app.add_option("--rtt-iterations", a.rtt_iterations, "Round trips timed at most")
      ->capture_default_str();
  app.add_option("--warmup", a.warmup, "Round trips before timing")->capture_default_str();
  app.add_option("--window", a.window, "Small messages in flight (throughput)")
      ->capture_default_str();
  app.add_option("--small-size", a.small_size, "Bytes of the small binary")->capture_default_str();
  app.add_option("--bulk-size", a.bulk_size, "Bytes of a bulk binary")->capture_default_str();
  app.add_option("--bulk-window", a.bulk_window, "Bulk binaries in flight")->capture_default_str();
  app.add_option("--bulk-ack", a.bulk_ack, "The sink acknowledges every this many")
      ->capture_default_str();
  app.add_option("--setup-samples", a.setup_samples, "Connection set-ups timed")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  report r;
  r.add("driver", "moat");
  r.add("driver_os_pid", ::getpid());
  try {
    setup(a, r);
    dist::node n(moat::bench::make_node_options(a.node, a.node.name));
    if (!n.ping(a.target, 10s)) throw failure("cannot connect to " + a.target);
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    (void)n.spawn([&a, &r, done](dist::process& self) -> asio::awaitable<void> {
      try {
        const dist::term small = dist::binary(std::vector<std::uint8_t>(a.small_size, 'x'));
        co_await rtt(self, a, small, r);
        co_await throughput(self, a, small, r);
        co_await bulk(self, a, r);
        done->set_value();
      } catch (...) {
        done->set_exception(std::current_exception());
      }
    });
    if (finished.wait_for(std::chrono::seconds(60 + 3 * (a.seconds + a.rtt_seconds))) !=
        std::future_status::ready)
      throw failure("the measurements did not finish in time");
    finished.get();
    n.stop();
  } catch (const std::exception& e) {
    std::fputs(r.text().c_str(), stdout);
    std::printf("error=%s\n", e.what());
    return 1;
  }
  std::fputs(r.text().c_str(), stdout);
  return 0;
}
