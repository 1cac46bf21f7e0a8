#include "server/registry.hpp"

#include <string_view>

namespace moat::server {

void connection_registry::add(const state_ptr& st) {
  connection_summary s;
  s.id = st->id;
  s.peer = st->peer;
  s.state = "handshake";
  std::lock_guard lock(mu_);
  conns_[st->id] = entry{st, std::move(s)};
}

void connection_registry::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  conns_.erase(id);
}

void connection_registry::set_phase(const detail::connection_state& st, const char* phase) {
  std::optional<tls::connection_info> ci;
  if (st.sock && std::string_view(phase) == "established") {
    if (auto r = st.sock->connection_information()) ci = *r;
  }
  std::lock_guard lock(mu_);
  auto it = conns_.find(st.id);
  if (it == conns_.end()) return;
  auto& s = it->second.summary;
  s.state = phase;
  s.peer = st.peer;  // a PROXY header may have changed it
  if (ci) {
    s.tls_version = std::string(tls::to_string(ci->protocol));
    s.cipher = ci->cipher_suite;
    s.sni = ci->sni;
  }
}

std::vector<connection_summary> connection_registry::list() const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  std::vector<connection_summary> r;
  r.reserve(conns_.size());
  for (const auto& [id, e] : conns_) {
    auto s = e.summary;
    s.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - e.st->started);
    r.push_back(std::move(s));
  }
  return r;
}

std::vector<connection_registry::state_ptr> connection_registry::all() const {
  std::lock_guard lock(mu_);
  std::vector<state_ptr> r;
  r.reserve(conns_.size());
  for (const auto& [id, e] : conns_) r.push_back(e.st);
  return r;
}

std::size_t connection_registry::size() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

}  // namespace moat::server
