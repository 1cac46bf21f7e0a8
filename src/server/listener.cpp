// The listener (Ranch's listener supervisor): it owns the workers, binds through
// tls::listen_socket, starts the acceptors, suspends and resumes them, drains on stop and
// swaps certificates on reload. The other roles have their own files (listener_impl.hpp).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <moat/error.hpp>
#include <moat/log.hpp>
#include <moat/server/listener.hpp>

#include "server/listener_impl.hpp"

namespace moat::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

std::string endpoint_text(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

listener::impl::impl(listener_options o, std::optional<tls::options> t, handler hh)
    : opts(std::move(o)),
      h(std::move(hh)),
      log(opts.logger ? opts.logger : default_logger()),
      limiter(opts.max_connections) {
  if (t) ctx.emplace(tls::role::server, with_handshake_timeout(std::move(*t)));
  validate();
  const unsigned n =
      opts.workers != 0 ? opts.workers : std::max(1U, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<worker>();
    w->owner = this;
    w->index = i;
    workers.push_back(std::move(w));
  }
  bind_all();
}

tls::options listener::impl::with_handshake_timeout(tls::options t) const {
  t.handshake_timeout = opts.handshake_timeout;
  return t;
}

void listener::impl::validate() const {
  auto bad = [](const char* option, const std::string& why) {
    throw config_error(option, std::make_error_code(std::errc::invalid_argument), why);
  };
  if (opts.addresses.empty()) bad("addresses", "a listener needs at least one address");
  if (opts.max_connections == 0) bad("max_connections", "must be at least 1");
  if (opts.handshake_timeout <= 0ms) bad("handshake_timeout", "must be positive");
  if (opts.idle_timeout < 0ms) bad("idle_timeout", "must be 0 (none) or positive");
  if (opts.shutdown_grace < 0ms) bad("shutdown_grace", "must not be negative");
  if (opts.socket.send_timeout < 0ms) bad("socket.send_timeout", "must be 0 (none) or positive");
  if (opts.backlog <= 0) bad("backlog", "must be positive");
  if (opts.workers > 1024) bad("workers", "at most 1024");
  if (opts.restart_period <= 0ms) bad("restart_period", "must be positive");
  const bool has = std::holds_alternative<coroutine_handler>(h)
                       ? static_cast<bool>(std::get<coroutine_handler>(h))
                       : static_cast<bool>(std::get<event_handler_factory>(h));
  if (!has) bad("handler", "no handler given");
}

// Each worker gets its own listening socket per address (SO_REUSEPORT), so the kernel spreads
// clients over the cores. When port 0 is asked for, the first worker's port is used by all.
void listener::impl::bind_all() {
  for (const auto& requested : opts.addresses) {
    tcp::endpoint ep = requested;
    for (auto& w : workers) {
      const tls::listen_options lo{.backlog = opts.backlog, .reuse_port = true};
      try {
        w->listening.push_back(
            ctx ? tls::listen_socket::listen(w->io->get_executor(), ep, *ctx, lo)
                : tls::listen_socket::listen_plain(w->io->get_executor(), ep, lo));
      } catch (const std::system_error& e) {
        throw config_error(fmt::format("listen '{}'", endpoint_text(ep)), e.code());
      }
      if (ep.port() == 0) ep = w->listening.back().local_endpoint();
    }
    bound.push_back(ep);
  }
}

void listener::impl::start() {
  if (started.exchange(true)) return;
  for (auto& w : workers) {
    for (std::size_t i = 0; i < w->listening.size(); ++i) {
      asio::co_spawn(*w->io, accept_loop(*w, i), asio::detached);
    }
    w->thread = std::thread([wp = w.get()] {
      auto guard = asio::make_work_guard(*wp->io);
      wp->io->run();
    });
  }
  std::vector<std::string> addrs;
  for (const auto& ep : bound) addrs.push_back(endpoint_text(ep));
  if (!ctx) {
    log->info("listener {} started on {} ({} workers, max {} connections, packet {}): plain TCP",
              opts.name, fmt::join(addrs, ", "), workers.size(), limiter.max(),
              framing::to_string(opts.socket.packet));
    return;
  }
  const auto s = ctx->summary();
  std::vector<std::string> vers;
  for (auto v : s.versions) vers.emplace_back(tls::to_string(v));
  log->info(
      "listener {} started on {} ({} workers, max {} connections, packet {}): TLS {}; "
      "certificate {}, SANs [{}], expires {}, sha256 {}",
      opts.name, fmt::join(addrs, ", "), workers.size(), limiter.max(),
      framing::to_string(opts.socket.packet), fmt::join(vers, ","), s.certificate_subject,
      fmt::join(s.certificate_sans, ", "), s.certificate_expiry, s.certificate_fingerprint);
}

bool listener::impl::on_worker_thread() const {
  const auto me = std::this_thread::get_id();
  return std::any_of(workers.begin(), workers.end(),
                     [&](const auto& w) { return w->thread.get_id() == me; });
}

void listener::impl::connection_ended() {
  if (!stopping) return;
  std::lock_guard lock(mu);
  cv.notify_all();
}

bool listener::impl::note_restart(const std::string& what) {
  std::lock_guard lock(mu);
  const auto now = std::chrono::steady_clock::now();
  restarts.push_back(now);
  while (!restarts.empty() && now - restarts.front() > opts.restart_period) restarts.pop_front();
  log->error("listener {}: {} ({} of {} tolerated in {} ms)", opts.name, what, restarts.size(),
             opts.restart_intensity, opts.restart_period.count());
  if (restarts.size() <= opts.restart_intensity) return false;
  failure = fmt::format("{}; more than {} failures in {} ms, listener stopped", what,
                        opts.restart_intensity, opts.restart_period.count());
  log->critical("listener {}: {}", opts.name, failure);
  stopping = true;
  gate.close();
  limiter.close();
  for (auto& wk : workers) {
    asio::post(*wk->io, [wp = wk.get()] {
      for (auto& ls : wp->listening) ls.close();
    });
  }
  cv.notify_all();
  return true;
}

void listener::impl::stop() {
  std::lock_guard stop_lock(stop_mu);
  if (stopped) return;
  const bool had_started = started.load();
  stopping = true;
  // 1. No new connections: acceptors waiting for the gate or a slot give up, and the
  //    listening sockets close (the kernel refuses new clients) before stop() goes on.
  gate.close();
  limiter.close();
  if (had_started) {
    std::vector<std::future<void>> closed;
    for (auto& w : workers) {
      auto done = std::make_shared<std::promise<void>>();
      closed.push_back(done->get_future());
      asio::post(*w->io, [wp = w.get(), done] {
        for (auto& ls : wp->listening) ls.close();
        // Connections waiting between messages with on_drain::interrupt end now.
        for (auto& st : wp->conns.all()) {
          if (st->drain_signal != nullptr)
            st->drain_signal->emit(asio::cancellation_type::terminal);
        }
        done->set_value();
      });
    }
    for (auto& f : closed) f.wait();

    // 2. Let connections finish within the grace period.
    std::unique_lock lock(mu);
    cv.wait_for(lock, opts.shutdown_grace, [&] { return live.load() == 0; });
    lock.unlock();

    // 3. Close the rest with close_notify (bounded), then give them a moment to unwind.
    if (const std::size_t left = live.load(); left > 0) {
      log->info("listener {}: grace period over, closing {} connections", opts.name, left);
      for (auto& w : workers) {
        asio::post(*w->io, [wp = w.get()] {
          for (auto& st : wp->conns.all()) {
            if (!st->sock) continue;
            st->end_reason = {};
            asio::co_spawn(
                *wp->io, [st]() -> asio::awaitable<void> { co_await st->sock->close(500ms); },
                asio::detached);
          }
        });
      }
      lock.lock();
      cv.wait_for(lock, 3s, [&] { return live.load() == 0; });
      lock.unlock();
      if (const std::size_t stuck = live.load(); stuck > 0) {
        log->warn(
            "listener {}: {} connections did not end within 3 s of close_notify (their handlers "
            "ignore the drain); destroying them",
            opts.name, stuck);
      }
    }
  }
  stats.handshake_log.flush(*log, spdlog::level::warn, [&](std::uint64_t n) {
    return fmt::format("listener {}: {} more handshake failures were not logged", opts.name, n);
  });
  for (auto& w : workers) {
    w->io->stop();
    if (w->thread.joinable()) w->thread.join();
  }
  // 4. Destroy what is left -- coroutines of handlers that ignored the drain -- while
  //    everything their cleanup touches (registries, limiter, counters) still exists.
  {
    std::lock_guard io_lock(io_mu);  // suspend() posts to the workers under it
    for (auto& w : workers) {
      w->listening.clear();
      w->io.reset();
    }
  }
  {
    std::lock_guard lock(mu);
    stopped = true;
  }
  if (had_started) log->info("listener {} stopped", opts.name);
  cv.notify_all();
}

// ---- listener ---------------------------------------------------------------------------

listener::listener(listener_options opts, tls::options tls_opts, handler h)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(tls_opts), std::move(h))) {}

listener::listener(listener_options opts, plain_tcp_t, handler h)
    : impl_(std::make_unique<impl>(std::move(opts), std::nullopt, std::move(h))) {}

listener::~listener() {
  impl_->stop();
  if (impl_->stopper.joinable()) impl_->stopper.join();
}

void listener::start() {
  impl_->start();
}

void listener::suspend() {
  std::lock_guard lock(impl_->io_mu);
  if (impl_->stopping) return;
  impl_->gate.shut();
  for (auto& w : impl_->workers) {
    asio::post(*w->io, [wp = w.get()] {
      for (auto& ls : wp->listening) {
        boost::system::error_code ignored;
        ls.acceptor().cancel(ignored);
      }
    });
  }
  impl_->log->info("listener {} suspended", impl_->opts.name);
}

void listener::resume() {
  impl_->gate.open();
  impl_->log->info("listener {} resumed", impl_->opts.name);
}

void listener::stop() {
  if (impl_->on_worker_thread()) {
    // From a handler: stopping joins the workers, this one included, so another thread does
    // it; the destructor (or wait()) sees it through.
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopper.joinable()) impl_->stopper = std::thread([i = impl_.get()] { i->stop(); });
    return;
  }
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
  impl_->limiter.set_max(n);
}

void listener::reload(tls::options tls_opts) {
  if (!impl_->ctx) {
    throw config_error("reload", std::make_error_code(std::errc::invalid_argument),
                       "listener '" + impl_->opts.name + "' is plain TCP: it has no certificate");
  }
  try {
    impl_->ctx->reload(impl_->with_handshake_timeout(std::move(tls_opts)));
  } catch (const config_error& e) {
    impl_->log->error("listener {}: reload rejected, the old certificate stays in service: {}",
                      impl_->opts.name, e.what());
    throw;
  }
  const auto s = impl_->ctx->summary();
  impl_->log->info("listener {}: reloaded; certificate {}, expires {}, sha256 {}", impl_->opts.name,
                   s.certificate_subject, s.certificate_expiry, s.certificate_fingerprint);
}

const std::string& listener::name() const noexcept {
  return impl_->opts.name;
}

stats listener::get_stats() const {
  stats s;
  s.active = impl_->live.load(std::memory_order_relaxed);
  for (const auto& w : impl_->workers) {
    s.accepted += w->counters.accepted.get();
    s.handshakes += w->counters.handshakes.get();
    s.handshake_failures += w->counters.handshake_failures.get();
    s.handler_failures += w->counters.handler_failures.get();
    s.bytes_in += w->counters.bytes_in.get();
    s.bytes_out += w->counters.bytes_out.get();
  }
  s.max_connections = impl_->limiter.max();
  s.accepting = impl_->started && !impl_->stopping && impl_->gate.is_open();
  s.handshake_failures_by_reason = impl_->stats.failures_by_reason();
  return s;
}

std::vector<connection_summary> listener::connections() const {
  std::vector<connection_summary> r;
  for (const auto& w : impl_->workers) {
    auto part = w->conns.list();
    r.insert(r.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return r;
}

std::vector<boost::asio::ip::tcp::endpoint> listener::local_endpoints() const {
  return impl_->bound;
}

bool listener::is_tls() const noexcept {
  return impl_->ctx.has_value();
}

tls::context listener::context() const {
  if (!impl_->ctx)
    throw std::logic_error("moat::server::listener: a plain TCP listener has no TLS context");
  return *impl_->ctx;
}

}  // namespace moat::server
