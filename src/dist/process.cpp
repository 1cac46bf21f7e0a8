// The members of `process`: what a process's coroutine calls. Each runs on the process's
// worker (the coroutine's executor).
#include "moat/dist/process.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "dist/connection.hpp"
#include "dist/node_impl.hpp"

namespace moat::dist {
namespace asio = boost::asio;
using detail::outgoing;

process_exit::process_exit(term reason)
    : std::runtime_error("process exit: " + format_term(reason)), reason_(std::move(reason)) {}

term destination::as_term() const {
  if (const pid* p = std::get_if<pid>(&v_)) return *p;
  if (const std::string* n = std::get_if<std::string>(&v_)) return atom(*n);
  const auto& r = std::get<remote>(v_);
  return dist::make_tuple(atom(r.name), atom(r.node));
}

const pid& process::self() const noexcept {
  return s_->self;
}
node& process::node() const noexcept {
  return *s_->owner->public_node;
}

namespace {

// Waits for the next message or the timer of this receive (generation `gen`); returns false
// on timeout.
asio::awaitable<bool> wait_message(process::state& s, std::chrono::milliseconds timeout) {
  const auto gen = ++s.receive_generation;
  s.timed_out = false;
  if (timeout.count() >= 0) {
    s.timer->expires_after(timeout);
    s.timer->async_wait([&s, gen](boost::system::error_code ec) {
      if (ec || s.receive_generation != gen || s.dead) return;
      s.timed_out = true;
      s.waiters.notify_all();
    });
  }
  boost::system::error_code ec;
  co_await tls::detail::async_wait_in(s.waiters, s.w->io.get_executor(),
                                      asio::redirect_error(asio::use_awaitable, ec));
  if (timeout.count() >= 0) s.timer->cancel();
  co_return !s.timed_out;
}

}  // namespace

asio::awaitable<term> process::receive() {
  // The common case on its own: the oldest message, no match, no clock.
  auto& s = *s_;
  for (;;) {
    if (s.kill_reason) throw process_exit(*s.kill_reason);
    if (!s.mailbox.empty()) {
      term t = std::move(s.mailbox.front());
      s.mailbox.pop_front();
      co_return t;
    }
    (void)co_await wait_message(s, std::chrono::milliseconds(-1));
  }
}

asio::awaitable<std::optional<term>> process::receive(std::chrono::milliseconds timeout) {
  co_return co_await receive_if({}, timeout);
}

asio::awaitable<std::optional<term>> process::receive_if(std::function<bool(const term&)> match,
                                                         std::chrono::milliseconds timeout) {
  auto& s = *s_;
  const auto deadline = timeout.count() >= 0 ? std::chrono::steady_clock::now() + timeout
                                             : std::chrono::steady_clock::time_point::max();
  std::size_t scanned = 0;
  for (;;) {
    if (s.kill_reason) throw process_exit(*s.kill_reason);
    for (; scanned < s.mailbox.size(); ++scanned) {
      if (!match || match(s.mailbox[scanned])) {
        term t = std::move(s.mailbox[scanned]);
        s.mailbox.erase(s.mailbox.begin() + static_cast<std::ptrdiff_t>(scanned));
        co_return t;
      }
    }
    std::chrono::milliseconds left = timeout;
    if (timeout.count() >= 0) {
      left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) co_return std::nullopt;
    }
    const bool got = co_await wait_message(s, left);
    if (s.kill_reason) throw process_exit(*s.kill_reason);
    if (!got && timeout.count() >= 0 && std::chrono::steady_clock::now() >= deadline &&
        scanned >= s.mailbox.size())
      co_return std::nullopt;
  }
}

bool process::send(const destination& to, term message) {
  return s_->owner->send(&s_->self, to, std::move(message));
}

bool process::register_name(std::string name) {
  if (!s_->owner->register_name(name, s_->self)) return false;
  s_->names.push_back(std::move(name));
  return true;
}

void process::link(const pid& other) {
  auto& s = *s_;
  auto& n = *s.owner;
  if (other == s.self) return;
  auto it = detail::find_link(s.links, other);
  if (it == s.links.end()) it = s.links.insert(s.links.end(), detail::link{other, 0});
  if (other.node == n.self_atom) {
    n.add_link(other, s.self, 0);
    return;
  }
  auto c = n.connection_to(other.node);
  if (!c) {
    n.exit_signal(s.self, other, atom("noconnection"), true);
    return;
  }
  it->via = c->id();
  outgoing m;
  m.what = outgoing::kind::link;
  m.from = s.self;
  m.to = other;
  c->post_send(std::move(m));
}

void process::unlink(const pid& other) {
  auto& s = *s_;
  auto& n = *s.owner;
  auto it = detail::find_link(s.links, other);
  if (it == s.links.end()) return;
  s.links.erase(it);
  if (other.node == n.self_atom) {
    n.remove_link(other, s.self);
  } else if (auto c = n.route_to(other.node)) {
    outgoing m;
    m.what = outgoing::kind::unlink_id;
    m.id = s.next_unlink_id++;
    m.from = s.self;
    m.to = other;
    c->post_send(std::move(m));
  }
}

reference process::make_ref() {
  return s_->owner->make_ref(*s_->w);
}

reference process::monitor(const destination& target) {
  auto& s = *s_;
  auto& n = *s.owner;
  reference ref = make_ref();
  detail::monitor_out m{ref, {}, target.as_term(), n.full_name, {}};
  const auto& v = target.value();
  auto down_now = [&](const char* reason) {
    s.monitors_out.push_back(m);
    n.monitor_down(s.self, ref, atom(reason));
  };
  if (const pid* p = std::get_if<pid>(&v)) {
    m.target_pid = *p;
    m.node = p->node.name();
  } else if (const std::string* name = std::get_if<std::string>(&v)) {
    m.target_form = dist::make_tuple(atom(*name), n.self_atom);
    auto p2 = n.whereis(*name);
    if (!p2) {
      down_now("noproc");
      return ref;
    }
    m.target_pid = *p2;
  } else {
    const auto& r = std::get<destination::remote>(v);
    m.node = r.node;
    m.remote_name = r.name;
    if (r.node == n.full_name) return monitor(destination(r.name));
  }
  if (m.node == n.full_name) {
    s.monitors_out.push_back(m);
    n.add_monitor_in(m.target_pid, detail::monitor_in{ref, s.self, m.target_form}, false);
    return ref;
  }
  auto c = n.connection_to(m.node);
  if (!c) {
    down_now("noconnection");
    return ref;
  }
  outgoing o;
  o.what = outgoing::kind::monitor;
  o.from = s.self;
  o.to = m.remote_name.empty() ? term(m.target_pid) : term(atom(m.remote_name));
  o.extra = ref;
  m.via = c->id();
  s.monitors_out.push_back(std::move(m));
  c->post_send(std::move(o));
  return ref;
}

void process::demonitor(const reference& ref) {
  auto& s = *s_;
  auto it = std::find_if(s.monitors_out.begin(), s.monitors_out.end(),
                         [&](const detail::monitor_out& m) { return m.ref == ref; });
  if (it == s.monitors_out.end()) return;
  const detail::monitor_out m = std::move(*it);
  s.monitors_out.erase(it);
  s.owner->drop_monitor_out(s, m);
  // A DOWN already in the mailbox goes too (demonitor(Ref, [flush])).
  std::erase_if(s.mailbox, [&](const term& t) {
    const tuple* d = t.as_tuple();
    return d != nullptr && d->size() == 5 && (*d)[0].is_atom("DOWN") && (*d)[1] == term(ref);
  });
}

void process::exit(const pid& to, term reason) {
  auto& s = *s_;
  auto& n = *s.owner;
  if (to.node == n.self_atom) {
    n.exit_signal(to, s.self, std::move(reason), false);
    return;
  }
  auto c = n.connection_to(to.node);
  if (!c) return;
  outgoing m;
  m.what = outgoing::kind::exit2;
  m.from = s.self;
  m.to = to;
  m.payload = std::move(reason);
  c->post_send(std::move(m));
}

void process::trap_exit(bool on) {
  s_->trap_exit = on;
}

// ---- gen_server ---------------------------------------------------------------------------

std::optional<call_request> process::as_call(const term& message) {
  const tuple* t = message.as_tuple();
  if (t == nullptr || t->size() != 3 || !(*t)[0].is_atom("$gen_call")) return std::nullopt;
  const tuple* from = (*t)[1].as_tuple();
  if (from == nullptr || from->size() != 2 || !(*from)[0].is_pid()) return std::nullopt;
  return call_request{(*t)[1], (*t)[2]};
}

void process::reply(const term& from, term reply) {
  const tuple* f = from.as_tuple();
  if (f == nullptr || f->size() != 2) return;
  const pid* to = (*f)[0].as_pid();
  const term& tag = (*f)[1];
  if (to == nullptr) return;
  term message = dist::make_tuple(tag, std::move(reply));
  // OTP 24+: a tag [alias | Ref] asks for the reply to go to the alias.
  const list* l = tag.as_list();
  if (l != nullptr && l->size() == 1 && (*l)[0].is_atom("alias") && l->tail() != nullptr &&
      l->tail()->is_reference()) {
    const reference& alias = *l->tail()->as_reference();
    auto& n = *s_->owner;
    if (alias.node() == n.self_atom) {
      n.deliver_alias(alias, std::move(message));
      return;
    }
    if (auto c = n.connection_to(alias.node())) {
      outgoing m;
      m.what = outgoing::kind::alias_send;
      m.from = s_->self;
      m.extra = alias;
      m.payload = std::move(message);
      c->post_send(std::move(m));
    }
    return;
  }
  (void)send(*to, std::move(message));
}

asio::awaitable<call_result> process::call(const destination& to, term request,
                                           std::chrono::milliseconds timeout) {
  auto& s = *s_;
  auto& n = *s.owner;
  const reference ref = monitor(to);
  // The reply comes to an alias made of the monitor's reference, as gen:call does since
  // OTP 24; the alias dies with the call.
  const auto key = n.local_alias(ref);
  s.w->aliases[key->second] = s.w->procs.at(s.number);
  s.aliases.push_back(key->second);
  const term tag = list::improper({atom("alias")}, ref);
  (void)send(
      to, dist::make_tuple(atom("$gen_call"), dist::make_tuple(s.self, tag), std::move(request)));
  const term ref_term = ref;
  auto reply = co_await receive_if(
      [&](const term& m) {
        const tuple* t = m.as_tuple();
        if (t == nullptr) return false;
        if (t->size() == 2 && (*t)[0] == tag) return true;
        return t->size() == 5 && (*t)[0].is_atom("DOWN") && (*t)[1] == ref_term;
      },
      timeout);
  s.w->aliases.erase(key->second);
  std::erase(s.aliases, key->second);
  if (!reply) {
    demonitor(ref);
    co_return call_result(boost::system::in_place_error, call_error{atom("timeout")});
  }
  const tuple& t = *reply->as_tuple();
  if (t.size() == 2) {
    demonitor(ref);
    co_return call_result(boost::system::in_place_value, t[1]);
  }
  co_return call_result(boost::system::in_place_error, call_error{t[4]});
}

void process::cast(const destination& to, term request) {
  (void)send(to, dist::make_tuple(atom("$gen_cast"), std::move(request)));
}

asio::awaitable<call_result> process::rpc(const std::string& node_name, std::string_view module,
                                          std::string_view function, list args,
                                          std::chrono::milliseconds timeout) {
  // rex's {call, M, F, A, GroupLeader}; output of the call goes to this node's io server.
  auto r = co_await call(destination("rex", node_name),
                         dist::make_tuple(atom("call"), atom(module), atom(function),
                                          std::move(args), s_->owner->system_pid),
                         timeout);
  co_return r;
}

}  // namespace moat::dist
