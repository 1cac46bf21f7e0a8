// A node's life: options checked, workers started, listening on every worker (SO_REUSEPORT),
// registered with EPMD (an embedded one started when none runs), the built-in processes
// (net_kernel, rex, the io server), connections dialled on demand, and the stop.
#include "moat/dist/node.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>

#include "dist/connection.hpp"
#include "dist/node_impl.hpp"
#include "moat/dist/errors.hpp"
#include "moat/error.hpp"
#include "moat/log.hpp"
#include "moat/pki/digest.hpp"

namespace moat::dist {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string read_cookie_file() {
  const char* home = std::getenv("HOME");
  const std::string path = std::string(home != nullptr ? home : "") + "/.erlang.cookie";
  std::ifstream in(path);
  if (!in) {
    // As erl does: a new random cookie of 20 capital letters, readable by the owner only.
    std::string cookie;
    for (auto b : pki::random_bytes(20)) cookie += static_cast<char>('A' + b % 26);
    std::ofstream out(path, std::ios::trunc);
    if (!out)
      throw config_error("cookie", std::make_error_code(std::errc::no_such_file_or_directory),
                         "no cookie given and '" + path + "' cannot be created");
    out << cookie;
    out.close();
    ::chmod(path.c_str(), 0400);
    return cookie;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string cookie = ss.str();
  while (!cookie.empty() &&
         (cookie.back() == '\n' || cookie.back() == '\r' || cookie.back() == ' '))
    cookie.pop_back();
  return cookie;
}

// A node needs a certificate on both sides of a connection (the peer checks its name): the
// client side takes the server side's certificate, key and CAs when it has none of its own,
// and the other way round.
void complete_tls(node_options& o) {
  auto fill = [](tls::options& to, const tls::options& from) {
    if (to.certfile.empty() && to.cert.empty()) {
      to.certfile = from.certfile;
      to.cert = from.cert;
    }
    if (to.keyfile.empty() && !to.key) {
      to.keyfile = from.keyfile;
      to.key = from.key;
      to.password = from.password;
    }
    if (to.cacertfile.empty() && to.cacerts.empty()) {
      to.cacertfile = from.cacertfile;
      to.cacerts = from.cacerts;
    }
  };
  fill(o.client, o.server);
  fill(o.server, o.client);
  if (!o.insecure_skip_identity_check) {
    o.server.verify = tls::verify_mode::peer;
    o.server.fail_if_no_peer_cert = true;
    o.client.verify = tls::verify_mode::peer;
  }
  if (!o.server.logger) o.server.logger = o.logger;
  if (!o.client.logger) o.client.logger = o.logger;
}

template <class T>
T run_on(detail::worker& w, asio::awaitable<T> a) {
  auto f = asio::co_spawn(w.io, std::move(a), asio::use_future);
  return f.get();
}

}  // namespace

node::impl::impl(node_options o) : opts(std::move(o)) {
  log = opts.logger ? opts.logger : default_logger();
  self_name = make_local_name(opts.name, opts.mode, "name");
  full_name = self_name.full();
  self_atom = atom(full_name);
  cookie = opts.cookie.empty() ? read_cookie_file() : opts.cookie;
  if (cookie.empty() || cookie.size() > 255)
    throw config_error("cookie", std::make_error_code(std::errc::invalid_argument),
                       "a cookie is 1 to 255 characters");
  if (opts.net_ticktime.count() < 1)
    throw config_error("net_ticktime", std::make_error_code(std::errc::invalid_argument),
                       "at least 1 second");
  if (opts.mailbox_limit == 0)
    throw config_error("mailbox_limit", std::make_error_code(std::errc::invalid_argument),
                       "at least 1");
  if (opts.proto == transport::tls) {
    complete_tls(opts);
    server_ctx.emplace(tls::role::server, opts.server);
    client_ctx.emplace(tls::role::client, opts.client);
    if (!opts.insecure_skip_identity_check && server_ctx->summary().certificate_subject.empty())
      throw config_error("server certfile", std::make_error_code(std::errc::invalid_argument),
                         "a TLS node needs a certificate and key naming its host");
  }
}

detail::worker& node::impl::pick_worker() {
  return *workers[next_worker.fetch_add(1, std::memory_order_relaxed) % workers.size()];
}

pid node::impl::make_pid(detail::worker& w) {
  // Numbers are counter * workers + worker: the worker of a pid is its number modulo the
  // worker count. id holds the low 28 bits (as Erlang's pids), serial the rest.
  const std::uint64_t number =
      (w.next_pid.fetch_add(1, std::memory_order_relaxed) + 1) * workers.size() + w.index;
  return pid{self_atom, static_cast<std::uint32_t>(number & 0x0FFFFFFFU),
             static_cast<std::uint32_t>(number >> 28U), creation};
}

std::optional<std::uint64_t> node::impl::local_number(const pid& p) const {
  if (p.creation != creation || p.node != self_atom) return std::nullopt;
  return (std::uint64_t{p.serial} << 28U) | p.id;
}

reference node::impl::make_ref(detail::worker& w) {
  const std::uint64_t n = w.next_ref.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::array<std::uint32_t, 3> ids{w.index, static_cast<std::uint32_t>(n),
                                         static_cast<std::uint32_t>(n >> 32U)};
  return reference(self_atom, creation, ids);
}

std::optional<std::pair<std::size_t, std::uint64_t>> node::impl::local_alias(
    const reference& r) const {
  const auto ids = r.ids();
  if (r.node() != self_atom || r.creation() != creation || ids.size() != 3 ||
      ids[0] >= workers.size())
    return std::nullopt;
  return std::pair<std::size_t, std::uint64_t>{ids[0], (std::uint64_t{ids[2]} << 32U) | ids[1]};
}

void node::impl::refuse_log(const std::string& peer, const std::string& endpoint,
                            std::error_code ec, const std::string& detail) {
  refusals.log(*log, spdlog::level::warn, [&](std::uint64_t suppressed) {
    return fmt::format("dist: refused a connection from {}{}: {}{}{}", endpoint,
                       peer.empty() ? "" : " claiming '" + peer + "'", ec.message(),
                       detail.empty() ? "" : " (" + detail + ")",
                       suppressed ? fmt::format(" ({} more not logged)", suppressed) : "");
  });
}

// ---- connections ---------------------------------------------------------------------------

std::shared_ptr<detail::connection> node::impl::existing_connection(const std::string& peer) const {
  std::lock_guard lock(conn_mu);
  auto it = conns.find(peer);
  return it == conns.end() ? nullptr : it->second;
}

namespace detail {
namespace {
thread_local worker* current_worker = nullptr;
}
worker* this_worker() noexcept {
  return current_worker;
}
void set_this_worker(worker* w) noexcept {
  current_worker = w;
}
}  // namespace detail

std::shared_ptr<detail::connection> node::impl::connection_to(const std::string& peer) {
  atom name;
  try {
    name = atom(peer);
  } catch (const std::system_error&) {
    return find_or_dial(peer);  // not a valid atom (or the atom table is full): uncached
  }
  return connection_to(name);
}

std::shared_ptr<detail::connection> node::impl::connection_to(const atom& peer) {
  auto* w = own_worker();
  if (w == nullptr) return find_or_dial(peer.name());
  auto it = w->conn_cache.find(peer);
  if (it != w->conn_cache.end()) {
    // A connection replaced by another keeps forwarding to it: sending through it keeps
    // this worker's messages behind those already on their way there.
    if (it->second->carries()) return it->second;
    w->conn_cache.erase(it);
  }
  auto c = find_or_dial(peer.name());
  if (c) w->conn_cache.emplace(peer, c);
  return c;
}

std::shared_ptr<detail::connection> node::impl::route_to(const atom& peer) {
  if (auto* w = own_worker()) {
    auto it = w->conn_cache.find(peer);
    if (it != w->conn_cache.end() && it->second->carries()) return it->second;
  }
  return existing_connection(peer.name());
}

bool node::impl::may_connect(const std::string& peer) const {
  if (peer == full_name || stopping.load()) return false;
  const auto name = parse_node_name(peer);
  return name && host_fits(name->host, opts.mode);
}

std::shared_ptr<detail::connection> node::impl::find_or_dial(const std::string& peer) {
  if (!may_connect(peer)) return nullptr;
  std::shared_ptr<detail::connection> c;
  {
    std::lock_guard lock(conn_mu);
    auto it = conns.find(peer);
    if (it != conns.end()) return it->second;
    c = std::make_shared<detail::connection>(*this, pick_worker(), peer, true);
    conns.emplace(peer, c);
  }
  asio::co_spawn(
      c->owner().io, [c]() { return c->dial(); }, asio::detached);
  return c;
}

bool node::impl::forget(const std::shared_ptr<detail::connection>& c) {
  std::lock_guard lock(conn_mu);
  auto it = conns.find(c->peer());
  if (it == conns.end() || it->second != c) return false;
  conns.erase(it);
  return true;
}

namespace {

asio::awaitable<void> accept_loop(node::impl& n, detail::worker& w, tcp::acceptor& a) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s(w.io);
    co_await a.async_accept(s, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || n.stopping.load()) co_return;
    if (ec) {
      // Out of descriptors or the like: say so, and wait a moment rather than spin.
      const std::string reason = ec.message();
      n.refusals.log(*n.log, spdlog::level::err, [&](std::uint64_t) {
        return fmt::format("dist: accepting a connection failed: {}", reason);
      });
      asio::steady_timer pause(w.io, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto c = std::make_shared<detail::connection>(n, w, std::string(), false);
    asio::co_spawn(
        w.io, [c, s = std::move(s)]() mutable { return c->accept(std::move(s)); }, asio::detached);
  }
}

}  // namespace

void node::impl::start_listening() {
  boost::system::error_code ec;
  asio::ip::address address;
  if (opts.listen_address.empty()) {
    address = opts.ipv6 ? asio::ip::address(asio::ip::address_v6::any())
                        : asio::ip::address(asio::ip::address_v4::any());
  } else {
    address = asio::ip::make_address(opts.listen_address, ec);
    if (ec) throw config_error("listen_address '" + opts.listen_address + "'", ec);
  }
  std::uint16_t port = opts.listen_port;
  for (auto& wp : workers) {
    auto a = std::make_unique<tcp::acceptor>(wp->io);
    const tcp::endpoint ep(address, port);
    a->open(ep.protocol(), ec);
    if (!ec) a->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      const int one = 1;
      if (::setsockopt(a->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) a->bind(ep, ec);
    if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw config_error("listen " + address.to_string() + ":" + std::to_string(port), ec);
    port = a->local_endpoint().port();
    acceptors.push_back(std::move(a));
  }
  listen_port = port;
  for (std::size_t i = 0; i < workers.size(); ++i)
    asio::co_spawn(workers[i]->io, accept_loop(*this, *workers[i], *acceptors[i]), asio::detached);
}

void node::impl::start_workers() {
  const unsigned count =
      opts.workers != 0 ? opts.workers : std::max(1U, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) {
    auto w = std::make_unique<detail::worker>();
    w->index = i;
    w->owner = this;
    workers.push_back(std::move(w));
  }
  for (auto& wp : workers) {
    auto* w = wp.get();
    w->thread = std::thread([w] {
      detail::set_this_worker(w);
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
  }
}

void node::impl::stop_workers() {
  for (auto& wp : workers) wp->io.stop();
  for (auto& wp : workers)
    if (wp->thread.joinable()) wp->thread.join();
}

// ---- the built-in processes --------------------------------------------------------------

namespace {

// The io server of the node: output of functions run for this node (rpc's group leader)
// is logged, and every io request is answered so the caller never waits.
asio::awaitable<void> io_server(process& self) {
  for (;;) {
    term m = co_await self.receive();
    const tuple* t = m.as_tuple();
    if (t == nullptr || t->size() != 4 || !(*t)[0].is_atom("io_request")) continue;
    if (const pid* from = (*t)[1].as_pid())
      (void)self.send(*from, dist::make_tuple(atom("io_reply"), (*t)[2], atom("ok")));
  }
}

// net_kernel: answers is_auth, which net_adm:ping asks.
asio::awaitable<void> net_kernel(process& self) {
  for (;;) {
    term m = co_await self.receive();
    if (auto call = process::as_call(m)) {
      const tuple* req = call->request.as_tuple();
      if (req != nullptr && req->size() == 2 && (*req)[0].is_atom("is_auth"))
        self.reply(call->from, atom("yes"));
    }
  }
}

// rex: a moat node runs no Erlang code; rpc:call answers so.
asio::awaitable<void> rex(process& self) {
  for (;;) {
    term m = co_await self.receive();
    if (auto call = process::as_call(m)) {
      self.reply(
          call->from,
          dist::make_tuple(
              atom("badrpc"),
              dist::make_tuple(atom("EXIT"),
                               dist::make_tuple(atom("undef"),
                                                binary("a moat node runs no Erlang functions")))));
    }
  }
}

}  // namespace

// ---- node ----------------------------------------------------------------------------------

node::node(node_options options) : impl_(std::make_shared<impl>(std::move(options))) {
  auto& n = *impl_;
  n.public_node = this;
  n.start_workers();
  try {
    n.start_listening();
    auto& w0 = *n.workers[0];
    if (n.opts.start_epmd) {
      epmd_server_options eo;
      eo.port = n.opts.epmd_port;
      eo.logger = n.log;
      auto started = run_on(w0, start_if_none(w0.io.get_executor(), eo));
      if (!started) throw config_error("epmd", started.error().code, started.error().message());
      if (*started) n.embedded_epmd.emplace(std::move(**started));
    }
    register_options ro;
    ro.hidden = n.opts.hidden;
    ro.epmd_port = n.opts.epmd_port;
    auto reg = run_on(w0, register_node(w0.io.get_executor(), n.self_name.name, n.listen_port, ro));
    if (!reg)
      throw config_error("name '" + n.full_name + "'", reg.error().code, reg.error().message());
    n.reg = std::move(*reg);
    n.creation = n.reg.creation();
  } catch (...) {
    n.stopping = true;
    n.stop_workers();
    throw;
  }
  n.system_pid = n.spawn(io_server);
  (void)n.spawn(net_kernel, "net_kernel");
  (void)n.spawn(rex, "rex");
  n.log->info("dist: node '{}' up on port {} (creation {}, {} workers)", n.full_name, n.listen_port,
              n.creation, n.workers.size());
}

node::~node() {
  stop();
}

void node::stop() {
  auto& n = *impl_;
  if (n.stopping.exchange(true)) return;
  for (std::size_t i = 0; i < n.acceptors.size(); ++i)
    asio::post(n.workers[i]->io, [a = n.acceptors[i].get()] {
      boost::system::error_code ec;
      a->close(ec);
    });
  std::vector<std::shared_ptr<detail::connection>> conns;
  {
    std::lock_guard lock(n.conn_mu);
    for (auto& [name, c] : n.conns) conns.push_back(c);
  }
  for (auto& c : conns) c->close(make_error_code(errc::not_allowed));
  // Every process ends with reason shutdown; wait until each worker has done it.
  std::vector<std::future<void>> done;
  for (auto& wp : n.workers) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::post(wp->io, [&n, w = wp.get(), p] {
      std::vector<detail::proc_ptr> procs;
      for (auto& [num, st] : w->procs) procs.push_back(st);
      for (auto& st : procs) n.kill(*st, atom("shutdown"));
      p->set_value();
    });
  }
  for (auto& f : done) f.wait_for(std::chrono::seconds(2));
  n.reg.close();
  if (n.embedded_epmd) {
    // On the thread that runs it: its sockets are that thread's (closing them from here
    // raced with its handlers -- a crash in the reactor).
    auto p = std::make_shared<std::promise<void>>();
    auto f = p->get_future();
    asio::post(n.workers.front()->io, [&n, p] {
      n.embedded_epmd->stop();
      p->set_value();
    });
    if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready)
      n.log->warn("dist: the embedded EPMD did not stop within 2 s (its worker is busy)");
  }
  // Let closes and exits run briefly, then stop.
  for (int i = 0; i < 100; ++i) {
    bool busy = false;
    {
      std::lock_guard lock(n.conn_mu);
      busy = !n.conns.empty();
    }
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  n.stop_workers();
}

const std::string& node::name() const noexcept {
  return impl_->full_name;
}
std::uint32_t node::creation() const noexcept {
  return impl_->creation;
}
std::uint16_t node::port() const noexcept {
  return impl_->listen_port;
}
pid node::spawn(process_body body) {
  return impl_->spawn(std::move(body));
}
std::optional<pid> node::spawn_registered(const std::string& name, process_body body) {
  if (name.empty()) return std::nullopt;
  const pid p = impl_->spawn(std::move(body), name);
  if (p.id == 0 && p.serial == 0) return std::nullopt;
  return p;
}
bool node::send(const destination& to, term message) {
  auto& n = *impl_;
  const auto& v = to.value();
  const std::string* peer = nullptr;
  if (const pid* p = std::get_if<pid>(&v); p != nullptr && p->node != n.self_atom)
    peer = &p->node.name();
  else if (const auto* r = std::get_if<destination::remote>(&v);
           r != nullptr && r->node != n.full_name)
    peer = &r->node;
  if (peer == nullptr || n.own_worker() != nullptr) return n.send(nullptr, to, std::move(message));
  // From a thread outside the node, a send to another node goes through one worker per
  // thread: the worker's route to the peer keeps this thread's messages in order, even when
  // the connection they were queued on is replaced by another (a simultaneous connect).
  if (!n.may_connect(*peer)) return false;
  static std::atomic<unsigned> next_thread{0};
  thread_local const unsigned thread_index = next_thread.fetch_add(1, std::memory_order_relaxed);
  auto& w = *n.workers[thread_index % n.workers.size()];
  // A raw pointer: the handler runs only while the node (which owns the io_context) lives; a
  // shared one would keep the node alive from its own queue (a cycle, a leak at stop).
  asio::post(w.io, [self = impl_.get(), to, m = std::move(message)]() mutable {
    (void)self->send(nullptr, to, std::move(m));
  });
  return true;
}
std::optional<pid> node::whereis(const std::string& name) const {
  return impl_->whereis(name);
}

std::vector<std::string> node::nodes() const {
  std::vector<std::string> out;
  std::lock_guard lock(impl_->conn_mu);
  for (auto& [name, c] : impl_->conns)
    if (c->current() == detail::connection::state::up) out.push_back(name);
  return out;
}

bool node::disconnect(const std::string& peer) {
  auto c = impl_->existing_connection(peer);
  if (!c) return false;
  c->close(make_error_code(errc::disconnected));
  return true;
}

node_stats node::stats() const {
  return {impl_->messages_in.load(), impl_->messages_out.load(), impl_->refused.load(),
          impl_->drops.load()};
}

bool node::ping(const std::string& peer, std::chrono::milliseconds timeout) {
  auto result = std::make_shared<std::promise<bool>>();
  auto f = result->get_future();
  const std::string self_name = impl_->full_name;
  impl_->spawn([peer, timeout, result, self_name](process& self) -> asio::awaitable<void> {
    auto r = co_await self.call(destination("net_kernel", peer),
                                dist::make_tuple(atom("is_auth"), atom(self_name)), timeout);
    result->set_value(r && r->is_atom("yes"));
  });
  if (f.wait_for(timeout + std::chrono::seconds(1)) != std::future_status::ready) return false;
  return f.get();
}

}  // namespace moat::dist
