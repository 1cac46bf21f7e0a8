#pragma once
/// @file
/// The body of the distribution handshake fuzz target, shared by the libFuzzer binary
/// (fuzz/dist_handshake_fuzz.cpp) and the corpus replay test (tests/dist).
///
/// Input: byte 0 picks the side (bit 0: initiator or acceptor) and the node's decision when
/// a peer names itself (bits 1-3: ok, ok_simultaneous, nok, not_allowed, alive); the rest is
/// cut into packets, each a length byte then that many bytes, fed in turn. Checks: nothing
/// is read past a packet; once failed or done the machine stays so; a finished handshake
/// knows a valid peer name and flags with every OTP 25 capability; a failure has a reason;
/// the packets it writes have the lengths of their kinds.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "dist/flags.hpp"
#include "dist/handshake.hpp"
#include "moat/dist/node_name.hpp"

namespace moat::fuzz {

inline bool dist_handshake_check(std::span<const std::uint8_t> in, std::string* why) {
  using moat::dist::detail::handshake;
  using moat::dist::detail::handshake_status;
  namespace flag = moat::dist::detail::flag;
  if (in.empty()) return true;
  const bool initiator = (in[0] & 1U) != 0;
  const auto decision = static_cast<handshake_status>(((in[0] >> 1U) & 7U) % 5U);
  handshake::config cfg{"fuzz@host", 7, flag::advertised(false), "cookie"};
  auto hs = initiator ? handshake::initiate(cfg, "peer@host") : handshake::accept(cfg);
  auto next = hs.start();
  auto fail = [&](const char* what) {
    if (why != nullptr) *why = what;
    return false;
  };
  auto check_output = [&]() {
    for (const auto& p : hs.take_output()) {
      if (p.empty()) return fail("an empty packet written");
      const char tag = static_cast<char>(p[0]);
      if (tag == 'r' && p.size() != 21) return fail("a challenge reply of the wrong size");
      if (tag == 'a' && p.size() != 17) return fail("an acknowledgement of the wrong size");
      if (tag == 'N' && p.size() < 15) return fail("a short name or challenge message");
    }
    return true;
  };
  if (!check_output()) return false;
  std::size_t pos = 1;
  while (pos < in.size()) {
    const std::size_t len = in[pos++];
    const std::size_t take = std::min(len, in.size() - pos);
    const std::span<const std::uint8_t> packet = in.subspan(pos, take);
    pos += take;
    const bool was_over = next == handshake::next::done || next == handshake::next::failed;
    next = hs.feed(packet);
    if (was_over && next != handshake::next::failed)
      return fail("fed after the end and not failed");
    if (next == handshake::next::decide) next = hs.decide(decision);
    if (!check_output()) return false;
    if (next == handshake::next::failed && !hs.error()) return fail("failed without a reason");
    if (next == handshake::next::done) {
      if (!moat::dist::parse_node_name(hs.result().peer)) return fail("done with a bad peer name");
      if ((hs.result().peer_flags & flag::mandatory_25) != flag::mandatory_25)
        return fail("done with a peer lacking OTP 25 capabilities");
    }
  }
  return true;
}

}  // namespace moat::fuzz
