// bench/acme.sh's in-process rows.
//
//   moat_acme_obtain DIRECTORY_URL CA_FILE HTTP_PORT NAME
//     The wall time of one acme::client::obtain() call against a running CA -- a fresh
//     account, the order, HTTP-01, finalize, download -- without process start-up, key file
//     writing or the challenge server's start. Prints "elapsed_ns N" on success.
//
//   moat_acme_obtain --in-process RUNS
//     CA and client in this one process: an acme::ca served over HTTPS on 127.0.0.1 (its
//     data in a temporary directory, removed at the end) and RUNS acme::client::obtain()
//     calls for "localhost", each with a new client and so a new account, over HTTP-01 from
//     an http01_server. Prints "elapsed_ns N" per run, then "median_ns M".
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <moat/acme/ca.hpp>
#include <moat/acme/client.hpp>
#include <moat/http/server.hpp>
#include <optional>
#include <string>
#include <vector>

namespace net = boost::asio;
namespace acme = moat::acme;
namespace fs = std::filesystem;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

namespace {

/// One obtain() on `io`, run until it completes; its wall time, or nullopt (reason on stderr).
std::optional<nanoseconds> time_obtain(net::io_context& io, const acme::client_options& opts,
                                       const std::string& name, acme::solver& solver) {
  acme::client client(io.get_executor(), opts);
  acme::order_request req{.identifiers = {acme::identifier::dns(name)}, .solvers = {&solver}};
  bool done = false;
  std::string failure;
  const auto t0 = steady_clock::now();
  net::co_spawn(io, client.obtain(req),
                [&](std::exception_ptr e, acme::result<acme::issued_certificate> r) {
                  done = true;
                  if (e) {
                    failure = "obtain() threw";
                  } else if (!r) {
                    failure = r.error().message();
                  }
                });
  io.restart();
  while (!done) io.run_one();
  const auto elapsed = steady_clock::now() - t0;
  if (!failure.empty()) {
    std::fprintf(stderr, "%s\n", failure.c_str());
    return std::nullopt;
  }
  return std::chrono::duration_cast<nanoseconds>(elapsed);
}

int against_a_ca(const char* directory_url, const char* ca_file, const char* http_port,
                 const char* name) {
  const auto port = static_cast<unsigned short>(std::atoi(http_port));
  acme::http01_server http01({{net::ip::make_address("127.0.0.1"), port}});
  net::io_context io;
  acme::client_options opts;
  opts.directory_url = directory_url;
  opts.http.tls.cacertfile = ca_file;
  const auto t = time_obtain(io, opts, name, http01);
  if (!t) return 1;
  fmt::print("elapsed_ns {}\n", t->count());
  return 0;
}

int in_process(int runs) {
  std::string tmpl = (fs::temp_directory_path() / "moat-acme-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path dir = tmpl;
  int rc = 0;
  {
    const net::ip::tcp::endpoint loopback{net::ip::make_address("127.0.0.1"), 0};
    acme::http01_server http01({loopback});
    net::io_context io;  // the client's and the CA's validations
    acme::ca_options co;
    co.data_dir = dir / "ca";
    co.http01_port = http01.local_endpoints().front().port();
    acme::ca ca(io.get_executor(), co);
    const auto own = ca.issue(
        {.common_name = "localhost", .subject_alt_names = {"DNS:localhost", "IP:127.0.0.1"}});
    moat::http::server_options so;
    so.listener.name = "acme-ca";
    so.listener.addresses = {loopback};
    so.tls = moat::tls::options{};
    so.tls->cert = own.chain;
    so.tls->key = own.key;
    moat::http::router r;
    ca.mount(r, "/acme");
    moat::http::server server(std::move(so), std::move(r));
    server.start();
    ca.set_base_url("https://127.0.0.1:" + std::to_string(server.local_endpoints().front().port()));
    acme::client_options opts;
    opts.directory_url = ca.directory_url();
    opts.http.tls.cacerts = {ca.root_certificate()};
    std::vector<nanoseconds> times;
    for (int i = 0; i < runs; ++i) {
      const auto t = time_obtain(io, opts, "localhost", http01);
      if (!t) {
        rc = 1;
        break;
      }
      times.push_back(*t);
      fmt::print("elapsed_ns {}\n", t->count());
      std::fflush(stdout);
    }
    server.stop();
    if (rc == 0) {
      std::sort(times.begin(), times.end());
      const auto n = times.size();
      const auto median = n % 2 == 1 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
      fmt::print("median_ns {}\n", median.count());
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--in-process") {
    const int runs = std::atoi(argv[2]);
    if (runs > 0) return in_process(runs);
  } else if (argc == 5) {
    return against_a_ca(argv[1], argv[2], argv[3], argv[4]);
  }
  std::fprintf(stderr,
               "usage: %s DIRECTORY_URL CA_FILE HTTP_PORT NAME\n"
               "       %s --in-process RUNS\n",
               argv[0], argv[0]);
  return 2;
}
