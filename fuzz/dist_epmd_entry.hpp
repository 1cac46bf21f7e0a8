#pragma once
/// @file
/// The body of the EPMD fuzz target, shared by the libFuzzer binary (fuzz/dist_epmd_fuzz.cpp)
/// and the corpus replay test (tests/dist), so the entry is exercised by the normal build too.
///
/// Input: the first byte picks what the rest is fed to (byte % 5):
/// 0. a request body as the embedded EPMD parses it (`parse_request`): never incomplete; a
///    complete ALIVE2/PORT_PLEASE2/STOP request re-encodes to bytes that parse the same;
/// 1. an ALIVE2 reply, 2. a PORT2 reply (every prefix): the verdict is monotonic -- incomplete
///    on a prefix, then complete (with the same value and length on every longer input) or
///    malformed for good; a complete reply re-encodes to exactly the bytes it took;
/// 3. a NAMES reply: incomplete until the end of the stream (or malformed past the bound);
///    at the end a complete one re-encodes to exactly the input;
/// 4. the embedded EPMD's name table, driven by the bytes as a script of registrations and
///    closes: names stay unique, creations are never 0 and differ from the name's previous
///    one, the table of old names stays bounded.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>

#include "dist/epmd_registry.hpp"
#include "dist/epmd_wire.hpp"

namespace moat::fuzz {

namespace epmd_detail {

namespace wire = moat::dist::epmd_wire;

// Monotonic prefix check of a parser whose messages end by their own length.
template <class Parse, class Encode>
bool check_prefixes(std::span<const std::uint8_t> in, Parse parse, Encode encode,
                    std::string& why) {
  bool complete = false;
  bool malformed = false;
  std::size_t used = 0;
  for (std::size_t n = 0; n <= in.size(); ++n) {
    const auto p = parse(in.first(n));
    if (malformed) {
      if (p.state != wire::parse_state::malformed) return why = "malformed became parseable", false;
      continue;
    }
    if (complete) {
      if (p.state != wire::parse_state::complete || p.used != used) {
        return why = "a complete reply changed with more bytes", false;
      }
      continue;
    }
    if (p.state == wire::parse_state::malformed) {
      if (p.why.empty()) return why = "malformed without a reason", false;
      malformed = true;
    } else if (p.state == wire::parse_state::complete) {
      complete = true;
      used = p.used;
      if (used != n) return why = "complete before its last byte or after it", false;
      const auto again = encode(p.value);
      if (!std::equal(again.begin(), again.end(), in.begin(), in.begin() + static_cast<long>(n))) {
        return why = "re-encoding differs from the bytes parsed", false;
      }
      if (again.size() != n) return why = "re-encoding has another length", false;
    }
  }
  return true;
}

inline bool check_request(std::span<const std::uint8_t> body, std::string& why) {
  const auto p = wire::parse_request(body);
  if (p.state == wire::parse_state::incomplete) return why = "a request was incomplete", false;
  if (p.state == wire::parse_state::malformed) {
    if (p.why.empty()) return why = "malformed without a reason", false;
    return true;
  }
  wire::bytes again;
  switch (p.value.command) {
    case wire::alive2_req:
      again = wire::encode_alive2_request(p.value.alive2);
      break;
    case wire::port_please2_req:
      if (!wire::valid_name(p.value.name)) return why = "an invalid name was taken", false;
      again = wire::encode_port_please2_request(p.value.name);
      break;
    case wire::stop_req:
      again = wire::encode_stop_request(p.value.name);
      break;
    case wire::names_req:
    case wire::dump_req:
    case wire::kill_req:
      again = wire::encode_command(p.value.command);
      break;
    default:
      return why = "an unknown command was taken", false;
  }
  const auto q = wire::parse_request(std::span(again).subspan(2));
  if (q.state != wire::parse_state::complete || q.value.command != p.value.command ||
      !(q.value.alive2 == p.value.alive2) || q.value.name != p.value.name) {
    return why = "a re-encoded request parses differently", false;
  }
  const auto len = wire::request_length(again[0], again[1]);
  if (again.size() - 2 <= wire::max_request && (!len || *len != again.size() - 2)) {
    return why = "the length prefix is wrong", false;
  }
  return true;
}

inline bool check_names(std::span<const std::uint8_t> in, std::string& why) {
  const auto open = wire::parse_names_reply(in, false);
  if (open.state == wire::parse_state::complete) return why = "complete before the end", false;
  if (open.state == wire::parse_state::malformed && in.size() <= wire::max_names_reply + 4) {
    return why = "malformed before the end and within the bound", false;
  }
  const auto p = wire::parse_names_reply(in, true);
  if (p.state == wire::parse_state::incomplete) return why = "incomplete at the end", false;
  if (p.state == wire::parse_state::malformed) return true;
  std::string again;
  const auto header = wire::encode_port_header(p.value.epmd_port);
  again.assign(header.begin(), header.end());
  for (const auto& [name, port] : p.value.names) again += wire::names_line(name, port);
  if (!std::equal(again.begin(), again.end(), in.begin(), in.end(),
                  [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; })) {
    return why = "re-encoded names differ from the input", false;
  }
  return true;
}

inline bool check_registry(std::span<const std::uint8_t> script, std::string& why) {
  std::uint32_t clock = 0;
  moat::dist::epmd_registry reg([&clock] { return clock; });
  std::map<std::string, std::uint32_t> last;  // name -> last creation (version 6)
  std::map<std::uint64_t, std::string> owners;
  std::uint64_t next = 1;
  for (std::size_t i = 0; i + 1 < script.size(); i += 2) {
    const std::uint8_t op = script[i];
    const std::uint8_t arg = script[i + 1];
    if (op % 3 == 0) {  // register name "n<arg % 8>", or a long/empty name now and then
      std::string name = arg % 31 == 0 ? std::string() : "n" + std::to_string(arg % 8);
      if (arg == 255) name.assign(300, 'x');
      clock = static_cast<std::uint32_t>(arg) << 24U;  // wraps around, hits 0..3 too
      moat::dist::epmd_wire::node_fields f;
      f.name = name;
      f.highest_version = 6;
      const bool taken = reg.find(name) != nullptr;
      const auto c = reg.add(f, next, 0);
      if (c && (taken || !wire::valid_name(name)))
        return why = "a taken or bad name was added", false;
      if (!c && !taken && wire::valid_name(name)) return why = "a free name was refused", false;
      if (c) {
        if (*c == 0) return why = "creation 0", false;
        const auto it = last.find(name);
        if (it != last.end() && it->second == *c) return why = "the same creation again", false;
        last[name] = *c;
        owners[next] = name;
      }
      ++next;
    } else if (!owners.empty()) {  // close a connection
      auto it = owners.begin();
      std::advance(it, static_cast<long>(arg % owners.size()));
      const auto name = reg.remove_owner(it->first);
      if (!name || *name != it->second) return why = "remove_owner lost a name", false;
      owners.erase(it);
    }
    if (reg.registered().size() != owners.size()) return why = "table size differs", false;
    if (reg.unregistered().size() > moat::dist::epmd_registry::max_unregistered) {
      return why = "old names unbounded", false;
    }
  }
  return true;
}

}  // namespace epmd_detail

/// Runs one input (see the file comment). True when the code behaved; otherwise false and,
/// if `why` is given, what went wrong. Thread-safety: pure (uses only locals).
[[nodiscard]] inline bool dist_epmd_check(std::span<const std::uint8_t> input,
                                          std::string* why = nullptr) {
  namespace wire = moat::dist::epmd_wire;
  using namespace epmd_detail;
  if (input.empty()) return true;
  const auto rest = input.subspan(1);
  std::string reason;
  bool ok = true;
  switch (input[0] % 5U) {
    case 0:
      ok = check_request(rest, reason);
      break;
    case 1:
      ok = check_prefixes(
          rest, [](auto in) { return wire::parse_alive2_reply(in); },
          [](const wire::alive2_reply& r) {
            return wire::encode_alive2_reply(r.result, r.creation, r.extended);
          },
          reason);
      break;
    case 2:
      ok = check_prefixes(
          rest, [](auto in) { return wire::parse_port2_reply(in); },
          [](const wire::port2_reply& r) {
            return r.result == 0 ? wire::encode_port2_reply(&r.node)
                                 : wire::bytes{wire::port2_resp, r.result};
          },
          reason);
      break;
    case 3:
      ok = check_names(rest, reason);
      break;
    default:
      ok = check_registry(rest, reason);
      break;
  }
  if (!ok && why != nullptr) *why = reason;
  return ok;
}

}  // namespace moat::fuzz
