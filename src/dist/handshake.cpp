#include "dist/handshake.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "dist/flags.hpp"
#include "moat/dist/errors.hpp"
#include "moat/dist/node_name.hpp"
#include "moat/pki/digest.hpp"

namespace moat::dist::detail {
namespace {

using bytes = std::vector<std::uint8_t>;
constexpr std::size_t max_name = 1023;

void put16(bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
void put64(bytes& b, std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

// A cursor over one packet; every read is checked and a short packet reads as failure.
class reader {
 public:
  explicit reader(std::span<const std::uint8_t> p) : p_(p) {}
  bool u8(std::uint8_t& v) {
    if (left() < 1) return false;
    v = p_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>((p_[pos_] << 8) | p_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | p_[pos_++];
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (left() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p_[pos_++];
    return true;
  }
  bool text(std::size_t n, std::string& s) {
    if (left() < n) return false;
    s.assign(reinterpret_cast<const char*>(p_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  std::string rest() {
    std::string s(reinterpret_cast<const char*>(p_.data() + pos_), left());
    pos_ = p_.size();
    return s;
  }
  [[nodiscard]] std::size_t left() const { return p_.size() - pos_; }

 private:
  std::span<const std::uint8_t> p_;
  std::size_t pos_{0};
};

std::uint32_t new_challenge() {
  const auto r = pki::random_bytes(4);
  return (std::uint32_t{r[0]} << 24) | (std::uint32_t{r[1]} << 16) | (std::uint32_t{r[2]} << 8) |
         std::uint32_t{r[3]};
}

bool valid_peer_name(const std::string& name) {
  return name.size() <= max_name && parse_node_name(name).has_value();
}

std::string printable(std::span<const std::uint8_t> p) {
  std::string s;
  for (std::size_t i = 0; i < p.size() && i < 32; ++i) {
    const auto c = static_cast<char>(p[i]);
    s += (p[i] >= 0x20 && p[i] < 0x7f) ? c : '.';
  }
  return s;
}

}  // namespace

std::array<std::uint8_t, 16> handshake_digest(std::string_view cookie, std::uint32_t challenge) {
  std::string text(cookie);
  text += std::to_string(challenge);
  return pki::md5(text);
}

handshake::handshake(config cfg, bool initiator, std::string peer)
    : cfg_(std::move(cfg)), initiator_(initiator) {
  result_.peer = std::move(peer);
}

handshake handshake::initiate(config cfg, std::string peer) {
  return handshake(std::move(cfg), true, std::move(peer));
}

handshake handshake::accept(config cfg) {
  return handshake(std::move(cfg), false, {});
}

std::vector<std::vector<std::uint8_t>> handshake::take_output() {
  return std::exchange(out_, {});
}

handshake::next handshake::fail(std::error_code ec, std::string detail) {
  state_ = state::finished;
  error_ = ec;
  detail_ = std::move(detail);
  return next::failed;
}

handshake::next handshake::start() {
  if (!initiator_) {
    state_ = state::await_name;
    return next::send_then_read;
  }
  // The name message, always in the version-6 form ('N'): OTP 25.0-25.2 refuse the old 'n'.
  bytes m;
  m.reserve(15 + cfg_.this_node.size());
  m.push_back('N');
  put64(m, cfg_.flags);
  put32(m, cfg_.creation);
  put16(m, static_cast<std::uint16_t>(cfg_.this_node.size()));
  m.insert(m.end(), cfg_.this_node.begin(), cfg_.this_node.end());
  out_.push_back(std::move(m));
  state_ = state::await_status;
  return next::send_then_read;
}

handshake::next handshake::feed(std::span<const std::uint8_t> p) {
  switch (state_) {
    case state::await_status:
      return on_status(p);
    case state::await_challenge:
      return on_challenge(p);
    case state::await_ack:
      return on_ack(p);
    case state::await_name:
      return on_name(p);
    case state::await_alive_answer:
      return on_alive_answer(p);
    case state::await_complement:
      return on_complement(p);
    case state::await_reply:
      return on_reply(p);
    case state::initial:
    case state::await_decision:
    case state::finished:
      break;
  }
  return fail(errc::handshake_malformed, "a packet when none was expected");
}

// ---- initiator ----------------------------------------------------------------------------

handshake::next handshake::on_status(std::span<const std::uint8_t> p) {
  reader r(p);
  std::uint8_t tag = 0;
  if (!r.u8(tag) || tag != 's')
    return fail(errc::handshake_malformed, "expected a status: " + printable(p));
  const std::string status = r.rest();
  if (status == "ok" || status == "ok_simultaneous") {
    state_ = state::await_challenge;
    return next::send_then_read;
  }
  if (status == "alive") {
    // The peer has a connection to a node of our name. Unless our node has one to it by now
    // (a simultaneous connect the peer's attempt won), that one is a previous incarnation of
    // ours, and we go on.
    if (cfg_.still_wanted && !cfg_.still_wanted()) {
      out_.push_back(bytes{'s', 'f', 'a', 'l', 's', 'e'});
      return fail(errc::already_connected, "the peer has this node's other connection");
    }
    out_.push_back(bytes{'s', 't', 'r', 'u', 'e'});
    state_ = state::await_challenge;
    return next::send_then_read;
  }
  if (status == "nok") return fail(errc::already_connected, "the peer answered nok");
  if (status == "not_allowed") return fail(errc::refused_by_peer, "the peer answered not_allowed");
  return fail(errc::handshake_malformed, "unknown status '" + printable(p.subspan(1)) + "'");
}

handshake::next handshake::accept_peer_flags(std::uint64_t peer_flags) {
  result_.peer_flags = flag::expand(peer_flags);
  const std::uint64_t missing = flag::mandatory_25 & ~result_.peer_flags;
  if (missing != 0) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(missing));
    return fail(errc::peer_too_old, std::string("missing capability flags ") + hex);
  }
  return next::send_then_read;
}

void handshake::finish_flags() {
  result_.flags = cfg_.flags & result_.peer_flags;
  result_.hidden = (result_.flags & flag::published) == 0;
}

handshake::next handshake::on_challenge(std::span<const std::uint8_t> p) {
  reader r(p);
  std::uint8_t tag = 0;
  std::uint64_t peer_flags = 0;
  std::uint32_t challenge = 0;
  std::uint32_t creation = 0;
  std::uint16_t nlen = 0;
  std::string name;
  if (!r.u8(tag))
    return fail(errc::handshake_malformed, "an empty packet instead of the challenge");
  if (tag == 'n')
    return fail(errc::peer_too_old, "the peer sent a challenge of distribution version 5");
  if (tag != 'N' || !r.u64(peer_flags) || !r.u32(challenge) || !r.u32(creation) || !r.u16(nlen) ||
      !r.text(nlen, name) || r.left() != 0)
    return fail(errc::handshake_malformed, "bad challenge message");
  if (name != result_.peer)
    return fail(errc::wrong_node, "it answered as '" + printable({p.data() + 19, nlen}) + "'");
  if (accept_peer_flags(peer_flags) == next::failed) return next::failed;
  result_.peer_creation = creation;
  our_challenge_ = new_challenge();
  const auto digest = handshake_digest(cfg_.cookie, challenge);
  bytes m;
  m.reserve(21);
  m.push_back('r');
  put32(m, our_challenge_);
  m.insert(m.end(), digest.begin(), digest.end());
  out_.push_back(std::move(m));
  state_ = state::await_ack;
  return next::send_then_read;
}

handshake::next handshake::on_ack(std::span<const std::uint8_t> p) {
  if (p.size() != 17 || p[0] != 'a') {
    // A peer that found our digest wrong closes without a word; anything else is garbage.
    return fail(errc::handshake_malformed, "bad challenge acknowledgement");
  }
  const auto expected = handshake_digest(cfg_.cookie, our_challenge_);
  if (!pki::constant_time_equal(expected, p.subspan(1)))
    return fail(errc::bad_cookie, "the peer's digest of our challenge does not match");
  finish_flags();
  state_ = state::finished;
  return next::done;
}

// ---- acceptor -----------------------------------------------------------------------------

handshake::next handshake::on_name(std::span<const std::uint8_t> p) {
  reader r(p);
  std::uint8_t tag = 0;
  std::uint64_t peer_flags = 0;
  std::string name;
  if (!r.u8(tag)) return fail(errc::handshake_malformed, "an empty packet instead of a name");
  if (tag == 'N') {
    std::uint32_t creation = 0;
    std::uint16_t nlen = 0;
    if (!r.u64(peer_flags) || !r.u32(creation) || !r.u16(nlen) || !r.text(nlen, name) ||
        r.left() != 0)
      return fail(errc::handshake_malformed, "bad name message");
    result_.peer_creation = creation;
    state_ = state::await_decision;
  } else if (tag == 'n') {
    std::uint16_t version = 0;
    std::uint32_t low_flags = 0;
    if (!r.u16(version) || !r.u32(low_flags))
      return fail(errc::handshake_malformed, "bad name message");
    name = r.rest();
    peer_flags = low_flags;
    // An old-form name is fine from a node that can do version 6: it completes its flags and
    // creation after our challenge (the complement message).
    if ((peer_flags & flag::handshake_23) == 0)
      return fail(errc::peer_too_old,
                  "the peer speaks distribution version " + std::to_string(version));
    state_ = state::await_decision;
  } else {
    return fail(errc::handshake_malformed, "expected a name message: " + printable(p));
  }
  if (!valid_peer_name(name))
    return fail(errc::handshake_malformed,
                "not a node name: " +
                    printable(p.subspan(p.size() - std::min<std::size_t>(p.size(), name.size()))));
  result_.peer = std::move(name);
  complement_pending_ = tag == 'n';
  if (accept_peer_flags(peer_flags) == next::failed) return next::failed;
  return next::decide;
}

void handshake::send_status(std::string_view status) {
  bytes m;
  m.reserve(1 + status.size());
  m.push_back('s');
  m.insert(m.end(), status.begin(), status.end());
  out_.push_back(std::move(m));
}

void handshake::send_challenge() {
  our_challenge_ = new_challenge();
  bytes m;
  m.reserve(19 + cfg_.this_node.size());
  m.push_back('N');
  put64(m, cfg_.flags);
  put32(m, our_challenge_);
  put32(m, cfg_.creation);
  put16(m, static_cast<std::uint16_t>(cfg_.this_node.size()));
  m.insert(m.end(), cfg_.this_node.begin(), cfg_.this_node.end());
  out_.push_back(std::move(m));
  state_ = complement_pending_ ? state::await_complement : state::await_reply;
}

handshake::next handshake::decide(handshake_status status) {
  if (state_ != state::await_decision)
    return fail(errc::handshake_malformed, "a decision when none was asked for");
  switch (status) {
    case handshake_status::ok:
      send_status("ok");
      send_challenge();
      return next::send_then_read;
    case handshake_status::ok_simultaneous:
      send_status("ok_simultaneous");
      send_challenge();
      return next::send_then_read;
    case handshake_status::nok:
      send_status("nok");
      return fail(errc::already_connected, "a simultaneous attempt that this node wins");
    case handshake_status::not_allowed:
      send_status("not_allowed");
      return fail(errc::not_allowed);
    case handshake_status::alive:
      send_status("alive");
      state_ = state::await_alive_answer;
      return next::send_then_read;
  }
  return fail(errc::handshake_malformed);
}

handshake::next handshake::on_alive_answer(std::span<const std::uint8_t> p) {
  const std::string_view s(reinterpret_cast<const char*>(p.data()), p.size());
  if (s == "strue") {
    send_challenge();
    return next::send_then_read;
  }
  if (s == "sfalse") return fail(errc::already_connected, "the peer keeps its existing connection");
  return fail(errc::handshake_malformed, "expected true or false: " + printable(p));
}

handshake::next handshake::on_complement(std::span<const std::uint8_t> p) {
  reader r(p);
  std::uint8_t tag = 0;
  std::uint32_t high = 0;
  std::uint32_t creation = 0;
  if (!r.u8(tag) || tag != 'c' || !r.u32(high) || !r.u32(creation) || r.left() != 0)
    return fail(errc::handshake_malformed, "bad complement message");
  result_.peer_flags |= flag::expand(std::uint64_t{high} << 32);
  result_.peer_creation = creation;
  state_ = state::await_reply;
  return next::send_then_read;
}

handshake::next handshake::on_reply(std::span<const std::uint8_t> p) {
  reader r(p);
  std::uint8_t tag = 0;
  std::uint32_t their_challenge = 0;
  if (!r.u8(tag) || tag != 'r' || !r.u32(their_challenge) || r.left() != 16)
    return fail(errc::handshake_malformed, "bad challenge reply");
  const auto expected = handshake_digest(cfg_.cookie, our_challenge_);
  if (!pki::constant_time_equal(expected, p.subspan(5)))
    return fail(errc::bad_cookie, "the peer's digest of our challenge does not match");
  const auto digest = handshake_digest(cfg_.cookie, their_challenge);
  bytes m;
  m.reserve(17);
  m.push_back('a');
  m.insert(m.end(), digest.begin(), digest.end());
  out_.push_back(std::move(m));
  finish_flags();
  state_ = state::finished;
  return next::done;
}

}  // namespace moat::dist::detail
