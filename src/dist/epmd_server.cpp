// The embedded EPMD: one acceptor per address family, one coroutine per connection. A
// connection sends one request (2-byte length, then the body) within the request timeout; the
// server answers and closes, except after a registration, which lasts until the connection
// ends. What epmd refuses, this refuses the same way: a malformed request or a command that
// is not allowed closes the connection without an answer, logged (rate-limited) once.
#include "moat/dist/epmd_server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>

#include "dist/epmd_registry.hpp"
#include "dist/epmd_wire.hpp"
#include "moat/detail/log_limiter.hpp"
#include "moat/error.hpp"
#include "moat/log.hpp"
#include "moat/tls/detail/with_timeout.hpp"

namespace moat::dist {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
namespace wire = epmd_wire;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// epmd's rule: a loopback peer, or one that connected from this host's own address.
bool local_peer(const tcp::endpoint& peer, const tcp::endpoint& local) {
  auto a = peer.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  auto l = local.address();
  if (l.is_v6() && l.to_v6().is_v4_mapped()) {
    l = asio::ip::make_address_v4(asio::ip::v4_mapped, l.to_v6());
  }
  return a.is_loopback() || a == l;
}

std::string text_of(const tcp::endpoint& e) {
  return e.address().is_v6() ? fmt::format("[{}]:{}", e.address().to_string(), e.port())
                             : fmt::format("{}:{}", e.address().to_string(), e.port());
}

void close_socket(tcp::socket& s) {
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

}  // namespace

struct epmd_server::impl {
  impl(asio::any_io_executor e, epmd_server_options o)
      : ex(std::move(e)), opts(std::move(o)), log(opts.logger ? opts.logger : default_logger()) {}

  asio::any_io_executor ex;
  epmd_server_options opts;
  std::shared_ptr<spdlog::logger> log;
  std::vector<tcp::acceptor> acceptors;
  std::uint16_t port = 0;
  std::atomic<bool> stopped{false};
  detail::log_limiter limiter{20, std::chrono::seconds(60)};

  mutable std::mutex mu;  // guards what follows
  epmd_registry registry;
  std::map<std::uint64_t, std::shared_ptr<tcp::socket>> connections;
  std::uint64_t next_id = 1;

  void refuse(const std::string& peer, const std::string& why,
              spdlog::level::level_enum level = spdlog::level::warn) {
    limiter.log(*log, level, [&](std::uint64_t suppressed) {
      return fmt::format("epmd on port {}: closed the connection from {}: {}{}", port, peer, why,
                         suppressed == 0
                             ? std::string()
                             : fmt::format(" ({} more like this suppressed)", suppressed));
    });
  }

  void stop_now() noexcept {
    if (stopped.exchange(true)) return;
    boost::system::error_code ignored;
    for (auto& a : acceptors) a.close(ignored);
    std::map<std::uint64_t, std::shared_ptr<tcp::socket>> open;
    {
      std::lock_guard lock(mu);
      open.swap(connections);
    }
    for (auto& [id, s] : open) close_socket(*s);
  }

  void forget(std::uint64_t id) {
    std::lock_guard lock(mu);
    connections.erase(id);
    if (auto name = registry.remove_owner(id)) {
      log->debug("epmd on port {}: '{}' unregistered", port, *name);
    }
  }

  // Writes `reply` within the request timeout; false if it could not.
  awaitable<bool> send(tcp::socket& s, std::string reply) {
    auto r = co_await tls::detail::with_timeout(
        asio::async_write(s, asio::buffer(reply), tuple_awaitable), opts.request_timeout);
    co_return r && !std::get<0>(*r);
  }

  static awaitable<void> accept_loop(std::shared_ptr<impl> self, std::size_t index);
  static awaitable<void> serve(std::shared_ptr<impl> self, std::shared_ptr<tcp::socket> s,
                               std::uint64_t id);
  awaitable<void> answer(tcp::socket& s, std::uint64_t id, bool local, const std::string& peer,
                         wire::request req);
  awaitable<void> keep_registration(tcp::socket& s, std::uint64_t id, wire::node_fields f,
                                    const std::string& peer);
};

awaitable<void> epmd_server::impl::accept_loop(std::shared_ptr<impl> self, std::size_t index) {
  auto& acceptor = self->acceptors[index];
  while (!self->stopped) {
    auto [ec, sock] = co_await acceptor.async_accept(tuple_awaitable);
    if (self->stopped) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      // Out of descriptors or the like: wait a moment rather than spin.
      const std::string reason = ec.message();  // (clang: no lambda capture of a binding)
      self->limiter.log(*self->log, spdlog::level::err, [&](std::uint64_t) {
        return fmt::format("epmd on port {}: accept failed: {}", self->port, reason);
      });
      asio::steady_timer pause(self->ex, std::chrono::milliseconds(100));
      (void)co_await pause.async_wait(tuple_awaitable);
      continue;
    }
    auto s = std::make_shared<tcp::socket>(std::move(sock));
    std::uint64_t id = 0;
    {
      std::lock_guard lock(self->mu);
      if (self->connections.size() < self->opts.max_connections) {
        id = self->next_id++;
        self->connections.emplace(id, s);
      }
    }
    if (id == 0) {
      boost::system::error_code pec;
      const auto peer = s->remote_endpoint(pec);
      close_socket(*s);
      self->refuse(pec ? std::string("a peer") : text_of(peer),
                   fmt::format("{} connections already", self->opts.max_connections));
      continue;
    }
    asio::co_spawn(self->ex, serve(self, std::move(s), id), asio::detached);
  }
}

awaitable<void> epmd_server::impl::serve(std::shared_ptr<impl> self, std::shared_ptr<tcp::socket> s,
                                         std::uint64_t id) {
  boost::system::error_code pec;
  boost::system::error_code lec;
  const auto peer_ep = s->remote_endpoint(pec);
  const auto local_ep = s->local_endpoint(lec);
  const std::string peer = pec ? std::string("a peer") : text_of(peer_ep);
  const bool local = !pec && !lec && local_peer(peer_ep, local_ep);
  const auto timeout = self->opts.request_timeout;

  std::array<std::uint8_t, 2> header{};
  auto h = co_await tls::detail::with_timeout(
      asio::async_read(*s, asio::buffer(header), tuple_awaitable), timeout);
  std::optional<std::size_t> length;
  if (!h) {
    self->refuse(peer, "no request in time", spdlog::level::debug);
  } else if (!std::get<0>(*h)) {
    length = wire::request_length(header[0], header[1]);
    if (!length) {
      self->refuse(peer, fmt::format("invalid request length {}", (header[0] << 8U) | header[1]));
    }
  }
  if (length) {
    wire::bytes body(*length);
    auto b = co_await tls::detail::with_timeout(
        asio::async_read(*s, asio::buffer(body), tuple_awaitable), timeout);
    if (!b) {
      self->refuse(peer, "no complete request in time");
    } else if (std::get<0>(*b)) {
      self->refuse(peer, fmt::format("the connection ended within a request ({})",
                                     std::get<0>(*b).message()));
    } else if (auto p = wire::parse_request(body); p.state != wire::parse_state::complete) {
      self->refuse(peer, p.why);
    } else {
      co_await self->answer(*s, id, local, peer, std::move(p.value));
    }
  }
  close_socket(*s);
  self->forget(id);
}

awaitable<void> epmd_server::impl::answer(tcp::socket& s, std::uint64_t id, bool local,
                                          const std::string& peer, wire::request req) {
  const auto as_text = [](const wire::bytes& b) {
    return std::string(b.begin(), b.end());
  };
  switch (req.command) {
    case wire::alive2_req:
      if (!local && !opts.allow_remote_registration) {
        refuse(peer, "ALIVE2_REQ from a non-local address");
        co_return;
      }
      co_await keep_registration(s, id, std::move(req.alive2), peer);
      co_return;
    case wire::port_please2_req: {
      std::string reply;
      {
        std::lock_guard lock(mu);
        const auto* e = registry.find(req.name);
        reply = as_text(wire::encode_port2_reply(e ? &e->node : nullptr));
      }
      (void)co_await send(s, reply);
      co_return;
    }
    case wire::names_req:
    case wire::dump_req: {
      const bool dump = req.command == wire::dump_req;
      if (dump && !local) {
        refuse(peer, "DUMP_REQ from a non-local address");
        co_return;
      }
      std::string reply = as_text(wire::encode_port_header(port));
      {
        std::lock_guard lock(mu);
        for (const auto& e : registry.registered()) {
          reply += dump ? wire::dump_line(e.node.name, e.node.port, e.fd)
                        : wire::names_line(e.node.name, e.node.port);
        }
        if (dump) {
          for (const auto& e : registry.unregistered()) {
            reply += fmt::format("old/unused name <{}>, port = {}, fd = {} \n", e.node.name,
                                 e.node.port, e.fd);
            reply.push_back('\0');
          }
        }
      }
      (void)co_await send(s, reply);
      co_return;
    }
    case wire::kill_req: {
      if (!local) {
        refuse(peer, "KILL_REQ from a non-local address");
        co_return;
      }
      bool live = false;
      {
        std::lock_guard lock(mu);
        live = !registry.registered().empty();
      }
      if (live && !opts.relaxed_command_check) {
        (void)co_await send(s, "NO");
        co_return;
      }
      (void)co_await send(s, "OK");
      log->info("epmd on port {}: stopped by KILL_REQ from {}", port, peer);
      stop_now();
      co_return;
    }
    case wire::stop_req: {
      if (!local || !opts.relaxed_command_check) {
        refuse(peer, local ? "STOP_REQ without relaxed_command_check"
                           : "STOP_REQ from a non-local address");
        co_return;
      }
      std::shared_ptr<tcp::socket> owner;
      {
        std::lock_guard lock(mu);
        if (const auto* e = registry.find(req.name)) {
          const auto it = connections.find(e->owner);
          if (it != connections.end()) owner = it->second;
          (void)registry.remove_owner(e->owner);
        }
      }
      if (owner) close_socket(*owner);
      (void)co_await send(s, owner ? "STOPPED" : "NOEXIST");
      co_return;
    }
    default:
      co_return;  // parse_request let through only the commands above
  }
}

awaitable<void> epmd_server::impl::keep_registration(tcp::socket& s, std::uint64_t id,
                                                     wire::node_fields f, const std::string& peer) {
  const bool extended = f.highest_version >= 6;
  const std::string name = f.name;
  const std::uint16_t node_port = f.port;
  std::optional<std::uint32_t> creation;
  {
    std::lock_guard lock(mu);
    if (!stopped) creation = registry.add(std::move(f), id, s.native_handle());
  }
  const auto reply = wire::encode_alive2_reply(creation ? 0 : 1, creation.value_or(99), extended);
  const bool sent = co_await send(s, std::string(reply.begin(), reply.end()));
  if (!creation) {
    refuse(peer, fmt::format("ALIVE2_REQ for '{}': the name is taken or invalid", name),
           spdlog::level::info);
    co_return;
  }
  if (!sent) co_return;
  log->debug("epmd on port {}: '{}' registered at port {} (creation {})", port, name, node_port,
             *creation);
  // The name lasts as long as the connection. Anything the node sends ends it too, as in epmd.
  std::array<std::uint8_t, 64> sink{};
  (void)co_await s.async_read_some(asio::buffer(sink), tuple_awaitable);
}

epmd_server::epmd_server(std::shared_ptr<impl> i) noexcept : impl_(std::move(i)) {}
epmd_server::epmd_server(epmd_server&&) noexcept = default;
epmd_server& epmd_server::operator=(epmd_server&& other) noexcept {
  if (this != &other) {
    stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
epmd_server::~epmd_server() {
  stop();
}

std::uint16_t epmd_server::port() const noexcept {
  return impl_ ? impl_->port : 0;
}
bool epmd_server::running() const noexcept {
  return impl_ && !impl_->stopped;
}
void epmd_server::stop() noexcept {
  if (impl_) impl_->stop_now();
}

std::vector<epmd_name> epmd_server::names() const {
  std::vector<epmd_name> out;
  if (!impl_) return out;
  std::lock_guard lock(impl_->mu);
  for (const auto& e : impl_->registry.registered()) {
    out.push_back(epmd_name{e.node.name, e.node.port});
  }
  return out;
}

epmd_result<epmd_server> epmd_server::start(asio::any_io_executor ex, epmd_server_options options) {
  std::uint16_t port = 0;
  try {
    port = options.port ? *options.port : epmd_port();
  } catch (const config_error& e) {
    return epmd_error{e.code(), "localhost", 0, e.what()};
  }
  const bool loopback = options.loopback_only;
  auto self = std::make_shared<impl>(ex, std::move(options));
  const std::array<asio::ip::address, 2> addresses = {
      loopback ? asio::ip::address(asio::ip::address_v4::loopback())
               : asio::ip::address(asio::ip::address_v4::any()),
      loopback ? asio::ip::address(asio::ip::address_v6::loopback())
               : asio::ip::address(asio::ip::address_v6::any())};
  for (const auto& address : addresses) {
    const bool v6 = address.is_v6();
    const tcp::endpoint endpoint(address, port);
    tcp::acceptor a(ex);
    boost::system::error_code ec;
    a.open(endpoint.protocol(), ec);
    if (!ec && v6) a.set_option(asio::ip::v6_only(true), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      // IPv4 must work; IPv6 may be missing on this host (epmd also goes on without it).
      if (v6 && ec != asio::error::address_in_use) {
        self->log->info("epmd on port {}: not listening on {}: {}", port, text_of(endpoint),
                        ec.message());
        continue;
      }
      std::error_code code(ec.value(), std::system_category());
      if (ec == asio::error::address_in_use) code = std::make_error_code(std::errc::address_in_use);
      for (auto& bound : self->acceptors) bound.close(ec);
      return epmd_error{code, address.to_string(), port, "cannot listen"};
    }
    if (port == 0) port = a.local_endpoint().port();
    self->acceptors.push_back(std::move(a));
  }
  self->port = port;
  for (std::size_t i = 0; i < self->acceptors.size(); ++i) {
    asio::co_spawn(ex, impl::accept_loop(self, i), asio::detached);
  }
  self->log->debug("epmd on port {}: listening", port);
  return epmd_server(std::move(self));
}

awaitable<epmd_result<std::optional<epmd_server>>> start_if_none(asio::any_io_executor ex,
                                                                 epmd_server_options options) {
  if (options.port && *options.port == 0) {
    auto started = epmd_server::start(ex, std::move(options));
    if (!started) co_return started.error();
    co_return std::optional<epmd_server>(std::move(*started));
  }
  query_options probe_options;
  try {
    probe_options.epmd_port = options.port ? *options.port : epmd_port();
  } catch (const config_error& e) {
    co_return epmd_error{e.code(), "localhost", 0, e.what()};
  }
  // Twice: another process may start an EPMD between our probe and our bind.
  for (int attempt = 0;; ++attempt) {
    auto probe = co_await names(ex, "127.0.0.1", probe_options);
    if (probe) co_return std::optional<epmd_server>();  // one answers: use it
    auto e = probe.error();
    if (e.code == epmd_errc::malformed_reply || e.code == epmd_errc::no_reply) {
      e.detail = e.code.message() + (e.detail.empty() ? "" : ": " + e.detail);
      e.code = epmd_errc::not_epmd;
    }
    if (e.code != epmd_errc::not_running) co_return e;
    auto started = epmd_server::start(ex, options);
    if (started) co_return std::optional<epmd_server>(std::move(*started));
    if (started.error().code != std::errc::address_in_use || attempt > 0) {
      co_return started.error();
    }
  }
}

}  // namespace moat::dist
