// The admin endpoint's snapshot and its renderings (snapshot.hpp).
#include "admin/snapshot.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <moat/tls/context.hpp>

#include "admin/prometheus.hpp"

namespace moat::admin::detail {
namespace json = boost::json;
using type = prometheus_text::type;

namespace {

double seconds_since_epoch(sys_time t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string iso8601(sys_time t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

// "DNS:example.com" -> "example.com"; "IP:127.0.0.1" -> "127.0.0.1".
std::string bare_name(const std::string& san) {
  const auto colon = san.find(':');
  if (colon != std::string::npos && (san.starts_with("DNS:") || san.starts_with("IP:")))
    return san.substr(colon + 1);
  return san;
}

std::string identifiers_text(const std::vector<acme::identifier>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out += ',';
    out += id.value;
  }
  return out;
}

}  // namespace

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e) {
  const auto a = e.address();
  return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), e.port())
                   : fmt::format("{}:{}", a.to_string(), e.port());
}

snapshot take(const std::vector<const moat::server::listener*>& listeners,
              const std::vector<const acme::manager*>& managers, std::vector<event_view> events) {
  snapshot s;
  s.taken = std::chrono::system_clock::now();
  for (const auto* l : listeners) {
    listener_view v;
    v.name = l->name();
    v.endpoints = l->local_endpoints();
    v.tls = l->is_tls();
    v.stats = l->get_stats();
    v.connections = l->connections();
    if (v.tls) {
      // A certificate picked per handshake (an ACME manager's) is listed by what picks it:
      // the listener's own stands in until then (a temporary one, a week long).
      const auto sum = l->context().summary();
      if (!sum.selects_certificate &&
          (!sum.certificate_sans.empty() || !sum.certificate_subject.empty())) {
        certificate_view c{v.name, {}, sum.certificate_not_after, sum.certificate_fingerprint};
        for (const auto& san : sum.certificate_sans) c.names.push_back(bare_name(san));
        s.certificates.push_back(std::move(c));
      }
    }
    s.listeners.push_back(std::move(v));
  }
  for (const auto* m : managers) {
    manager_view v;
    v.stats = m->stats();
    v.name = identifiers_text(v.stats.identifiers);
    if (v.stats.leaf && !v.stats.temporary) {
      certificate_view c{
          "acme " + v.name, {}, v.stats.leaf->not_after(), v.stats.leaf->sha256_fingerprint()};
      for (const auto& san : v.stats.leaf->subject_alt_names()) c.names.push_back(bare_name(san));
      s.certificates.push_back(std::move(c));
    }
    s.managers.push_back(std::move(v));
  }
  auto reading = read_process_stats();
  s.process = reading.stats;
  s.process_error = std::move(reading.error);
  s.events = std::move(events);
  return s;
}

std::string render_metrics(const snapshot& s) {
  prometheus_text p;
  auto per_listener = [&](std::string_view name, type t, std::string_view help, auto value) {
    p.family(name, t, help);
    for (const auto& l : s.listeners) p.sample({{"listener", l.name}}, value(l));
  };
  per_listener("moat_listener_connections", type::gauge,
               "Connections open now (handshaking or established).",
               [](const listener_view& l) { return std::uint64_t{l.stats.active}; });
  per_listener("moat_listener_max_connections", type::gauge, "The listener's connection limit.",
               [](const listener_view& l) { return std::uint64_t{l.stats.max_connections}; });
  per_listener("moat_listener_accepting", type::gauge, "1 while the listener accepts connections.",
               [](const listener_view& l) { return std::uint64_t{l.stats.accepting ? 1U : 0U}; });
  per_listener("moat_listener_connections_accepted_total", type::counter,
               "TCP connections accepted.",
               [](const listener_view& l) { return l.stats.accepted; });
  per_listener("moat_listener_handshakes_total", type::counter, "TLS handshakes completed.",
               [](const listener_view& l) { return l.stats.handshakes; });
  p.family("moat_listener_handshake_failures_total", type::counter,
           "TLS handshakes that failed, by reason.");
  for (const auto& l : s.listeners)
    for (const auto& [reason, n] : l.stats.handshake_failures_by_reason)
      p.sample({{"listener", l.name}, {"reason", reason}}, n);
  per_listener("moat_listener_handler_failures_total", type::counter,
               "Connection handlers that ended with an exception.",
               [](const listener_view& l) { return l.stats.handler_failures; });
  per_listener("moat_listener_received_bytes_total", type::counter, "Application bytes received.",
               [](const listener_view& l) { return l.stats.bytes_in; });
  per_listener("moat_listener_sent_bytes_total", type::counter, "Application bytes sent.",
               [](const listener_view& l) { return l.stats.bytes_out; });

  p.family("moat_certificate_expiry_timestamp_seconds", type::gauge,
           "When a certificate in service expires (Unix time), per name it covers.");
  for (const auto& c : s.certificates)
    for (const auto& n : c.names)
      p.sample({{"source", c.source}, {"name", n}}, seconds_since_epoch(c.not_after));

  if (!s.managers.empty()) {
    auto per_manager = [&](std::string_view name, type t, std::string_view help, auto value) {
      p.family(name, t, help);
      for (const auto& m : s.managers) p.sample({{"identifiers", m.name}}, value(m));
    };
    per_manager("moat_acme_certificates_obtained_total", type::counter,
                "Certificates obtained from the ACME CA (first ones and renewals).",
                [](const manager_view& m) { return m.stats.obtained; });
    per_manager("moat_acme_renewals_total", type::counter, "Certificates renewed.",
                [](const manager_view& m) { return m.stats.renewed; });
    per_manager("moat_acme_failures_total", type::counter,
                "Attempts to obtain or renew that failed.",
                [](const manager_view& m) { return m.stats.failures; });
    per_manager("moat_acme_consecutive_failures", type::gauge, "Failures since the last success.",
                [](const manager_view& m) { return std::uint64_t{m.stats.consecutive_failures}; });
    per_manager("moat_acme_temporary_certificate", type::gauge,
                "1 while listeners present the temporary self-signed certificate.",
                [](const manager_view& m) { return std::uint64_t{m.stats.temporary ? 1U : 0U}; });
    p.family("moat_acme_next_renewal_timestamp_seconds", type::gauge,
             "When the manager plans to renew (Unix time).");
    for (const auto& m : s.managers)
      if (m.stats.renew_at)
        p.sample({{"identifiers", m.name}}, seconds_since_epoch(*m.stats.renew_at));
  }

  if (s.process) {
    const auto& pr = *s.process;
    p.family("process_cpu_seconds_total", type::counter,
             "User and system CPU time spent in seconds.");
    p.sample({}, pr.cpu_seconds);
    p.family("process_resident_memory_bytes", type::gauge, "Resident memory size in bytes.");
    p.sample({}, pr.resident_bytes);
    p.family("process_virtual_memory_bytes", type::gauge, "Virtual memory size in bytes.");
    p.sample({}, pr.virtual_bytes);
    p.family("process_open_fds", type::gauge, "Number of open file descriptors.");
    p.sample({}, pr.open_fds);
    p.family("process_max_fds", type::gauge, "Maximum number of open file descriptors.");
    p.sample({}, pr.max_fds);
    p.family("process_start_time_seconds", type::gauge,
             "Start time of the process since unix epoch in seconds.");
    p.sample({}, pr.start_time_seconds);
  }
  return p.text();
}

std::string render_status_json(const snapshot& s) {
  json::object root;
  root["time"] = iso8601(s.taken);
  json::array listeners;
  for (const auto& l : s.listeners) {
    json::object o;
    o["name"] = l.name;
    json::array addresses;
    for (const auto& e : l.endpoints) addresses.emplace_back(endpoint_text(e));
    o["addresses"] = std::move(addresses);
    o["tls"] = l.tls;
    o["accepting"] = l.stats.accepting;
    o["connections"] = l.stats.active;
    o["max_connections"] = l.stats.max_connections;
    o["accepted"] = l.stats.accepted;
    o["handshakes"] = l.stats.handshakes;
    o["handshake_failures"] = l.stats.handshake_failures;
    json::object by_reason;
    for (const auto& [reason, n] : l.stats.handshake_failures_by_reason) by_reason[reason] = n;
    o["handshake_failures_by_reason"] = std::move(by_reason);
    o["handler_failures"] = l.stats.handler_failures;
    o["bytes_in"] = l.stats.bytes_in;
    o["bytes_out"] = l.stats.bytes_out;
    json::array live;
    for (const auto& c : l.connections) {
      json::object lc;
      lc["id"] = c.id;
      lc["peer"] = endpoint_text(c.peer);
      lc["age_ms"] = c.age.count();
      lc["state"] = c.state;
      lc["tls_version"] = c.tls_version;
      lc["cipher"] = c.cipher;
      lc["sni"] = c.sni;
      live.emplace_back(std::move(lc));
    }
    o["live"] = std::move(live);
    listeners.emplace_back(std::move(o));
  }
  root["listeners"] = std::move(listeners);
  json::array certificates;
  for (const auto& c : s.certificates) {
    json::object o;
    o["source"] = c.source;
    json::array names;
    for (const auto& n : c.names) names.emplace_back(n);
    o["names"] = std::move(names);
    o["not_after"] = iso8601(c.not_after);
    o["days_left"] =
        std::chrono::duration<double, std::ratio<86400>>(c.not_after - s.taken).count();
    o["sha256"] = c.fingerprint;
    certificates.emplace_back(std::move(o));
  }
  root["certificates"] = std::move(certificates);
  json::array managers;
  for (const auto& m : s.managers) {
    json::object o;
    o["identifiers"] = m.name;
    o["temporary"] = m.stats.temporary;
    o["obtained"] = m.stats.obtained;
    o["renewed"] = m.stats.renewed;
    o["failures"] = m.stats.failures;
    o["consecutive_failures"] = m.stats.consecutive_failures;
    if (m.stats.renew_at) o["renew_at"] = iso8601(*m.stats.renew_at);
    if (m.stats.next_attempt) o["next_attempt"] = iso8601(*m.stats.next_attempt);
    if (m.stats.last_error) o["last_error"] = m.stats.last_error->message();
    managers.emplace_back(std::move(o));
  }
  root["acme"] = std::move(managers);
  if (s.process) {
    json::object o;
    o["cpu_seconds"] = s.process->cpu_seconds;
    o["resident_bytes"] = s.process->resident_bytes;
    o["open_fds"] = s.process->open_fds;
    o["start_time"] = iso8601(sys_time(std::chrono::duration_cast<sys_time::duration>(
        std::chrono::duration<double>(s.process->start_time_seconds))));
    root["process"] = std::move(o);
  }
  json::array events;
  for (const auto& e : s.events) {
    json::object o;
    o["time"] = iso8601(e.at);
    o["level"] = e.level;
    o["text"] = e.text;
    events.emplace_back(std::move(o));
  }
  root["events"] = std::move(events);
  return json::serialize(root);
}

}  // namespace moat::admin::detail
