// Processes on the node's workers: mailboxes, exit signals, links and monitors, and the
// routing of every send (local pid, registered name, alias, or a peer's connection). A
// process's state is touched only on its worker; other threads post to it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include "dist/connection.hpp"
#include "dist/node_impl.hpp"

namespace moat::dist {
namespace asio = boost::asio;
using detail::outgoing;
using detail::proc_ptr;

namespace {

asio::awaitable<void> run_body(proc_ptr st, process_body body) {
  co_await body(*st->handle);
}

// Runs `f` on the worker owning `number`: at once when already there (the order between two
// processes of one worker is kept either way), posted otherwise.
template <class F>
void on_worker(detail::worker& w, F&& f) {
  if (w.io.get_executor().running_in_this_thread())
    f();
  else
    asio::post(w.io, std::forward<F>(f));
}

term exit_message(const pid& from, term reason) {
  return dist::make_tuple(atom("EXIT"), from, std::move(reason));
}

}  // namespace

// ---- spawning and ending -----------------------------------------------------------------

pid node::impl::spawn(process_body body, const std::string& registered_name) {
  auto& w = pick_worker();
  auto st = std::make_shared<process::state>();
  st->owner = this;
  st->w = &w;
  st->self = make_pid(w);
  st->number = *local_number(st->self);
  st->handle = std::make_unique<process>(*st);
  const pid self = st->self;
  if (!registered_name.empty()) {
    if (!register_name(registered_name, self)) return pid{};
    st->names.push_back(registered_name);
  }
  auto start = [this, st, body = std::move(body)]() mutable {
    auto& wk = *st->w;
    if (stopping.load()) {
      unregister_names(st->names);
      return;
    }
    wk.procs.emplace(st->number, st);
    st->timer.emplace(wk.io);
    asio::co_spawn(
        wk.io, run_body(st, std::move(body)),
        asio::bind_cancellation_slot(st->cancel.slot(), [this, st](std::exception_ptr e) {
          term reason = atom("normal");
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const process_exit& x) {
              reason = x.reason();
            } catch (const std::exception& x) {
              reason = dist::make_tuple(atom("exception"), binary(x.what()));
            } catch (...) {
              reason = dist::make_tuple(atom("exception"), binary("unknown"));
            }
          }
          if (st->kill_reason) reason = *st->kill_reason;
          process_ended(st, std::move(reason));
        }));
  };
  // On the process's own worker it exists at once, so a message sent to the new pid right
  // after this call finds it; from another thread, anything sent later is posted after it.
  if (w.io.get_executor().running_in_this_thread())
    start();
  else
    asio::post(w.io, std::move(start));
  return self;
}

void node::impl::process_ended(const proc_ptr& st, term reason) {
  auto& w = *st->w;
  st->dead = true;
  if (st->timer) st->timer->cancel();
  w.procs.erase(st->number);
  for (auto a : st->aliases) w.aliases.erase(a);
  unregister_names(st->names);
  for (const auto& link : st->links) {
    const pid& l = link.other;
    if (l.node == self_atom) {
      exit_signal(l, st->self, reason, true);
    } else if (auto c = route_to(l.node)) {
      outgoing m;
      m.what = outgoing::kind::exit;
      m.from = st->self;
      m.to = l;
      m.payload = reason;
      c->post_send(std::move(m));
    }
  }
  for (auto& m : st->monitors_in) {
    if (m.watcher.node == self_atom) {
      monitor_down(m.watcher, m.ref, reason);
    } else if (auto c = route_to(m.watcher.node)) {
      outgoing o;
      o.what = outgoing::kind::monitor_exit;
      o.from = m.target_form;
      o.to = m.watcher;
      o.extra = m.ref;
      o.payload = reason;
      c->post_send(std::move(o));
    }
  }
  for (auto& m : st->monitors_out) drop_monitor_out(*st, m);
  st->links.clear();
  st->monitors_in.clear();
  st->monitors_out.clear();
  st->mailbox.clear();
  st->waiters.notify_all();
}

void node::impl::drop_monitor_out(process::state& st, const detail::monitor_out& m) {
  if (m.node == full_name) {
    if (m.target_pid.id != 0 || m.target_pid.serial != 0) remove_monitor_in(m.target_pid, m.ref);
  } else if (auto c = route_to(atom(m.node))) {
    outgoing o;
    o.what = outgoing::kind::demonitor;
    o.from = st.self;
    o.to = m.target_pid.node == atom() ? term(atom(m.remote_name)) : term(m.target_pid);
    o.extra = m.ref;
    c->post_send(std::move(o));
  }
}

void node::impl::kill(process::state& st, term reason) {
  if (st.dead || st.kill_reason) return;
  st.kill_reason = std::move(reason);
  st.waiters.notify_all();
  st.cancel.emit(asio::cancellation_type::terminal);
}

void node::impl::push_message(process::state& st, term message) {
  if (st.dead || st.kill_reason) return;
  if (st.mailbox.size() >= opts.mailbox_limit) {
    if (opts.overflow == mailbox_overflow::kill) {
      log->warn("dist: process {} killed: its mailbox holds {} messages (mailbox_limit)",
                format_term(st.self), st.mailbox.size());
      kill(st, dist::make_tuple(atom("mailbox_overflow"), opts.mailbox_limit));
      return;
    }
    drops.fetch_add(1, std::memory_order_relaxed);
    drop_log.log(*log, spdlog::level::warn, [&](std::uint64_t suppressed) {
      return fmt::format("dist: message to {} dropped: its mailbox is full ({} messages){}",
                         format_term(st.self), st.mailbox.size(),
                         suppressed ? fmt::format(" ({} more not logged)", suppressed) : "");
    });
    return;
  }
  st.mailbox.push_back(std::move(message));
  if (!st.waiters.empty()) st.waiters.notify_one();
}

// ---- delivery ----------------------------------------------------------------------------

void node::impl::deliver(const pid& to, term message) {
  const auto number = local_number(to);
  if (!number) return;  // another incarnation's pid: dropped, as Erlang does
  auto& w = worker_of(*number);
  on_worker(w, [this, &w, n = *number, m = std::move(message)]() mutable {
    auto it = w.procs.find(n);
    if (it != w.procs.end()) push_message(*it->second, std::move(m));
  });
}

void node::impl::deliver_alias(const reference& alias, term message) {
  const auto key = local_alias(alias);
  if (!key) return;
  auto& w = *workers[key->first];
  on_worker(w, [this, &w, k = key->second, m = std::move(message)]() mutable {
    auto it = w.aliases.find(k);
    if (it == w.aliases.end()) return;
    if (auto st = it->second.lock()) push_message(*st, std::move(m));
  });
}

template <class F>
void node::impl::with_process(const pid& p, F&& f, std::function<void()> missing) {
  const auto number = local_number(p);
  if (!number) {
    if (missing) missing();
    return;
  }
  auto& w = worker_of(*number);
  on_worker(w, [&w, n = *number, f = std::forward<F>(f), missing = std::move(missing)]() mutable {
    auto it = w.procs.find(n);
    if (it == w.procs.end() || it->second->dead) {
      if (missing) missing();
      return;
    }
    f(*it->second);
  });
}

void node::impl::exit_signal(const pid& to, const pid& from, term reason, bool link) {
  with_process(to,
               [this, from, reason = std::move(reason), link](process::state& st) mutable {
                 if (link) {
                   auto it = detail::find_link(st.links, from);
                   if (it == st.links.end()) return;  // unlinked meanwhile: the signal is void
                   st.links.erase(it);
                 }
                 if (!link && reason.is_atom("kill")) return kill(st, atom("killed"));
                 if (st.trap_exit) return push_message(st, exit_message(from, std::move(reason)));
                 if (reason.is_atom("normal")) return;
                 kill(st, std::move(reason));
               },
               {});
}

void node::impl::add_link(const pid& local, const pid& other, std::uint64_t via) {
  with_process(
      local,
      [other, via](process::state& st) {
        // Linked again over a newer connection: that one carries the link now.
        auto it = detail::find_link(st.links, other);
        if (it == st.links.end())
          st.links.push_back(detail::link{other, via});
        else
          it->via = via;
      },
      [this, local, other] { link_refused(local, other); });
}

void node::impl::link_refused(const pid& local, const pid& other) {
  // The process to link to does not exist: the linker gets `noproc` as an exit signal.
  if (other.node == self_atom) {
    exit_signal(other, local, atom("noproc"), true);
  } else if (auto c = route_to(other.node)) {
    outgoing m;
    m.what = outgoing::kind::exit;
    m.from = local;
    m.to = other;
    m.payload = atom("noproc");
    c->post_send(std::move(m));
  }
}

void node::impl::remove_link(const pid& local, const pid& other) {
  with_process(local,
               [other](process::state& st) {
                 auto it = detail::find_link(st.links, other);
                 if (it != st.links.end()) st.links.erase(it);
               },
               {});
}

void node::impl::add_monitor_in(const pid& target, detail::monitor_in m, bool) {
  const pid watcher = m.watcher;
  const reference ref = m.ref;
  term form = m.target_form;
  with_process(
      target,
      [m = std::move(m)](process::state& st) mutable { st.monitors_in.push_back(std::move(m)); },
      [this, watcher, ref, form] {
        if (watcher.node == self_atom) {
          monitor_down(watcher, ref, atom("noproc"));
        } else if (auto c = route_to(watcher.node)) {
          outgoing o;
          o.what = outgoing::kind::monitor_exit;
          o.from = form;
          o.to = watcher;
          o.extra = ref;
          o.payload = atom("noproc");
          c->post_send(std::move(o));
        }
      });
}

void node::impl::remove_monitor_in(const pid& target, const reference& ref) {
  with_process(target,
               [ref](process::state& st) {
                 std::erase_if(st.monitors_in,
                               [&](const detail::monitor_in& m) { return m.ref == ref; });
               },
               {});
}

void node::impl::monitor_down(const pid& watcher, const reference& ref, term reason) {
  with_process(watcher,
               [this, ref, reason = std::move(reason)](process::state& st) mutable {
                 auto it = std::find_if(st.monitors_out.begin(), st.monitors_out.end(),
                                        [&](const detail::monitor_out& m) { return m.ref == ref; });
                 if (it == st.monitors_out.end()) return;
                 term form = std::move(it->target_form);
                 st.monitors_out.erase(it);
                 push_message(st, dist::make_tuple(atom("DOWN"), ref, atom("process"),
                                                   std::move(form), std::move(reason)));
               },
               {});
}

void node::impl::node_down(const std::string& peer, std::vector<std::uint64_t> via) {
  const atom peer_atom(peer);
  auto shared_via = std::make_shared<const std::vector<std::uint64_t>>(std::move(via));
  for (auto& wp : workers) {
    auto& w = *wp;
    asio::post(w.io, [this, &w, peer, peer_atom, shared_via] {
      // Only what these connections carried: a link or monitor made over a newer connection
      // (the process ran before this sweep did) stays.
      auto carried = [&](std::uint64_t id) {
        return std::find(shared_via->begin(), shared_via->end(), id) != shared_via->end();
      };
      std::vector<proc_ptr> procs;
      procs.reserve(w.procs.size());
      for (auto& [n, st] : w.procs) procs.push_back(st);
      for (auto& st : procs) {
        std::vector<pid> broken;
        std::erase_if(st->links, [&](const detail::link& l) {
          if (l.other.node != peer_atom || !carried(l.via)) return false;
          broken.push_back(l.other);
          return true;
        });
        std::vector<detail::monitor_out> downs;
        std::erase_if(st->monitors_out, [&](detail::monitor_out& m) {
          if (m.node != peer || !carried(m.via)) return false;
          downs.push_back(std::move(m));
          return true;
        });
        std::erase_if(st->monitors_in, [&](const detail::monitor_in& m) {
          return m.watcher.node == peer_atom && carried(m.via);
        });
        for (auto& m : downs)
          push_message(*st, dist::make_tuple(atom("DOWN"), m.ref, atom("process"),
                                             std::move(m.target_form), atom("noconnection")));
        for (auto& l : broken) {
          if (st->trap_exit)
            push_message(*st, exit_message(l, atom("noconnection")));
          else
            kill(*st, atom("noconnection"));
        }
      }
    });
  }
}

// ---- sending -----------------------------------------------------------------------------

bool node::impl::send(const pid* from, const destination& to, term message) {
  const auto& v = to.value();
  if (const pid* p = std::get_if<pid>(&v)) {
    if (p->node == self_atom) {
      deliver(*p, std::move(message));
      return true;
    }
    auto c = connection_to(p->node);
    if (!c) return false;
    outgoing m;
    m.what = outgoing::kind::send;
    if (from != nullptr) m.from = *from;
    m.to = *p;
    m.payload = std::move(message);
    c->post_send(std::move(m));
    return true;
  }
  if (const std::string* name = std::get_if<std::string>(&v)) {
    auto p = whereis(*name);
    if (!p) return false;
    deliver(*p, std::move(message));
    return true;
  }
  const auto& r = std::get<destination::remote>(v);
  if (r.node == full_name) return send(from, destination(r.name), std::move(message));
  auto c = connection_to(r.node);
  if (!c) return false;
  outgoing m;
  m.what = outgoing::kind::reg_send;
  m.from = from != nullptr ? *from : system_pid;
  m.extra = atom(r.name);
  m.payload = std::move(message);
  c->post_send(std::move(m));
  return true;
}

std::optional<pid> node::impl::whereis(const std::string& name) const {
  auto* w = own_worker();
  if (w != nullptr) {
    const auto generation = names_generation.load(std::memory_order_acquire);
    if (w->name_generation != generation) {
      w->name_cache.clear();
      w->name_generation = generation;
    }
    auto it = w->name_cache.find(name);
    if (it != w->name_cache.end()) return it->second;
  }
  std::optional<pid> found;
  {
    std::shared_lock lock(names_mu);
    auto it = names.find(name);
    if (it == names.end()) return std::nullopt;
    found = it->second;
  }
  if (w != nullptr) w->name_cache.emplace(name, *found);
  return found;
}

bool node::impl::register_name(const std::string& name, const pid& p) {
  std::unique_lock lock(names_mu);
  if (!names.emplace(name, p).second) return false;
  names_generation.fetch_add(1, std::memory_order_release);
  return true;
}

void node::impl::unregister_names(const std::vector<std::string>& names_of) {
  if (names_of.empty()) return;
  std::unique_lock lock(names_mu);
  for (const auto& n : names_of) names.erase(n);
  names_generation.fetch_add(1, std::memory_order_release);
}

}  // namespace moat::dist
