// The admin endpoint (admin.hpp): an http::server with three routes over the watched
// listeners and managers.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <moat/admin/admin.hpp>
#include <moat/admin/errors.hpp>
#include <moat/error.hpp>
#include <moat/http/server.hpp>
#include <moat/log.hpp>
#include <mutex>
#include <optional>

#include "admin/snapshot.hpp"
#include "admin/status_page.hpp"

namespace moat::admin {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

// Constant-time comparison, so the answer's timing does not tell how much of a guess is right.
bool same_secret(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool header_safe(std::string_view token) noexcept {
  return !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return c > 0x20 && c < 0x7f;  // visible ASCII: what a token68 or a header value may hold
  });
}

// Recent events, shared with the log sinks handed out (which may outlive the endpoint).
struct event_store {
  std::mutex mu;
  std::size_t limit = 50;
  std::deque<detail::event_view> events;

  void add(std::string level, std::string text) {
    const std::lock_guard lock(mu);
    events.push_front(
        detail::event_view{std::chrono::system_clock::now(), std::move(level), std::move(text)});
    while (events.size() > limit) events.pop_back();
  }
  std::vector<detail::event_view> latest() {
    const std::lock_guard lock(mu);
    return {events.begin(), events.end()};
  }
};

class events_sink_impl final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit events_sink_impl(std::shared_ptr<event_store> store) : store_(std::move(store)) {
    set_level(spdlog::level::info);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto level = msg.level >= spdlog::level::err    ? "error"
                       : msg.level == spdlog::level::warn ? "warn"
                                                          : "info";
    store_->add(level, std::string(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  std::shared_ptr<event_store> store_;
};

}  // namespace

struct endpoint::impl {
  options opts;
  std::shared_ptr<spdlog::logger> log;
  mutable std::mutex mu;
  std::vector<const moat::server::listener*> listeners;
  std::vector<const acme::manager*> managers;
  std::shared_ptr<event_store> events = std::make_shared<event_store>();
  std::unique_ptr<http::server> server;

  detail::snapshot snapshot() const {
    std::vector<const moat::server::listener*> ls;
    std::vector<const acme::manager*> ms;
    {
      const std::lock_guard lock(mu);
      ls = listeners;
      ms = managers;
    }
    auto s = detail::take(ls, ms, events->latest());
    note_process_error(s.process_error);
    return s;
  }

  // /proc unreadable (no descriptor left, or not mounted) leaves the process_* families out
  // of /metrics: said when it starts and when it ends, not at every scrape.
  mutable std::mutex process_mu;
  mutable std::string process_error;
  void note_process_error(const std::string& error) const {
    const std::lock_guard lock(process_mu);
    if (error == process_error) return;
    if (!error.empty()) {
      log->warn("admin: the process_* metrics are left out: {}", error);
    } else {
      log->info("admin: the process_* metrics are back");
    }
    process_error = error;
  }

  // The token check: 401 with a challenge when it is missing or wrong.
  std::optional<http::response> refused(const http::incoming& in) const {
    if (opts.bearer_token.empty()) return std::nullopt;
    const auto field = in.message[bhttp::field::authorization];
    const std::string_view auth(field.data(), field.size());
    constexpr std::string_view scheme = "Bearer ";
    if (auth.size() > scheme.size() && auth.substr(0, scheme.size()) == scheme &&
        same_secret(auth.substr(scheme.size()), opts.bearer_token))
      return std::nullopt;
    const auto method = in.message.method_string();
    log->warn("admin: refused {} {} from {}: {}", std::string(method.data(), method.size()),
              std::string(in.path), in.peer.address().to_string(),
              auth.empty() ? "no bearer token" : "wrong bearer token");
    auto r = http::make_response(bhttp::status::unauthorized, "a bearer token is required\n");
    r.set(bhttp::field::www_authenticate, "Bearer realm=\"moat\"");
    return r;
  }
};

endpoint::endpoint(options o) : impl_(std::make_unique<impl>()) {
  auto& m = *impl_;
  m.log = o.logger ? o.logger : default_logger();
  if (o.addresses.empty()) throw config_error("admin address", errc::no_address);
  for (const auto& a : o.addresses) {
    if (!o.allow_remote && !a.address().is_loopback())
      throw config_error("admin address " + a.address().to_string(), errc::not_loopback,
                         "allow it with --admin-allow-remote, and set a token");
  }
  if (!o.bearer_token.empty() && !header_safe(o.bearer_token))
    throw config_error("admin bearer token", errc::bad_token);
  m.opts = std::move(o);
  m.events->limit = m.opts.recent_events;

  http::router routes;
  auto* self = impl_.get();
  routes.add(bhttp::verb::get, "/", [](const http::incoming&) -> asio::awaitable<http::response> {
    // The page holds no data: it is served without the token, which its script
    // sends with every request for /status.json.
    auto r = http::make_response(bhttp::status::ok, std::string(detail::status_page()),
                                 "text/html; charset=utf-8");
    r.set(bhttp::field::cache_control, "no-store");
    r.set("Content-Security-Policy",
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
          "connect-src 'self'");
    co_return r;
  });
  routes.add(bhttp::verb::get, "/status.json",
             [self](const http::incoming& in) -> asio::awaitable<http::response> {
               if (auto no = self->refused(in)) co_return std::move(*no);
               auto r = http::make_response(bhttp::status::ok,
                                            detail::render_status_json(self->snapshot()),
                                            "application/json");
               r.set(bhttp::field::cache_control, "no-store");
               co_return r;
             });
  routes.add(bhttp::verb::get, "/metrics",
             [self](const http::incoming& in) -> asio::awaitable<http::response> {
               if (auto no = self->refused(in)) co_return std::move(*no);
               co_return http::make_response(bhttp::status::ok,
                                             detail::render_metrics(self->snapshot()),
                                             "text/plain; version=0.0.4; charset=utf-8");
             });

  http::server_options so;
  so.listener.name = "admin";
  so.listener.addresses = m.opts.addresses;
  so.listener.workers = 1;
  so.listener.max_connections = 64;
  so.listener.logger = m.log;
  m.server = std::make_unique<http::server>(std::move(so), std::move(routes));
}

endpoint::~endpoint() {
  stop();
}

void endpoint::watch(const moat::server::listener& l) {
  const std::lock_guard lock(impl_->mu);
  impl_->listeners.push_back(&l);
}

void endpoint::watch(const acme::manager& m) {
  const std::lock_guard lock(impl_->mu);
  impl_->managers.push_back(&m);
}

void endpoint::event(std::string level, std::string text) {
  impl_->events->add(std::move(level), std::move(text));
}

std::shared_ptr<spdlog::sinks::sink> endpoint::events_sink() {
  return std::make_shared<events_sink_impl>(impl_->events);
}

void endpoint::start() {
  impl_->server->start();
  std::string where;
  for (const auto& e : local_endpoints())
    where += (where.empty() ? "" : ", ") + detail::endpoint_text(e);
  impl_->log->info("admin: serving /metrics, /status.json and / on {}", where);
}

void endpoint::stop() {
  if (impl_ && impl_->server) impl_->server->stop();
}

std::vector<asio::ip::tcp::endpoint> endpoint::local_endpoints() const {
  return impl_->server->local_endpoints();
}

}  // namespace moat::admin
