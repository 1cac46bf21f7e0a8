// Distribution messages: encoding what this node sends (in the form the peer's flags call
// for) and acting on what a peer sends (erl_dist_protocol, "Protocol between connected
// nodes"). No atom cache: every message is `112, Control, [Payload]`.
#include <spdlog/spdlog.h>

#include <array>

#include "dist/connection.hpp"
#include "dist/flags.hpp"
#include "moat/dist/errors.hpp"
#include "moat/dist/external.hpp"

namespace moat::dist::detail {
namespace {

enum op : std::int64_t {
  LINK = 1,
  SEND = 2,
  EXIT = 3,
  UNLINK = 4,
  NODE_LINK = 5,
  REG_SEND = 6,
  GROUP_LEADER = 7,
  EXIT2 = 8,
  SEND_TT = 12,
  EXIT_TT = 13,
  REG_SEND_TT = 16,
  EXIT2_TT = 18,
  MONITOR_P = 19,
  DEMONITOR_P = 20,
  MONITOR_P_EXIT = 21,
  SEND_SENDER = 22,
  SEND_SENDER_TT = 23,
  PAYLOAD_EXIT = 24,
  PAYLOAD_EXIT_TT = 25,
  PAYLOAD_EXIT2 = 26,
  PAYLOAD_EXIT2_TT = 27,
  PAYLOAD_MONITOR_P_EXIT = 28,
  SPAWN_REQUEST = 29,
  SPAWN_REQUEST_TT = 30,
  SPAWN_REPLY = 31,
  SPAWN_REPLY_TT = 32,
  ALIAS_SEND = 33,
  ALIAS_SEND_TT = 34,
  UNLINK_ID = 35,
  UNLINK_ID_ACK = 36,
};

}  // namespace

// A control tuple written straight into the frame: `131, SMALL_TUPLE, arity, op, ...`, each
// element encoded in place (no tuple is built per message).
class control_writer {
 public:
  control_writer(std::vector<std::uint8_t>& out, std::uint8_t arity, std::int64_t op) : out_(out) {
    out_.insert(out_.end(), {131, 104, arity, 97, static_cast<std::uint8_t>(op)});
  }
  control_writer& operator<<(const term& t) {
    encode_body_to(out_, t);
    return *this;
  }
  control_writer& empty_atom() {
    out_.insert(out_.end(), {119, 0});
    return *this;
  }

 private:
  std::vector<std::uint8_t>& out_;
};

std::size_t queued_size(const outgoing& m) {
  constexpr std::size_t frame_and_control = 16;  // length, pass-through, tuple head, tag
  return frame_and_control + encoded_size(m.from) + encoded_size(m.to) + encoded_size(m.extra) +
         encoded_size(m.payload);
}

void connection::encode(const outgoing& m, std::vector<std::uint8_t>& out) const {
  const std::size_t start = out.size();
  out.insert(out.end(), {0, 0, 0, 0, 112});
  const bool payload_exits = (flags_ & flag::exit_payload) != 0;
  bool with_payload = false;
  using k = outgoing::kind;
  switch (m.what) {
    case k::send:
      if ((flags_ & flag::send_sender) != 0 && m.from.is_pid())
        control_writer(out, 3, SEND_SENDER) << m.from << m.to;
      else
        control_writer(out, 3, SEND).empty_atom() << m.to;
      with_payload = true;
      break;
    case k::reg_send:
      control_writer(out, 4, REG_SEND) << m.from;
      out.insert(out.end(), {119, 0});
      encode_body_to(out, m.extra);
      with_payload = true;
      break;
    case k::alias_send:
      control_writer(out, 3, ALIAS_SEND) << m.from << m.extra;
      with_payload = true;
      break;
    case k::link:
      control_writer(out, 3, LINK) << m.from << m.to;
      break;
    case k::unlink_id:
      control_writer(out, 4, UNLINK_ID) << term(m.id) << m.from << m.to;
      break;
    case k::unlink_id_ack:
      control_writer(out, 4, UNLINK_ID_ACK) << term(m.id) << m.from << m.to;
      break;
    case k::exit:
      if (payload_exits) {
        control_writer(out, 3, PAYLOAD_EXIT) << m.from << m.to;
        with_payload = true;
      } else {
        control_writer(out, 4, EXIT) << m.from << m.to << m.payload;
      }
      break;
    case k::exit2:
      if (payload_exits) {
        control_writer(out, 3, PAYLOAD_EXIT2) << m.from << m.to;
        with_payload = true;
      } else {
        control_writer(out, 4, EXIT2) << m.from << m.to << m.payload;
      }
      break;
    case k::monitor:
      control_writer(out, 4, MONITOR_P) << m.from << m.to << m.extra;
      break;
    case k::demonitor:
      control_writer(out, 4, DEMONITOR_P) << m.from << m.to << m.extra;
      break;
    case k::monitor_exit:
      if (payload_exits) {
        control_writer(out, 4, PAYLOAD_MONITOR_P_EXIT) << m.from << m.to << m.extra;
        with_payload = true;
      } else {
        control_writer(out, 5, MONITOR_P_EXIT) << m.from << m.to << m.extra << m.payload;
      }
      break;
    case k::spawn_reply:
      control_writer(out, 5, SPAWN_REPLY) << m.extra << m.to << term(0) << m.payload;
      break;
  }
  if (with_payload) encode_to(out, m.payload);
  const auto len = static_cast<std::uint32_t>(out.size() - start - 4);
  for (std::size_t i = 0; i < 4; ++i)
    out[start + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
}

namespace {

// The control tuple's elements in the form every node sends them -- 131, SMALL_TUPLE_EXT,
// Arity, SMALL_INTEGER_EXT, Code, then the other elements -- read straight into `fields`, so
// that no tuple is allocated per message. nullopt: another form (or malformed), which the
// general decoder takes (and says what is wrong).
std::optional<std::size_t> read_control_fields(std::span<const std::uint8_t> in,
                                               std::array<term, 6>& fields, std::size_t& used) {
  if (in.size() < 5 || in[0] != 131 || in[1] != 104 || in[3] != 97) return std::nullopt;
  const std::size_t arity = in[2];
  if (arity == 0 || arity > fields.size()) return std::nullopt;
  fields[0] = term(std::int64_t{in[4]});
  std::size_t at = 5;
  for (std::size_t i = 1; i < arity; ++i) {
    std::size_t n = 0;
    if (decode_body_prefix(in.subspan(at), fields[i], n)) return std::nullopt;
    at += n;
  }
  used = at;
  return arity;
}

}  // namespace

void connection::dispatch(std::span<const std::uint8_t> frame) {
  if (frame[0] != 112) {
    n_.log->warn("dist: '{}' sent a message with header {} (no atom cache was agreed); closing",
                 peer_, frame[0]);
    close(make_error_code(errc::malformed_message));
    return;
  }
  auto rest = frame.subspan(1);
  std::array<term, 6> fields;
  term decoded;
  std::span<const term> control;
  std::size_t used = 0;
  if (const auto arity = read_control_fields(rest, fields, used)) {
    control = std::span<const term>(fields.data(), *arity);
  } else if (auto ec = decode_prefix(rest, decoded, used)) {
    n_.log->warn("dist: undecodable control message from '{}': {}; closing", peer_, ec.message());
    close(make_error_code(errc::malformed_message));
    return;
  } else if (const tuple* t = decoded.as_tuple()) {
    control = t->elements;
  } else {
    n_.log->warn("dist: malformed control message from '{}': {}; closing", peer_,
                 format_term(decoded));
    close(make_error_code(errc::malformed_message));
    return;
  }
  std::optional<term> payload;
  rest = rest.subspan(used);
  if (!rest.empty()) {
    term p;
    if (auto ec = decode(rest, p)) {
      n_.log->warn("dist: undecodable message from '{}': {}; closing", peer_, ec.message());
      close(make_error_code(errc::malformed_message));
      return;
    }
    payload = std::move(p);
  }
  n_.messages_in.fetch_add(1, std::memory_order_relaxed);
  handle_control(control, std::move(payload));
}

void connection::handle_control(std::span<const term> t, std::optional<term> payload) {
  const auto code = t.empty() ? std::nullopt : t[0].try_as<std::int64_t>();
  auto bad = [&] {
    n_.log->warn("dist: malformed control message from '{}': {}; closing", peer_,
                 format_term(tuple(std::vector<term>(t.begin(), t.end()))));
    close(make_error_code(errc::malformed_message));
  };
  if (!code) return bad();
  const auto n = t.size();
  auto pid_at = [&](std::size_t i) -> const pid* {
    return i < n ? t[i].as_pid() : nullptr;
  };
  auto need_payload = [&]() -> bool {
    return payload.has_value();
  };
  switch (*code) {
    case SEND:
    case SEND_TT:
    case SEND_SENDER:
    case SEND_SENDER_TT: {
      const pid* to = pid_at(2);
      if (to == nullptr || !need_payload()) return bad();
      n_.deliver(*to, std::move(*payload));
      return;
    }
    case REG_SEND:
    case REG_SEND_TT: {
      const pid* from = pid_at(1);
      const atom* name = n > 3 ? t[3].as_atom() : nullptr;
      if (from == nullptr || name == nullptr || !need_payload()) return bad();
      if (auto to = n_.whereis(name->name())) n_.deliver(*to, std::move(*payload));
      return;
    }
    case ALIAS_SEND:
    case ALIAS_SEND_TT: {
      const reference* alias = n > 2 ? t[2].as_reference() : nullptr;
      if (alias == nullptr || !need_payload()) return bad();
      n_.deliver_alias(*alias, std::move(*payload));
      return;
    }
    case LINK: {
      const pid* from = pid_at(1);
      const pid* to = pid_at(2);
      if (from == nullptr || to == nullptr) return bad();
      n_.add_link(*to, *from, id_);
      return;
    }
    case UNLINK_ID: {
      const pid* from = pid_at(2);
      const pid* to = pid_at(3);
      const auto id = n > 1 ? t[1].try_as<std::uint64_t>() : std::nullopt;
      if (from == nullptr || to == nullptr || !id) return bad();
      n_.remove_link(*to, *from);
      outgoing ack;
      ack.what = outgoing::kind::unlink_id_ack;
      ack.id = *id;
      ack.from = *to;
      ack.to = *from;
      enqueue(std::move(ack));
      return;
    }
    case UNLINK_ID_ACK:
    case UNLINK:
    case NODE_LINK:
    case GROUP_LEADER:
      return;
    case EXIT:
    case EXIT_TT:
    case EXIT2:
    case EXIT2_TT: {
      const pid* from = pid_at(1);
      const pid* to = pid_at(2);
      const std::size_t reason_at = (*code == EXIT || *code == EXIT2) ? 3 : 4;
      if (from == nullptr || to == nullptr || n <= reason_at) return bad();
      n_.exit_signal(*to, *from, t[reason_at], *code == EXIT || *code == EXIT_TT);
      return;
    }
    case PAYLOAD_EXIT:
    case PAYLOAD_EXIT_TT:
    case PAYLOAD_EXIT2:
    case PAYLOAD_EXIT2_TT: {
      const pid* from = pid_at(1);
      const pid* to = pid_at(2);
      if (from == nullptr || to == nullptr || !need_payload()) return bad();
      n_.exit_signal(*to, *from, std::move(*payload),
                     *code == PAYLOAD_EXIT || *code == PAYLOAD_EXIT_TT);
      return;
    }
    case MONITOR_P: {
      const pid* from = pid_at(1);
      const reference* ref = n > 3 ? t[3].as_reference() : nullptr;
      if (from == nullptr || ref == nullptr || n <= 2) return bad();
      const term& target = t[2];
      monitor_in m{*ref, *from, target, id_};
      if (const pid* p = target.as_pid()) {
        n_.add_monitor_in(*p, std::move(m), false);
      } else if (const atom* name = target.as_atom()) {
        // MONITOR_P_EXIT names the process as the watcher did, by the bare name (its node
        // makes the DOWN's {Name, Node}); a tuple there makes the peer drop the connection.
        const auto p2 = n_.whereis(name->name());
        n_.add_monitor_in(p2 ? *p2 : pid{n_.self_atom, 0, 0, n_.creation}, std::move(m), true);
      } else {
        return bad();
      }
      return;
    }
    case DEMONITOR_P: {
      const reference* ref = n > 3 ? t[3].as_reference() : nullptr;
      if (ref == nullptr || n <= 2) return bad();
      const term& target = t[2];
      if (const pid* p = target.as_pid()) {
        n_.remove_monitor_in(*p, *ref);
      } else if (const atom* name = target.as_atom()) {
        if (auto p2 = n_.whereis(name->name())) n_.remove_monitor_in(*p2, *ref);
      }
      return;
    }
    case MONITOR_P_EXIT:
    case PAYLOAD_MONITOR_P_EXIT: {
      const pid* to = pid_at(2);
      const reference* ref = n > 3 ? t[3].as_reference() : nullptr;
      if (to == nullptr || ref == nullptr) return bad();
      if (*code == MONITOR_P_EXIT) {
        if (n <= 4) return bad();
        n_.monitor_down(*to, *ref, t[4]);
      } else {
        if (!need_payload()) return bad();
        n_.monitor_down(*to, *ref, std::move(*payload));
      }
      return;
    }
    case SPAWN_REQUEST:
    case SPAWN_REQUEST_TT: {
      // {29, ReqId, From, GroupLeader, {M, F, A}, OptList}: a moat node runs no Erlang code,
      // so the request is answered with the error a node without the function gives.
      const pid* from = pid_at(2);
      if (from == nullptr || n < 6) return bad();
      outgoing reply;
      reply.what = outgoing::kind::spawn_reply;
      reply.extra = t[1];
      reply.to = *from;
      reply.payload = atom("notsup");
      enqueue(std::move(reply));
      return;
    }
    case SPAWN_REPLY:
    case SPAWN_REPLY_TT:
      return;
    default:
      n_.log->debug("dist: ignoring control message {} from '{}'", *code, peer_);
      return;
  }
}

}  // namespace moat::dist::detail
