#pragma once
// The fixture shared by the http tests: a test CA and a leaf for "localhost", server options
// over plain TCP or TLS, raw connections that send exact bytes and read what comes back, and
// a logger whose lines the test can read.

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <moat/http/http.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/response_reader.hpp"
#include "support/captured_log.hpp"
#include "support/support.hpp"

namespace moat::http::test_fixture {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using asio::awaitable;

/// A logger whose lines the test reads.
using test::captured_log;

/// Waits (without a fixed sleep) until `cond` holds or a scaled deadline passes.
template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + moat::test::scaled(limit);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// One parsed response and whether the bytes held more after it.
struct parsed {
  std::vector<response> responses;
  std::string rest;  ///< bytes that were not a complete response
};

/// Splits `bytes` into responses; `head[i]` says whether the i-th answers a HEAD.
inline parsed split_responses(const std::string& bytes, const std::vector<bool>& head = {}) {
  parsed p;
  std::string_view left = bytes;
  for (std::size_t i = 0; !left.empty(); ++i) {
    detail::response_reader r(1 << 20, 16 << 20, i < head.size() && head[i]);
    // Feed byte by byte to find where this response ends.
    std::size_t used = 0;
    auto st = detail::response_reader::status::need_more;
    while (used < left.size() && st == detail::response_reader::status::need_more) {
      st = r.feed({reinterpret_cast<const std::uint8_t*>(left.data() + used), 1});
      ++used;
    }
    if (st != detail::response_reader::status::complete) break;
    p.responses.push_back(r.take());
    left.remove_prefix(used);
  }
  p.rest = std::string(left);
  return p;
}

inline std::string body_of(const response& r) {
  return r.body();
}

struct http_fixture : ::testing::Test {
  moat::test::temp_dir dir;
  moat::test::test_ca ca{dir.path() / "ca"};
  moat::test::issued leaf = ca.issue("localhost");
  asio::io_context io;  // the clients'
  tls::context client_tls = [&] {
    tls::options o;
    o.cacertfile = ca.certfile();
    return tls::context(tls::role::client, o);
  }();
  captured_log log;

  server_options options(bool secure, unsigned workers = 1) const {
    server_options o;
    o.listener.name = "http-test";
    o.listener.addresses = {tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    o.listener.workers = workers;
    o.listener.shutdown_grace = 2s;
    o.listener.logger = log.logger();
    if (secure) {
      tls::options t;
      t.certfile = leaf.certfile;
      t.keyfile = leaf.keyfile;
      o.tls = t;
    }
    return o;
  }
  static std::uint16_t port(const server& s) { return s.local_endpoints().front().port(); }

  /// A raw connection (raw packet mode) to 127.0.0.1 / localhost.
  awaitable<tls::result<tls::socket>> dial(std::uint16_t p, bool secure) {
    if (secure) {
      co_return co_await tls::socket::connect(io.get_executor(), "localhost", p, client_tls,
                                              moat::test::scaled(30s));
    }
    co_return co_await tls::socket::connect_plain(io.get_executor(), "127.0.0.1", p,
                                                  moat::test::scaled(30s));
  }

  /// Everything the server sends until it closes (or `limit` passes).
  static awaitable<std::string> read_all(tls::socket& s, std::chrono::milliseconds limit = 20s) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + moat::test::scaled(limit);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) break;
      auto r = co_await s.recv_view(0, left);
      if (!r) break;
      got.append(reinterpret_cast<const char*>(r->data()), r->size());
    }
    co_return got;
  }

  /// Reads one response (keeping what follows it in `pending`).
  static awaitable<result<response>> read_one(tls::socket& s, std::string& pending,
                                              bool head = false) {
    const auto deadline = std::chrono::steady_clock::now() + moat::test::scaled(20s);
    for (;;) {
      auto p = split_responses(pending, {head});
      if (!p.responses.empty()) {
        pending = p.rest;
        co_return std::move(p.responses.front());
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto r = co_await s.recv_view(0, std::max(left, 1ms));
      if (!r) co_return r.error();
      pending.append(reinterpret_cast<const char*>(r->data()), r->size());
    }
  }

  /// Sends `bytes` on a new connection and returns all the server sends until it closes.
  std::string exchange(std::uint16_t p, bool secure, const std::string& bytes) {
    return moat::test::run(io, [&]() -> awaitable<std::string> {
      auto s = co_await dial(p, secure);
      if (!s) co_return "connect failed: " + s.error().message();
      if (auto ec = co_await s->send(bytes)) co_return "send failed: " + ec.message();
      co_return co_await read_all(*s);
    }());
  }
};

/// Parameterised over the transport: false = plain TCP, true = TLS.
struct over_both : http_fixture, ::testing::WithParamInterface<bool> {
  [[nodiscard]] bool secure() const { return GetParam(); }
};

inline std::string transport_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Tls" : "Tcp";
}

/// A handler answering with a fixed text.
inline route_handler text(std::string body) {
  return [body = std::move(body)](const incoming&) -> awaitable<response> {
    co_return make_response(bhttp::status::ok, body);
  };
}

}  // namespace moat::http::test_fixture
