// The HTTP client (client.hpp): one exchange per request on a pooled or new connection,
// retried once when a reused connection turns out dead, and redirects for GET and HEAD.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <moat/error.hpp>
#include <moat/http/client.hpp>
#include <moat/log.hpp>
#include <set>

#include "http/pool.hpp"
#include "http/response_reader.hpp"
#include "http/url.hpp"
#include "http/wire.hpp"

namespace moat::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::awaitable;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

tls::options with_alpn(tls::options o) {
  if (o.alpn.empty()) o.alpn = {"http/1.1"};
  return o;
}

// A failure that means "this connection is gone", as a reused one may be when the server
// closed it while it was idle.
bool connection_gone(std::error_code ec) {
  return ec == tls::errc::closed || ec == tls::errc::truncated || ec == tls::errc::not_connected ||
         ec == std::errc::connection_reset || ec == std::errc::broken_pipe ||
         ec == std::errc::connection_aborted;
}

bool idempotent(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::trace:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
      return true;
    default:
      return false;
  }
}

bool is_redirect(unsigned code) {
  return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

// The outcome of one attempt at an exchange.
struct attempt_result {
  result<response> res = std::error_code(errc::closed_early);
  bool retry = false;  // a reused connection turned out dead: try once more on a new one
};

}  // namespace

struct client::impl {
  asio::any_io_executor ex;
  client_options opts;
  tls::context tls_ctx;
  std::shared_ptr<spdlog::logger> log;
  detail::connection_pool pool;

  impl(asio::any_io_executor e, client_options o)
      : ex(std::move(e)),
        opts(std::move(o)),
        tls_ctx(tls::role::client, with_alpn(opts.tls)),
        log(opts.logger ? opts.logger : default_logger()),
        pool(opts.max_idle_per_origin, opts.idle_timeout) {}

  [[nodiscard]] tls::socket_options socket_opts() const {
    tls::socket_options so;
    so.packet = framing::packet_mode::raw;
    so.send_timeout = opts.request_timeout;  // writing the request is part of the exchange
    return so;
  }

  request_message build(const request& req, const detail::url_parts& u) const {
    request_message m{req.method, u.target, 11};
    for (const auto& f : req.headers) m.insert(f.name_string(), f.value());
    m.set(bhttp::field::host, u.host_header);
    if (m.find(bhttp::field::user_agent) == m.end())
      m.set(bhttp::field::user_agent, opts.user_agent);
    m.erase(bhttp::field::transfer_encoding);
    m.erase(bhttp::field::content_length);
    const bool has_body_method = req.method == bhttp::verb::post ||
                                 req.method == bhttp::verb::put || req.method == bhttp::verb::patch;
    if (!req.body.empty() || has_body_method) m.content_length(req.body.size());
    if (opts.max_idle_per_origin == 0) m.set(bhttp::field::connection, "close");
    m.body() = req.body;
    return m;
  }

  awaitable<result<tls::socket>> connect(const detail::url_parts& u) {
    auto so = socket_opts();
    // (Two statements, not a conditional around co_await: GCC 12 mishandles temporaries there.)
    result<tls::socket> s = make_error_code(tls::errc::not_connected);
    if (u.secure) {
      s = co_await tls::socket::connect(ex, u.host, u.port, tls_ctx, opts.connect_timeout, so);
    } else {
      s = co_await tls::socket::connect_plain(ex, u.host, u.port, opts.connect_timeout, so);
    }
    if (!s) {
      log->debug("http client: connecting to {} failed: {}", u.origin, s.error().message());
    }
    co_return s;
  }

  // One request and its response on one connection.
  awaitable<attempt_result> attempt(const request_message& m, const detail::url_parts& u,
                                    bool allow_reuse) {
    attempt_result out;
    std::optional<tls::socket> sock;
    if (allow_reuse) sock = pool.take(u.origin);
    const bool reused = sock.has_value();
    if (!sock) {
      auto s = co_await connect(u);
      if (!s) {
        out.res = s.error();
        co_return out;
      }
      sock.emplace(std::move(*s));
    }
    const auto deadline = clock::now() + opts.request_timeout;
    std::string wire;
    detail::serialize(m, wire);
    if (auto ec = co_await sock->send(wire)) {
      out.retry = reused && connection_gone(ec);
      out.res = ec == tls::errc::send_timeout ? std::error_code(errc::timeout) : ec;
      co_return out;
    }
    detail::response_reader reader(opts.max_header_bytes, opts.max_body_bytes,
                                   m.method() == bhttp::verb::head);
    auto st = detail::response_reader::status::need_more;
    while (st == detail::response_reader::status::need_more) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left <= 0ms) {
        out.res = std::error_code(errc::timeout);
        co_return out;
      }
      auto r = co_await sock->recv_view(0, left);
      if (r) {
        st = reader.feed(*r);
        continue;
      }
      const auto ec = r.error();
      if (ec == tls::errc::recv_timeout) {
        out.res = std::error_code(errc::timeout);
        co_return out;
      }
      if (!connection_gone(ec)) {
        out.res = ec;
        co_return out;
      }
      // The connection ended: the end of a body delimited by it, or a connection that was
      // dead before the request (retried) or died during it.
      if (ec == tls::errc::closed) st = reader.finish();
      if (st == detail::response_reader::status::complete) break;
      out.retry = reused && (!reader.started() || idempotent(m.method()));
      out.res = std::error_code(errc::closed_early);
      co_return out;
    }
    if (st == detail::response_reader::status::failed) {
      out.res = reader.error();
      co_return out;
    }
    const bool reusable = reader.reusable();
    auto res = reader.take();
    if (reusable && sock->is_open()) {
      pool.give_back(u.origin, std::move(*sock));
    } else {
      co_await sock->close(100ms);
    }
    out.res = std::move(res);
    co_return out;
  }

  awaitable<result<response>> exchange(const request_message& m, const detail::url_parts& u) {
    auto first = co_await attempt(m, u, true);
    if (!first.retry) co_return std::move(first.res);
    log->debug("http client: a reused connection to {} was closed ({}); retrying on a new one",
               u.origin, first.res ? std::string("-") : first.res.error().message());
    auto second = co_await attempt(m, u, false);
    co_return std::move(second.res);
  }

  awaitable<result<response>> send(request req) {
    auto url = detail::parse_url(req.url);
    if (!url) co_return url.error();
    std::set<std::string> seen{url->text};
    const bool follow = req.method == bhttp::verb::get || req.method == bhttp::verb::head;
    for (unsigned redirects = 0;; ++redirects) {
      const auto message = build(req, *url);
      auto res = co_await exchange(message, *url);
      if (!res || !follow || opts.max_redirects == 0 || !is_redirect(res->result_int())) {
        co_return res;
      }
      const auto location = (*res)[bhttp::field::location];
      if (location.empty()) co_return res;
      auto next =
          detail::resolve_location(*url, std::string_view(location.data(), location.size()));
      if (!next) co_return next.error();
      // A loop is a loop at once; otherwise the count decides.
      if (redirects + 1 > opts.max_redirects || !seen.insert(next->text).second) {
        co_return std::error_code(errc::too_many_redirects);
      }
      if (next->origin != url->origin) {
        // Credentials meant for one origin are not handed to another.
        req.headers.erase(bhttp::field::authorization);
        req.headers.erase(bhttp::field::proxy_authorization);
        req.headers.erase(bhttp::field::cookie);
      }
      url = std::move(next);
    }
  }
};

namespace {
const client_options& checked(const client_options& o) {
  auto bad = [](const char* option, const std::string& why) {
    throw config_error(option, std::make_error_code(std::errc::invalid_argument), why);
  };
  if (o.connect_timeout <= 0ms) bad("connect_timeout", "must be positive");
  if (o.request_timeout <= 0ms) bad("request_timeout", "must be positive");
  if (o.max_header_bytes == 0) bad("max_header_bytes", "must be at least 1");
  if (o.idle_timeout < 0ms) bad("idle_timeout", "must not be negative");
  return o;
}
}  // namespace

client::client(asio::any_io_executor ex, client_options opts)
    : impl_(std::make_unique<impl>(std::move(ex), checked(opts))) {}

client::~client() = default;

awaitable<result<response>> client::send(request req) {
  return impl_->send(std::move(req));
}

awaitable<result<response>> client::get(std::string url, fields headers) {
  request r;
  r.url = std::move(url);
  r.headers = std::move(headers);
  return impl_->send(std::move(r));
}

awaitable<result<response>> client::post(std::string url, std::string content_type,
                                         std::string body, fields headers) {
  request r;
  r.method = bhttp::verb::post;
  r.url = std::move(url);
  r.headers = std::move(headers);
  r.headers.set(bhttp::field::content_type, content_type);
  r.body = std::move(body);
  return impl_->send(std::move(r));
}

void client::close_idle() {
  impl_->pool.clear();
}

const client_options& client::options() const noexcept {
  return impl_->opts;
}

asio::any_io_executor client::get_executor() const noexcept {
  return impl_->ex;
}

}  // namespace moat::http
