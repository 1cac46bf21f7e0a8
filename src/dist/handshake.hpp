#pragma once
// The distribution handshake (erl_dist_protocol, "Distribution Handshake", version 6) as a
// state machine that does no I/O: it is fed the payload of each packet the peer sent and
// says what to send and what it needs next. The connection layer frames the packets
// ({packet,4} over TLS, {packet,2} over TCP), bounds the time, and decides what only the
// node can decide: whether a peer that named itself may go on (its certificate, the
// allowed list, a connection already up or pending).

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace moat::dist::detail {

/// What the node answers a peer that named itself (the status message, step 3).
enum class handshake_status {
  ok,               ///< go on
  ok_simultaneous,  ///< go on; this node's own attempt to the peer will be dropped
  nok,              ///< a simultaneous attempt that this node wins: the peer gives up
  not_allowed,      ///< refused (the peer's name, certificate or flags)
  alive,            ///< a connection to that name is up: ask the peer whether it is new
};

/// What both ends know once the handshake is done.
struct handshake_result {
  std::string peer{};              ///< the peer's full node name
  std::uint64_t peer_flags{0};     ///< its capability flags (the digest flag expanded)
  std::uint32_t peer_creation{0};  ///< its creation
  std::uint64_t flags{0};          ///< what both ends have (ours & theirs)
  bool hidden{false};              ///< either end is hidden: the connection is too
};

/// One handshake, from one side. Not thread-safe: one owner drives it.
class handshake {
 public:
  struct config {
    std::string this_node{};    ///< our full node name
    std::uint32_t creation{0};  ///< our creation (from EPMD)
    std::uint64_t flags{0};     ///< what we advertise (flag::advertised)
    std::string cookie{};       ///< the shared secret
    /// Initiator: asked when the peer answers `alive` (it has a connection from our name);
    /// true = ours is the one wanted (send `true`), false = keep the peer's (`false`).
    /// Unset: true.
    std::function<bool()> still_wanted{};
  };

  /// We connect to `peer` (its full name, checked against the name it answers with).
  [[nodiscard]] static handshake initiate(config cfg, std::string peer);
  /// We accepted a connection; the peer speaks first.
  [[nodiscard]] static handshake accept(config cfg);

  /// What the owner does next.
  enum class next {
    send_then_read,  ///< write `take_output()`, then feed the next packet
    decide,          ///< the peer named itself (`peer_name()`): call `decide()`
    done,            ///< write `take_output()` (may be empty); `result()` holds
    failed,          ///< write `take_output()` (a refusal status, may be empty); `error()`
  };

  /// Starts: for the initiator the name message is in `take_output()`.
  [[nodiscard]] next start();
  /// Feeds one packet's payload from the peer.
  [[nodiscard]] next feed(std::span<const std::uint8_t> packet);
  /// The node's answer to a peer that named itself (after `next::decide`).
  [[nodiscard]] next decide(handshake_status status);

  /// Packets to send, in order; taking them empties the queue.
  [[nodiscard]] std::vector<std::vector<std::uint8_t>> take_output();

  /// The name the peer claims (known after its name message, or after the challenge for the
  /// initiator, which dialled it).
  [[nodiscard]] const std::string& peer_name() const noexcept { return result_.peer; }
  [[nodiscard]] const handshake_result& result() const noexcept { return result_; }
  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  /// Details for the log line (e.g. the status the peer sent, the name it answered with).
  [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

 private:
  enum class state {
    initial,
    await_status,        // initiator
    await_challenge,     // initiator
    await_ack,           // initiator
    await_name,          // acceptor
    await_decision,      // acceptor
    await_alive_answer,  // acceptor asked "alive"
    await_complement,    // acceptor: the peer sent the old 'n' name message
    await_reply,         // acceptor
    finished,
  };

  handshake(config cfg, bool initiator, std::string peer);
  next fail(std::error_code ec, std::string detail = {});
  next on_status(std::span<const std::uint8_t> p);
  next on_challenge(std::span<const std::uint8_t> p);
  next on_ack(std::span<const std::uint8_t> p);
  next on_name(std::span<const std::uint8_t> p);
  next on_alive_answer(std::span<const std::uint8_t> p);
  next on_complement(std::span<const std::uint8_t> p);
  next on_reply(std::span<const std::uint8_t> p);
  void send_status(std::string_view status);
  void send_challenge();
  next accept_peer_flags(std::uint64_t peer_flags);
  void finish_flags();

  config cfg_;
  bool initiator_;
  bool complement_pending_{false};
  state state_{state::initial};
  std::uint32_t our_challenge_{0};
  handshake_result result_{};
  std::vector<std::vector<std::uint8_t>> out_{};
  std::error_code error_{};
  std::string detail_{};
};

/// MD5(cookie ++ the challenge as an unsigned decimal), as both ends compute it.
[[nodiscard]] std::array<std::uint8_t, 16> handshake_digest(std::string_view cookie,
                                                            std::uint32_t challenge);

}  // namespace moat::dist::detail
