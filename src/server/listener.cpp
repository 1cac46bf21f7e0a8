// The supervised listener: workers (one io_context + thread each), per-worker SO_REUSEPORT
// acceptors, an exact global connection limit, isolated handlers, drain and reload.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <moat/error.hpp>
#include <moat/server/listener.hpp>
#include <mutex>
#include <thread>

#include "server/log_limiter.hpp"
#include "server/proxy_protocol.hpp"
#include "tls/with_timeout.hpp"

namespace moat::server {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string endpoint_text(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

bool is_resource_exhaustion(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}
}  // namespace

struct worker;

namespace detail {
struct connection_state {
  listener::impl* owner = nullptr;
  worker* w = nullptr;
  std::uint64_t id = 0;
  tcp::endpoint peer;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::optional<tls::socket> sock;
  std::error_code end_reason;  // why the connection ended abnormally (logged once)
};
}  // namespace detail

struct worker {
  listener::impl* owner = nullptr;
  unsigned index = 0;
  asio::io_context io{1};
  std::vector<tcp::acceptor> acceptors;
  asio::steady_timer wake{io};
  std::thread thread;
  mutable std::mutex mu;  // guards conns and summaries
  std::map<std::uint64_t, std::shared_ptr<detail::connection_state>> conns;
  std::map<std::uint64_t, connection_summary> summaries;
};

struct listener::impl {
  listener_options opts;
  handler h;
  tls::context ctx;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<tcp::endpoint> bound;

  // Slots are taken before accept() (so the limit is exact: a connection never exists
  // without one) and given back when the connection ends; `live` counts connections.
  std::atomic<std::size_t> slots{0};
  std::atomic<std::size_t> live{0};
  std::atomic<std::size_t> max_conns{0};
  std::atomic<bool> started{false};
  std::atomic<bool> suspended{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> handshakes{0};
  std::atomic<std::uint64_t> handshake_failures{0};
  std::atomic<std::uint64_t> handler_failures{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};

  mutable std::mutex mu;  // guards the fields below
  std::map<std::string, std::uint64_t> failures_by_reason;
  std::deque<std::chrono::steady_clock::time_point> restarts;
  std::string failure;
  std::condition_variable cv;
  std::mutex stop_mu;  // serialises stop()

  log_limiter handshake_log{20, 1s};
  log_limiter accept_log{5, 1s};

  impl(listener_options o, tls::options t, handler hh)
      : opts(std::move(o)),
        h(std::move(hh)),
        ctx(tls::role::server, with_handshake_timeout(std::move(t))) {
    validate();
    max_conns = opts.max_connections;
    unsigned n =
        opts.workers != 0 ? opts.workers : std::max(1U, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) {
      auto w = std::make_unique<worker>();
      w->owner = this;
      w->index = i;
      workers.push_back(std::move(w));
    }
    bind_all();
  }

  tls::options with_handshake_timeout(tls::options t) const {
    t.handshake_timeout = opts.handshake_timeout;
    return t;
  }

  void validate() const {
    auto bad = [](const char* option, const std::string& why) {
      throw config_error(option, std::make_error_code(std::errc::invalid_argument), why);
    };
    if (opts.addresses.empty()) bad("addresses", "a listener needs at least one address");
    if (opts.max_connections == 0) bad("max_connections", "must be at least 1");
    if (opts.handshake_timeout <= 0ms) bad("handshake_timeout", "must be positive");
    if (opts.idle_timeout < 0ms) bad("idle_timeout", "must be 0 (none) or positive");
    if (opts.shutdown_grace < 0ms) bad("shutdown_grace", "must not be negative");
    if (opts.backlog <= 0) bad("backlog", "must be positive");
    if (opts.workers > 1024) bad("workers", "at most 1024");
    if (opts.restart_period <= 0ms) bad("restart_period", "must be positive");
    const bool has = std::holds_alternative<coroutine_handler>(h)
                         ? static_cast<bool>(std::get<coroutine_handler>(h))
                         : static_cast<bool>(std::get<event_handler_factory>(h));
    if (!has) bad("handler", "no handler given");
  }

  // Each worker gets its own listening socket per address (SO_REUSEPORT), so the kernel
  // spreads connections across cores. When port 0 is asked for, the first worker's port is
  // reused by the others.
  void bind_all() {
    for (const auto& requested : opts.addresses) {
      tcp::endpoint ep = requested;
      for (auto& w : workers) {
        tcp::acceptor a(w->io);
        boost::system::error_code ec;
        auto fail = [&](const char* what) {
          throw config_error(fmt::format("listen '{}'", endpoint_text(ep)),
                             std::error_code(ec.value(), std::system_category()), what);
        };
        a.open(ep.protocol(), ec);
        if (ec) fail("cannot open a socket");
        a.set_option(asio::socket_base::reuse_address(true), ec);
        const int one = 1;
        if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
          ec.assign(errno, boost::system::system_category());
          fail("SO_REUSEPORT");
        }
        if (ep.address().is_v6()) a.set_option(asio::ip::v6_only(true), ec);
        a.bind(ep, ec);
        if (ec) fail("cannot bind");
        a.listen(opts.backlog, ec);
        if (ec) fail("cannot listen");
        if (ep.port() == 0) ep = a.local_endpoint();
        w->acceptors.push_back(std::move(a));
      }
      bound.push_back(ep);
    }
  }

  // ---- The connection limit ------------------------------------------------------------

  bool try_acquire() {
    auto cur = slots.load();
    while (cur < max_conns.load()) {
      if (slots.compare_exchange_weak(cur, cur + 1)) return true;
    }
    return false;
  }

  void release() {
    slots.fetch_sub(1);
    wake_all();
  }

  void wake_all() {
    for (auto& w : workers) {
      asio::post(w->io, [wp = w.get()] { wp->wake.cancel(); });
    }
  }

  // ---- Accepting -----------------------------------------------------------------------

  awaitable<void> accept_loop(worker& w, tcp::acceptor& a) {
    auto backoff = 100ms;
    const std::string where =
        endpoint_text(bound[static_cast<std::size_t>(&a - w.acceptors.data())]);
    while (!stopping) {
      if (suspended || !try_acquire()) {
        w.wake.expires_after(1s);  // woken early by release()/resume(); the period is a safety net
        co_await w.wake.async_wait(tuple_awaitable);
        continue;
      }
      auto [ec, sock] = co_await a.async_accept(tuple_awaitable);
      if (ec) {
        release();
        if (stopping) break;
        if (ec == asio::error::operation_aborted) continue;  // suspend() cancels accepts
        if (is_resource_exhaustion(ec)) {
          // Not a crash: wait for descriptors to free up. Connections stay in the backlog.
          const std::string why = ec.message();
          accept_log.log(spdlog::level::warn, [&](std::uint64_t suppressed) {
            return fmt::format("listener {}: accept on {} failed: {}; backing off {} ms{}",
                               opts.name, where, why, backoff.count(), suppressed_text(suppressed));
          });
          asio::steady_timer t(w.io, backoff);
          co_await t.async_wait(tuple_awaitable);
          backoff = std::min<std::chrono::milliseconds>(backoff * 2, 2s);
          continue;
        }
        if (ec == asio::error::connection_aborted) {  // the client gave up first
          spdlog::debug("listener {}: accept on {}: {}", opts.name, where, ec.message());
          continue;
        }
        if (note_restart(fmt::format("accept on {} failed: {}", where, ec.message()))) break;
        continue;
      }
      if (stopping) {  // accepted just as the listener began to drain: refuse it
        boost::system::error_code ignored;
        sock.close(ignored);
        release();
        break;
      }
      backoff = 100ms;
      accepted.fetch_add(1, std::memory_order_relaxed);
      asio::co_spawn(w.io, run_connection(w, std::move(sock)), asio::detached);
    }
  }

  static std::string suppressed_text(std::uint64_t n) {
    return n == 0 ? std::string() : fmt::format(" ({} more like this suppressed)", n);
  }

  // Returns true when the restart intensity is exceeded: the listener then stops, loudly.
  bool note_restart(const std::string& what) {
    std::lock_guard lock(mu);
    const auto now = std::chrono::steady_clock::now();
    restarts.push_back(now);
    while (!restarts.empty() && now - restarts.front() > opts.restart_period) restarts.pop_front();
    spdlog::error("listener {}: {} ({} of {} tolerated in {} ms)", opts.name, what, restarts.size(),
                  opts.restart_intensity, opts.restart_period.count());
    if (restarts.size() <= opts.restart_intensity) return false;
    failure = fmt::format("{}; more than {} failures in {} ms, listener stopped", what,
                          opts.restart_intensity, opts.restart_period.count());
    spdlog::critical("listener {}: {}", opts.name, failure);
    stopping = true;
    for (auto& wk : workers) {
      asio::post(wk->io, [wp = wk.get()] {
        for (auto& acc : wp->acceptors) {
          boost::system::error_code ignored;
          acc.close(ignored);
        }
      });
    }
    cv.notify_all();
    return true;
  }

  // ---- One connection ------------------------------------------------------------------

  void track(worker& w, const std::shared_ptr<detail::connection_state>& st, const char* state) {
    std::lock_guard lock(w.mu);
    auto& s = w.summaries[st->id];
    s.id = st->id;
    s.peer = st->peer;
    s.state = state;
    if (st->sock && std::string_view(state) == "established") {
      if (auto ci = st->sock->connection_information()) {
        s.tls_version = std::string(tls::to_string(ci->protocol));
        s.cipher = ci->cipher_suite;
        s.sni = ci->sni;
      }
    }
  }

  awaitable<bool> read_proxy_header(tcp::socket& sock,
                                    std::shared_ptr<detail::connection_state> st) {
    std::array<std::uint8_t, proxy::max_header> buf{};
    std::size_t have = 0;
    const auto deadline = std::chrono::steady_clock::now() + opts.handshake_timeout;
    for (;;) {
      // Peek, so that nothing after the header (the ClientHello) is consumed.
      asio::steady_timer t(sock.get_executor(), deadline);
      auto r = co_await (sock.async_wait(tcp::socket::wait_read, tuple_awaitable) ||
                         t.async_wait(tuple_awaitable));
      if (r.index() == 1) {
        log_abnormal(*st, "PROXY header did not arrive within the handshake timeout");
        co_return false;
      }
      boost::system::error_code ec;
      have = sock.receive(asio::buffer(buf), tcp::socket::message_peek, ec);
      if (ec || have == 0) {
        log_abnormal(*st, fmt::format("connection closed before its PROXY header ({})",
                                      ec ? ec.message() : "end of stream"));
        co_return false;
      }
      auto p = proxy::parse(std::span<const std::uint8_t>(buf.data(), have));
      if (p.state == proxy::result::status::invalid ||
          (p.state == proxy::result::status::need_more && have == buf.size())) {
        log_abnormal(*st, fmt::format("bad PROXY header: {}", p.reason));
        co_return false;
      }
      if (p.state == proxy::result::status::done) {
        if (opts.proxy == proxy_protocol::v1 && buf[0] != 'P') {
          log_abnormal(*st, "PROXY v2 header, but the listener expects v1");
          co_return false;
        }
        if (opts.proxy == proxy_protocol::v2 && buf[0] == 'P') {
          log_abnormal(*st, "PROXY v1 header, but the listener expects v2");
          co_return false;
        }
        sock.receive(asio::buffer(buf.data(), p.header_length), 0, ec);  // consume it
        if (p.source) st->peer = *p.source;
        co_return true;
      }
      // need more: wait a little for the rest (peek does not consume)
      asio::steady_timer pause(sock.get_executor(), 5ms);
      co_await pause.async_wait(tuple_awaitable);
    }
  }

  void log_abnormal(const detail::connection_state& st, const std::string& reason) {
    spdlog::warn("listener {}: connection {} from {}: {}", opts.name, st.id, endpoint_text(st.peer),
                 reason);
  }

  void log_handshake_failure(const detail::connection_state& st, std::error_code ec,
                             std::uint8_t alert) {
    const auto reason = tls::reason_name(ec);
    {
      std::lock_guard lock(mu);
      ++failures_by_reason[reason];
    }
    handshake_failures.fetch_add(1, std::memory_order_relaxed);
    handshake_log.log(spdlog::level::warn, [&](std::uint64_t suppressed) {
      return fmt::format("listener {}: handshake with {} failed: {} [{}]; alert sent: {}{}",
                         opts.name, endpoint_text(st.peer), tls::format_error(ec), reason,
                         alert == 0 ? std::string("none") : tls::alert_name(alert),
                         suppressed_text(suppressed));
    });
  }

  awaitable<void> run_connection(worker& w, tcp::socket sock) {
    auto st = std::make_shared<detail::connection_state>();
    st->owner = this;
    st->w = &w;
    st->id = next_id.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code pec;
    st->peer = sock.remote_endpoint(pec);
    {
      std::lock_guard lock(w.mu);
      w.conns[st->id] = st;
    }
    live.fetch_add(1);
    track(w, st, "handshake");
    struct cleanup {
      impl* self;
      worker& wk;
      std::uint64_t id;
      ~cleanup() {
        {
          std::lock_guard lock(wk.mu);
          wk.conns.erase(id);
          wk.summaries.erase(id);
        }
        self->live.fetch_sub(1);
        self->release();
      }
    } guard{this, w, st->id};

    if (opts.proxy != proxy_protocol::none && !co_await read_proxy_header(sock, st)) co_return;

    st->sock.emplace(tls::socket::upgrade(std::move(sock), ctx, {}, opts.socket));
    if (auto ec = co_await st->sock->handshake(opts.handshake_timeout)) {
      log_handshake_failure(*st, ec, st->sock->tls_stream().engine().alert_sent());
      co_return;
    }
    handshakes.fetch_add(1, std::memory_order_relaxed);
    track(w, st, "established");

    connection conn(st);
    std::string failure_text;
    try {
      if (std::holds_alternative<coroutine_handler>(h)) {
        co_await std::get<coroutine_handler>(h)(conn);
      } else {
        co_await run_events(std::get<event_handler_factory>(h), conn);
      }
    } catch (const std::exception& e) {
      failure_text = e.what();
    } catch (...) {
      failure_text = "unknown exception";
    }
    track(w, st, "closing");
    if (!failure_text.empty()) {
      // The handler failed: this connection only. The peer gets an alert, the log one line.
      handler_failures.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("listener {}: handler for {} (connection {}) failed: {}; alert sent: {}",
                    opts.name, endpoint_text(st->peer), st->id, failure_text,
                    tls::alert_name(tls::alert_for(tls::errc::handler_failed)));
      if (st->sock->is_open()) {
        co_await tls::detail::with_timeout(
            st->sock->tls_stream().async_abort(tls::errc::handler_failed, tuple_awaitable), 1s);
      }
      boost::system::error_code ignored;
      st->sock->tls_stream().next_layer().close(ignored);
      co_return;
    }
    if (st->end_reason) {
      log_abnormal(*st, fmt::format("ended: {} [{}]", tls::format_error(st->end_reason),
                                    tls::reason_name(st->end_reason)));
    }
    if (st->sock->is_open()) co_await st->sock->close();
  }

  static awaitable<void> run_events(const event_handler_factory& f, connection& c) {
    auto eh = f();
    if (!eh) throw std::runtime_error("the event handler factory returned no handler");
    co_await eh->on_open(c);
    for (;;) {
      auto m = co_await c.recv();
      if (!m) {
        const auto& ec = m.error();
        if (ec == tls::errc::closed || ec == tls::errc::recv_timeout ||
            ec == tls::errc::shutting_down) {
          co_await eh->on_closed(c);
        } else {
          co_await eh->on_error(c, ec);
        }
        co_return;
      }
      co_await eh->on_message(c, *m);
    }
  }

  // ---- Control -------------------------------------------------------------------------

  void start() {
    if (started.exchange(true)) return;
    for (auto& w : workers) {
      for (auto& a : w->acceptors) asio::co_spawn(w->io, accept_loop(*w, a), asio::detached);
      w->thread = std::thread([wp = w.get()] {
        auto guard = asio::make_work_guard(wp->io);
        wp->io.run();
      });
    }
    const auto s = ctx.summary();
    std::vector<std::string> addrs;
    for (const auto& ep : bound) addrs.push_back(endpoint_text(ep));
    std::vector<std::string> vers;
    for (auto v : s.versions) vers.emplace_back(tls::to_string(v));
    spdlog::info(
        "listener {} started on {} ({} workers, max {} connections, packet {}): TLS {}; "
        "certificate {}, SANs [{}], expires {}, sha256 {}",
        opts.name, fmt::join(addrs, ", "), workers.size(), max_conns.load(),
        framing::to_string(opts.socket.packet), fmt::join(vers, ","), s.certificate_subject,
        fmt::join(s.certificate_sans, ", "), s.certificate_expiry, s.certificate_fingerprint);
  }

  void for_each_worker(const std::function<void(worker&)>& fn) {
    for (auto& w : workers) asio::post(w->io, [wp = w.get(), fn] { fn(*wp); });
  }

  void stop() {
    std::lock_guard stop_lock(stop_mu);
    if (stopped) return;
    const bool had_started = started.load();
    stopping = true;
    // 1. No new connections: close the listening sockets (the kernel refuses new clients),
    //    and wait until every worker has done so.
    auto close_listening = [](worker& w) {
      for (auto& a : w.acceptors) {
        boost::system::error_code ignored;
        a.close(ignored);
      }
      w.wake.cancel();
    };
    if (had_started) {
      std::vector<std::future<void>> closed;
      for (auto& w : workers) {
        auto done = std::make_shared<std::promise<void>>();
        closed.push_back(done->get_future());
        asio::post(w->io, [wp = w.get(), done, close_listening] {
          close_listening(*wp);
          done->set_value();
        });
      }
      for (auto& f : closed) f.wait();
    } else {
      for (auto& w : workers) close_listening(*w);
    }
    if (had_started) {
      // 2. Let connections finish within the grace period.
      const auto deadline = std::chrono::steady_clock::now() + opts.shutdown_grace;
      while (live.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
      }
      // 3. Close the rest with close_notify.
      if (live.load() > 0) {
        spdlog::info("listener {}: grace period over, closing {} connections", opts.name,
                     live.load());
        for_each_worker([](worker& w) {
          std::vector<std::shared_ptr<detail::connection_state>> open;
          {
            std::lock_guard lock(w.mu);
            for (auto& [id, st] : w.conns) open.push_back(st);
          }
          for (auto& st : open) {
            if (!st->sock) continue;
            st->end_reason = {};
            asio::co_spawn(
                w.io,
                [st]() -> awaitable<void> {
                  if (st->sock->is_open()) {
                    co_await tls::detail::with_timeout(
                        st->sock->tls_stream().async_shutdown(tuple_awaitable), 500ms);
                  }
                  boost::system::error_code ignored;
                  st->sock->tls_stream().next_layer().cancel(ignored);
                  st->sock->tls_stream().next_layer().close(ignored);
                },
                asio::detached);
          }
        });
        const auto hard = std::chrono::steady_clock::now() + 3s;
        while (live.load() > 0 && std::chrono::steady_clock::now() < hard) {
          std::this_thread::sleep_for(10ms);
        }
        if (live.load() > 0) {
          spdlog::warn(
              "listener {}: {} connections did not close within 3 s of close_notify; "
              "dropping them",
              opts.name, live.load());
        }
      }
    }
    handshake_log.flush(spdlog::level::warn, [&](std::uint64_t n) {
      return fmt::format("listener {}: {} more handshake failures were not logged", opts.name, n);
    });
    for (auto& w : workers) {
      w->io.stop();
      if (w->thread.joinable()) w->thread.join();
    }
    stopped = true;
    if (had_started) spdlog::info("listener {} stopped", opts.name);
    cv.notify_all();
  }
};

listener::listener(listener_options opts, tls::options tls_opts, handler h)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(tls_opts), std::move(h))) {}

listener::~listener() {
  stop();
}

void listener::start() {
  impl_->start();
}

void listener::suspend() {
  impl_->suspended = true;
  impl_->for_each_worker([](worker& w) {
    for (auto& a : w.acceptors) {
      boost::system::error_code ignored;
      a.cancel(ignored);
    }
  });
  spdlog::info("listener {} suspended", impl_->opts.name);
}

void listener::resume() {
  impl_->suspended = false;
  impl_->wake_all();
  spdlog::info("listener {} resumed", impl_->opts.name);
}

void listener::stop() {
  impl_->stop();
}

void listener::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->stopped.load() || !impl_->failure.empty(); });
}

std::string listener::failure() const {
  std::lock_guard lock(impl_->mu);
  return impl_->failure;
}

void listener::set_max_connections(std::size_t n) {
  if (n == 0) {
    throw config_error("max_connections", std::make_error_code(std::errc::invalid_argument),
                       "must be at least 1");
  }
  impl_->max_conns = n;
  impl_->wake_all();
}

void listener::reload(tls::options tls_opts) {
  try {
    impl_->ctx.reload(impl_->with_handshake_timeout(std::move(tls_opts)));
  } catch (const config_error& e) {
    spdlog::error("listener {}: reload rejected, the old certificate stays in service: {}",
                  impl_->opts.name, e.what());
    throw;
  }
  const auto s = impl_->ctx.summary();
  spdlog::info("listener {}: reloaded; certificate {}, expires {}, sha256 {}", impl_->opts.name,
               s.certificate_subject, s.certificate_expiry, s.certificate_fingerprint);
}

stats listener::get_stats() const {
  stats s;
  s.active = impl_->live.load();
  s.accepted = impl_->accepted.load();
  s.handshakes = impl_->handshakes.load();
  s.handshake_failures = impl_->handshake_failures.load();
  s.handler_failures = impl_->handler_failures.load();
  s.bytes_in = impl_->bytes_in.load();
  s.bytes_out = impl_->bytes_out.load();
  s.max_connections = impl_->max_conns.load();
  s.accepting = impl_->started && !impl_->stopping && !impl_->suspended;
  std::lock_guard lock(impl_->mu);
  s.handshake_failures_by_reason = impl_->failures_by_reason;
  return s;
}

std::vector<connection_summary> listener::connections() const {
  std::vector<connection_summary> r;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& w : impl_->workers) {
    std::lock_guard lock(w->mu);
    for (const auto& [id, s] : w->summaries) {
      auto c = s;
      auto it = w->conns.find(id);
      if (it != w->conns.end()) {
        c.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second->started);
        c.peer = it->second->peer;
      }
      r.push_back(std::move(c));
    }
  }
  return r;
}

std::vector<boost::asio::ip::tcp::endpoint> listener::local_endpoints() const {
  return impl_->bound;
}

tls::context listener::context() const {
  return impl_->ctx;
}

// ---- connection -------------------------------------------------------------------------

awaitable<tls::result<std::vector<std::uint8_t>>> connection::recv(
    std::chrono::milliseconds timeout) {
  auto& st = *st_;
  auto* o = st.owner;
  if (timeout < 0ms && o->opts.idle_timeout > 0ms) timeout = o->opts.idle_timeout;
  auto r = co_await st.sock->recv(0, timeout);
  if (r) {
    o->bytes_in.fetch_add(r->size(), std::memory_order_relaxed);
  } else if (o->stopping && r.error() != tls::errc::closed) {
    co_return make_error_code(tls::errc::shutting_down);
  } else if (r.error() != tls::errc::closed && r.error() != tls::errc::recv_timeout) {
    st.end_reason = r.error();
  }
  co_return r;
}

awaitable<std::error_code> connection::send(std::span<const std::uint8_t> data) {
  auto ec = co_await st_->sock->send(data);
  if (!ec) {
    st_->owner->bytes_out.fetch_add(data.size(), std::memory_order_relaxed);
  } else if (!st_->end_reason && !st_->owner->stopping) {
    st_->end_reason = ec;  // logged once when the connection ends
  }
  co_return ec;
}

awaitable<std::error_code> connection::send(std::string_view data) {
  co_return co_await send(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

awaitable<void> connection::close() {
  co_await st_->sock->close();
}

const tcp::endpoint& connection::peer() const noexcept {
  return st_->peer;
}
const std::string& connection::listener_name() const noexcept {
  return st_->owner->opts.name;
}
std::uint64_t connection::id() const noexcept {
  return st_->id;
}
bool connection::stopping() const noexcept {
  return st_->owner->stopping.load();
}
tls::socket& connection::socket() noexcept {
  return *st_->sock;
}

awaitable<void> event_handler::on_open(connection&) {
  co_return;
}
awaitable<void> event_handler::on_closed(connection&) {
  co_return;
}
awaitable<void> event_handler::on_error(connection&, std::error_code) {
  co_return;
}

}  // namespace moat::server
