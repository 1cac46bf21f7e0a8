#pragma once
/// @file
/// The body of the PROXY protocol parser fuzz target, shared by the libFuzzer binary
/// (fuzz/proxy_protocol_fuzz.cpp) and the corpus replay test (tests/server), so the entry is
/// exercised by the normal build too.
///
/// Input: the first bytes of a connection (a seed is a v1 or v2 header, maybe followed by a
/// ClientHello). `moat::server::proxy::parse` is called on every prefix of the input, as the
/// listener does while bytes trickle in, and must:
/// - decide monotonically: need_more on a prefix, then either done with one header length
///   (and the same addresses) or invalid, for that prefix and every longer one;
/// - never ask for more than `max_header` bytes (the listener peeks at most that much);
/// - report a header length within the bytes given, a reason when invalid, and addresses of one
///   family with both ends present.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "server/proxy_protocol.hpp"

namespace moat::fuzz {

/// Runs one input (see the file comment). Returns true when the parser behaved; on a
/// violation returns false and, if `why` is given, describes it.
/// Thread-safety: pure (uses only locals).
[[nodiscard]] inline bool proxy_protocol_check(std::span<const std::uint8_t> input,
                                               std::string* why = nullptr) {
  namespace proxy = moat::server::proxy;
  using status = proxy::result::status;
  auto violation = [&](const std::string& what, std::size_t at) {
    if (why != nullptr) *why = what + " (at prefix length " + std::to_string(at) + ")";
    return false;
  };
  // Beyond the largest header the answer cannot change; stop there (keeps this linear).
  const std::size_t n = std::min(input.size(), proxy::max_header + 64);
  proxy::result decided;
  bool have_decision = false;
  for (std::size_t len = 0; len <= n; ++len) {
    const proxy::result r = proxy::parse(input.first(len));
    if (r.state == status::need_more) {
      if (have_decision) return violation("need_more after a decision", len);
      if (len >= proxy::max_header) return violation("need_more at max_header bytes", len);
      continue;
    }
    if (r.state == status::invalid) {
      if (r.reason == nullptr || std::strlen(r.reason) == 0) {
        return violation("invalid without a reason", len);
      }
      if (r.source || r.destination) return violation("invalid with addresses", len);
    } else {
      if (r.header_length == 0 || r.header_length > len) {
        return violation("header length outside the bytes given", len);
      }
      if (r.header_length > proxy::max_header) return violation("header beyond max_header", len);
      if (r.source.has_value() != r.destination.has_value()) {
        return violation("only one end of the connection", len);
      }
      if (r.source && r.source->address().is_v4() != r.destination->address().is_v4()) {
        return violation("addresses of two families", len);
      }
    }
    if (!have_decision) {
      decided = r;
      have_decision = true;
      continue;
    }
    if (r.state != decided.state) return violation("the decision changed", len);
    if (r.state == status::done &&
        (r.header_length != decided.header_length || r.source != decided.source ||
         r.destination != decided.destination)) {
      return violation("the header changed with more bytes", len);
    }
  }
  return true;
}

}  // namespace moat::fuzz
