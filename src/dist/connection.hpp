#pragma once
// One distribution connection to a peer node: set up (dialled or accepted), then the reader
// (frames in, dispatched), the writer (frames queued by any thread's messages, written
// together), and the ticker (net_ticktime). It lives on one worker; everything but
// `post_send` runs there.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "dist/handshake.hpp"
#include "dist/node_impl.hpp"
#include "moat/framing/decoder.hpp"
#include "moat/tls/detail/waiter_queue.hpp"
#include "moat/tls/socket.hpp"

namespace moat::dist::detail {

/// A distribution operation towards the peer, encoded when written: the peer's flags decide
/// its form (e.g. SEND_SENDER or SEND, PAYLOAD_EXIT or EXIT).
struct outgoing {
  enum class kind : std::uint8_t {
    send,           // from, to (pid), payload
    reg_send,       // from, extra = name atom, payload
    alias_send,     // from, extra = alias reference, payload
    link,           // from, to
    unlink_id,      // id, from, to
    unlink_id_ack,  // id, from, to
    exit,           // from, to, payload = reason (a link broke)
    exit2,          // from, to, payload = reason (exit/2)
    monitor,        // from, to (pid or name atom), extra = ref
    demonitor,      // from, to, extra = ref
    monitor_exit,   // from (pid or name), to, extra = ref, payload = reason
    spawn_reply,    // extra = request id, to, payload = result
  };
  kind what{kind::send};
  term from{};
  term to{};
  term extra{};
  term payload{};
  std::uint64_t id{0};
};

/// About the bytes `m` takes on the wire (its terms; the control tuple's fixed part aside).
[[nodiscard]] std::size_t queued_size(const outgoing& m);

class connection : public std::enable_shared_from_this<connection> {
 public:
  enum class state { pending, up, closed };

  connection(node::impl& n, worker& w, std::string peer, bool dialled);

  [[nodiscard]] const std::string& peer() const noexcept { return peer_; }
  [[nodiscard]] worker& owner() const noexcept { return w_; }
  [[nodiscard]] bool dialled() const noexcept { return dialled_; }
  /// Whether the connection is up or closed (racy from other threads; exact on its worker).
  [[nodiscard]] state current() const noexcept { return state_.load(std::memory_order_acquire); }
  [[nodiscard]] std::uint64_t flags() const noexcept { return flags_; }
  /// This connection's number on its node (links and monitors record which one carried them).
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  /// Whether messages queued here still reach the peer: it is not closed, or it forwards to
  /// the connection that replaced it and that one is not closed (from any thread).
  [[nodiscard]] bool carries() const noexcept;

  /// Queues a message from any thread (posted to the connection's worker). Messages queued
  /// while the connection is being set up go once it is up; they are dropped if it fails.
  void post_send(outgoing m);

  /// Dials the peer (on the worker): EPMD, TCP, TLS, handshake.
  boost::asio::awaitable<void> dial();
  /// Runs an accepted TCP connection (on the worker): TLS, handshake.
  boost::asio::awaitable<void> accept(boost::asio::ip::tcp::socket tcp);
  /// Closes the connection (from any thread); the node learns it as a node down.
  void close(std::error_code reason);
  /// A pending dial that lost a simultaneous connect gives its queued messages to the winner.
  void hand_over_to(const std::shared_ptr<connection>& winner);

 private:
  boost::asio::awaitable<bool> run_handshake(handshake& hs);
  boost::asio::awaitable<std::error_code> write_packet(std::span<const std::uint8_t> payload);
  boost::asio::awaitable<std::optional<std::vector<std::uint8_t>>> read_packet(
      std::chrono::steady_clock::time_point deadline);
  bool check_identity(std::string& detail);
  handshake_status decide(const std::string& claimed, std::string& detail, std::error_code& ec);
  void go_up(const handshake_result& r);
  boost::asio::awaitable<void> reader();
  boost::asio::awaitable<void> writer();
  boost::asio::awaitable<void> ticker();
  void enqueue(outgoing m);
  /// Encodes `m` at the end of what the writer sends next (the connection is up).
  void encode_queued(const outgoing& m);
  /// More than send_buffer_limit is queued (`queued` bytes): logged, and the connection closes.
  void overflow(std::size_t queued);
  /// Empties `pending_` (and its byte count) for the caller to hand on: whatever the caller
  /// then does (a close, a send that overflows) cannot change what it walks.
  std::vector<outgoing> take_pending();
  void encode(const outgoing& m, std::vector<std::uint8_t>& out) const;
  void dispatch(std::span<const std::uint8_t> frame);
  /// Acts on a control message: the elements of its tuple (Code first), and the payload.
  void handle_control(std::span<const term> control, std::optional<term> payload);
  void fail(std::error_code ec, const std::string& detail);
  void close_socket();
  void finish(std::error_code reason);

  node::impl& n_;
  worker& w_;
  const std::uint64_t id_;
  /// The connections whose links and monitors this one's end breaks: itself, and the dial
  /// it took over in a simultaneous connect (on the worker only).
  std::vector<std::uint64_t> covers_{};
  /// Taken over by another connection (set under the node's conn_mu): that one's end breaks
  /// this one's links and monitors.
  std::atomic<bool> absorbed_{false};
  /// `winner_`, readable from any thread (`carries`); set once, kept alive by `winner_`.
  std::atomic<connection*> forward_{nullptr};
  std::string peer_;
  atom peer_atom_{};
  bool dialled_;
  std::string endpoint_{};
  std::atomic<state> state_{state::pending};
  std::uint64_t flags_{0};
  std::uint32_t peer_creation_{0};
  bool hidden_{false};
  std::optional<tls::socket> sock_{};
  std::size_t header_size_{4};
  framing::decoder in_;
  std::vector<std::uint8_t> out_{};
  std::vector<std::uint8_t> spare_{};
  std::vector<outgoing> pending_{};
  /// What `pending_` will take on the wire, about (see `queued_size`).
  std::size_t pending_bytes_{0};
  tls::detail::waiter_queue writer_wake_{};
  bool writer_waiting_{false};
  bool sent_since_tick_{false};
  bool received_since_tick_{false};
  int missed_ticks_{0};
  std::optional<boost::asio::steady_timer> tick_timer_{};
  std::error_code close_reason_{};
  bool finished_{false};
  /// go_up is saying the connection is up (the callback runs): enqueue leaves the limit to it.
  bool announcing_{false};
  /// The connection that won a simultaneous connect against this dial, once it took over.
  std::shared_ptr<connection> winner_{};
  bool waited_for_winner_{false};
  /// Accepted while the peer's name had a connection up: the one this replaces if it goes up.
  std::shared_ptr<connection> replaces_{};
};

}  // namespace moat::dist::detail
