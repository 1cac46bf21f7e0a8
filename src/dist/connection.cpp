#include "dist/connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "dist/flags.hpp"
#include "dist/identity.hpp"
#include "moat/dist/epmd.hpp"
#include "moat/dist/errors.hpp"
#include "moat/tls/errors.hpp"

namespace moat::dist::detail {
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

framing::options frame_options(std::size_t header, std::size_t max) {
  framing::options o;
  o.mode = header == 2 ? framing::packet_mode::u16 : framing::packet_mode::u32;
  o.max_packet_size = max;
  return o;
}

constexpr std::size_t max_handshake_packet = 4096;
// A small message (a control tuple, a pid and a little payload, in a TLS record) fits in the
// waiting read: one system call instead of two per message; 512 bytes more per connection.
constexpr std::size_t kWaitBuffer = 640;
constexpr std::size_t max_message = std::size_t{128} << 20U;

std::chrono::milliseconds left_until(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

}  // namespace

connection::connection(node::impl& n, worker& w, std::string peer, bool dialled)
    : n_(n),
      w_(w),
      id_(n.next_connection_id.fetch_add(1, std::memory_order_relaxed)),
      covers_{id_},
      peer_(std::move(peer)),
      dialled_(dialled),
      in_(frame_options(n.opts.proto == transport::tls ? 4 : 2, max_handshake_packet)) {
  header_size_ = n.opts.proto == transport::tls ? 4 : 2;
}

bool connection::carries() const noexcept {
  if (current() != state::closed) return true;
  const connection* to = forward_.load(std::memory_order_acquire);
  return to != nullptr && to->current() != state::closed;
}

void connection::post_send(outgoing m) {
  // From the connection's own worker the message is queued at once; from others it is
  // posted. Either way one sender's messages keep their order (a sender runs on one worker).
  if (w_.io.get_executor().running_in_this_thread()) {
    enqueue(std::move(m));
    return;
  }
  asio::post(w_.io, [self = shared_from_this(), m = std::move(m)]() mutable {
    self->enqueue(std::move(m));
  });
}

void connection::enqueue(outgoing m) {
  if (winner_) {
    // Replaced by the connection that won a simultaneous connect: it carries this too.
    winner_->post_send(std::move(m));
    return;
  }
  switch (state_.load(std::memory_order_relaxed)) {
    case state::pending:
      // Not encoded yet (the peer's flags decide the form): counted by its terms' sizes.
      pending_bytes_ += queued_size(m);
      pending_.push_back(std::move(m));
      if (pending_bytes_ > n_.opts.send_buffer_limit) overflow(pending_bytes_);
      return;
    case state::closed:
      return;
    case state::up:
      break;
  }
  encode_queued(m);
  // While the up event is said, its callback's sends wait for go_up to check the limit: a
  // close inside the callback would say down before it had seen up.
  if (out_.size() > n_.opts.send_buffer_limit && !announcing_) {
    overflow(out_.size());
    return;
  }
  if (writer_waiting_) writer_wake_.notify_one();
}

void connection::encode_queued(const outgoing& m) {
  encode(m, out_);
  sent_since_tick_ = true;
  n_.messages_out.fetch_add(1, std::memory_order_relaxed);
}

std::vector<outgoing> connection::take_pending() {
  pending_bytes_ = 0;
  return std::exchange(pending_, {});
}

void connection::overflow(std::size_t queued) {
  n_.log->warn("dist: {} bytes queued for '{}', more than send_buffer_limit; closing", queued,
               peer_);
  out_.clear();
  finish(make_error_code(errc::peer_overloaded));
}

void connection::hand_over_to(const std::shared_ptr<connection>& winner) {
  asio::post(w_.io, [self = shared_from_this(), winner] {
    self->winner_ = winner;
    self->forward_.store(winner.get(), std::memory_order_release);
    for (auto& m : self->take_pending()) winner->post_send(std::move(m));
    self->close(make_error_code(errc::already_connected));
  });
}

// ---- packets during the handshake -------------------------------------------------------

asio::awaitable<std::error_code> connection::write_packet(std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> frame;
  frame.reserve(header_size_ + payload.size());
  if (header_size_ == 4) {
    const auto len = static_cast<std::uint32_t>(payload.size());
    for (int s = 24; s >= 0; s -= 8) frame.push_back(static_cast<std::uint8_t>(len >> s));
  } else {
    const auto len = static_cast<std::uint16_t>(payload.size());
    frame.push_back(static_cast<std::uint8_t>(len >> 8));
    frame.push_back(static_cast<std::uint8_t>(len));
  }
  frame.insert(frame.end(), payload.begin(), payload.end());
  // Closed while the handshake waited (replaced, overloaded, the node stopping).
  if (!sock_) co_return make_error_code(tls::errc::not_connected);
  co_return co_await sock_->send(std::span<const std::uint8_t>(frame));
}

asio::awaitable<std::optional<std::vector<std::uint8_t>>> connection::read_packet(
    clock::time_point deadline) {
  for (;;) {
    std::error_code ec;
    if (auto f = in_.next(ec)) co_return std::vector<std::uint8_t>(f->begin(), f->end());
    if (ec) {
      close_reason_ = make_error_code(errc::handshake_malformed);
      co_return std::nullopt;
    }
    if (clock::now() >= deadline) {
      close_reason_ = make_error_code(errc::setup_timeout);
      co_return std::nullopt;
    }
    if (!sock_) {
      close_reason_ = make_error_code(tls::errc::not_connected);
      co_return std::nullopt;
    }
    auto got = co_await sock_->recv_view(0, left_until(deadline));
    if (!got) {
      close_reason_ = got.error() == make_error_code(tls::errc::recv_timeout)
                          ? make_error_code(errc::setup_timeout)
                          : got.error();
      co_return std::nullopt;
    }
    in_.feed(*got);
  }
}

bool connection::check_identity(std::string& detail) {
  if (n_.opts.insecure_skip_identity_check) return true;
  if (n_.opts.proto != transport::tls) return true;
  const auto name = parse_node_name(peer_);
  const auto cert = sock_->peer_certificate();
  if (!cert) {
    detail = "it presented no certificate";
    return false;
  }
  if (!name || !certificate_names_host(*cert, name->host)) {
    std::string sans;
    for (const auto& s : cert->subject_alt_names()) sans += (sans.empty() ? "" : ", ") + s;
    detail = "its certificate names " + (sans.empty() ? std::string("no host") : sans) + ", not '" +
             (name ? name->host : peer_) + "'";
    return false;
  }
  return true;
}

handshake_status connection::decide(const std::string& claimed, std::string& detail,
                                    std::error_code& ec) {
  peer_ = claimed;
  const auto name = parse_node_name(claimed);
  if (!name || !host_fits(name->host, n_.opts.mode)) {
    ec = errc::peer_name_mode;
    return handshake_status::not_allowed;
  }
  if (claimed == n_.full_name) {
    ec = errc::not_allowed;
    detail = "it claims this node's own name";
    return handshake_status::not_allowed;
  }
  if (!check_identity(detail)) {
    ec = errc::identity_mismatch;
    return handshake_status::not_allowed;
  }
  if (!n_.opts.allowed.empty() &&
      std::find(n_.opts.allowed.begin(), n_.opts.allowed.end(), claimed) == n_.opts.allowed.end()) {
    ec = errc::not_allowed;
    return handshake_status::not_allowed;
  }
  std::shared_ptr<connection> old;
  handshake_status status = handshake_status::ok;
  {
    std::lock_guard lock(n_.conn_mu);
    auto it = n_.conns.find(claimed);
    if (it == n_.conns.end()) {
      n_.conns.emplace(claimed, shared_from_this());
    } else if (it->second->current() == state::up) {
      // The peer came back before we saw its old connection go, or this is its attempt of a
      // simultaneous connect ours won: the peer answers which (go_up replaces the old one).
      replaces_ = it->second;
      status = handshake_status::alive;
    } else if (it->second->dialled()) {
      // Both dial at once: the greater name keeps its own attempt (as net_kernel decides).
      if (n_.full_name > claimed) {
        ec = errc::already_connected;
        detail = "a simultaneous connect that this node's own attempt wins";
        return handshake_status::nok;
      }
      old = it->second;
      it->second = shared_from_this();
      old->absorbed_.store(true, std::memory_order_release);
      covers_.push_back(old->id());
      status = handshake_status::ok_simultaneous;
    } else {
      ec = errc::already_connected;
      detail = "another connection from that name is being set up";
      return handshake_status::nok;
    }
  }
  if (old) {
    if (status == handshake_status::ok_simultaneous)
      old->hand_over_to(shared_from_this());
    else
      old->close(make_error_code(errc::already_connected));
  }
  return status;
}

asio::awaitable<bool> connection::run_handshake(handshake& hs) {
  const auto deadline = clock::now() + n_.opts.net_setuptime;
  auto next = hs.start();
  for (;;) {
    for (auto& p : hs.take_output()) {
      const auto ec = co_await write_packet(p);
      if (ec) {
        fail(ec, "writing the handshake");
        co_return false;
      }
    }
    switch (next) {
      case handshake::next::done:
        co_return true;
      case handshake::next::failed:
        fail(hs.error(), hs.detail());
        co_return false;
      case handshake::next::decide: {
        std::string detail;
        std::error_code ec;
        const auto status = decide(hs.peer_name(), detail, ec);
        next = hs.decide(status);
        if (ec && next == handshake::next::failed) {
          for (auto& p : hs.take_output()) (void)co_await write_packet(p);
          fail(ec, detail);
          co_return false;
        }
        break;
      }
      case handshake::next::send_then_read: {
        auto p = co_await read_packet(deadline);
        if (!p) {
          fail(close_reason_, "during the distribution handshake");
          co_return false;
        }
        next = hs.feed(*p);
        break;
      }
    }
  }
}

handshake::config make_config(const node::impl& n) {
  return {n.full_name, n.creation, flag::advertised(n.opts.hidden), n.cookie};
}

asio::awaitable<void> connection::dial() {
  auto self = shared_from_this();
  const auto deadline = clock::now() + n_.opts.net_setuptime;
  const auto name = parse_node_name(peer_);
  if (!name) {
    fail(make_error_code(errc::invalid_node_name), {});
    co_return;
  }
  query_options q;
  q.epmd_port = n_.opts.epmd_port;
  q.timeout = left_until(deadline);
  auto found = co_await port_please(w_.io.get_executor(), name->host, name->name, q);
  if (finished_) co_return;  // closed meanwhile (overloaded, replaced, the node stopping)
  if (!found) {
    fail(found.error().code, found.error().message());
    co_return;
  }
  endpoint_ = endpoint_text(name->host, found->port);
  tls::socket_options so;
  so.send_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(n_.opts.net_ticktime);
  so.wait_buffer = kWaitBuffer;
  if (n_.opts.proto == transport::tls) {
    auto s = co_await tls::socket::connect(w_.io.get_executor(), name->host, found->port,
                                           *n_.client_ctx, left_until(deadline), so);
    if (!s) {
      fail(s.error(), "TLS connection");
      co_return;
    }
    sock_.emplace(std::move(*s));
  } else {
    auto s = co_await tls::socket::connect_plain(w_.io.get_executor(), name->host, found->port,
                                                 left_until(deadline), so);
    if (!s) {
      fail(s.error(), "TCP connection");
      co_return;
    }
    sock_.emplace(std::move(*s));
  }
  if (finished_) {
    // Closed while it connected (overloaded, replaced, the node stopping): no handshake.
    close_socket();
    co_return;
  }
  if (std::string detail; !check_identity(detail)) {
    fail(make_error_code(errc::identity_mismatch), detail);
    co_return;
  }
  auto cfg = make_config(n_);
  cfg.still_wanted = [this] {
    return !finished_ && !winner_ && n_.existing_connection(peer_).get() == this;
  };
  auto hs = handshake::initiate(std::move(cfg), peer_);
  if (co_await run_handshake(hs)) go_up(hs.result());
}

asio::awaitable<void> connection::accept(asio::ip::tcp::socket tcp) {
  auto self = shared_from_this();
  boost::system::error_code ignored;
  const auto remote = tcp.remote_endpoint(ignored);
  endpoint_ =
      ignored ? std::string("?") : endpoint_text(remote.address().to_string(), remote.port());
  tls::socket_options so;
  so.send_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(n_.opts.net_ticktime);
  so.wait_buffer = kWaitBuffer;
  if (n_.opts.proto == transport::tls) {
    sock_.emplace(tls::socket::upgrade(std::move(tcp), *n_.server_ctx, {}, so));
    const auto ec = co_await sock_->handshake(n_.opts.net_setuptime);
    if (ec) {
      fail(ec, "TLS handshake");
      co_return;
    }
  } else {
    sock_.emplace(tls::socket::plain(std::move(tcp), so));
  }
  auto hs = handshake::accept(make_config(n_));
  if (co_await run_handshake(hs)) go_up(hs.result());
}

void connection::fail(std::error_code ec, const std::string& detail) {
  if (finished_) return;  // closed on purpose (replaced, stopping): not a refusal
  if (dialled_ && ec == make_error_code(errc::already_connected) && !waited_for_winner_) {
    // The peer answered nok (or keeps its connection): its own attempt to this node wins a
    // simultaneous connect. The messages queued here go over that one when it arrives
    // (hand_over_to); wait for it as long as a set-up may take.
    waited_for_winner_ = true;
    if (winner_) return;
    n_.log->debug("dist: '{}' is connecting to this node at the same time ({})", peer_, detail);
    close_socket();
    tick_timer_.emplace(w_.io);
    tick_timer_->expires_after(n_.opts.net_setuptime);
    tick_timer_->async_wait([self = shared_from_this(), ec, detail](boost::system::error_code) {
      if (!self->finished_ && !self->winner_)
        self->fail(ec, detail + "; its own connection did not come");
    });
    return;
  }
  if (!dialled_ && ec == make_error_code(errc::already_connected)) {
    // The other half of a simultaneous connect (this node's own attempt goes on): a race
    // both ends resolve, not a refusal to count or warn about.
    n_.log->info(
        "dist: '{}' dialled this node while this node dialled it; one connection is kept "
        "({})",
        peer_, detail);
    finish(ec);
    return;
  }
  n_.refused.fetch_add(1, std::memory_order_relaxed);
  if (dialled_)
    n_.dial_failures.log(*n_.log, spdlog::level::warn, [&](std::uint64_t suppressed) {
      return fmt::format("dist: could not connect to '{}'{}: {}{}{}", peer_,
                         endpoint_.empty() ? "" : " at " + endpoint_, ec.message(),
                         detail.empty() ? "" : " (" + detail + ")",
                         suppressed ? fmt::format(" ({} more not logged)", suppressed) : "");
    });
  else
    n_.refuse_log(peer_, endpoint_, ec, detail);
  finish(ec);
}

void connection::go_up(const handshake_result& r) {
  flags_ = r.flags;
  peer_creation_ = r.peer_creation;
  hidden_ = r.hidden;
  peer_atom_ = atom(peer_);
  // The rest of the stream is 4-byte frames of any size; keep what was read past the
  // handshake.
  std::vector<std::uint8_t> rest(in_.buffered_bytes().begin(), in_.buffered_bytes().end());
  in_.reset(frame_options(4, max_message));
  if (!rest.empty()) in_.feed(rest);
  {
    std::lock_guard lock(n_.conn_mu);
    auto it = n_.conns.find(peer_);
    if (it != n_.conns.end() && replaces_ && it->second == replaces_) {
      // The peer said its old connection is stale.
      it->second = shared_from_this();
    } else if (it == n_.conns.end() || it->second.get() != this) {
      // Replaced while finishing (a simultaneous connect the other attempt won).
      finish(make_error_code(errc::already_connected));
      return;
    }
    state_.store(state::up, std::memory_order_release);
  }
  if (replaces_) std::exchange(replaces_, nullptr)->close(make_error_code(errc::already_connected));
  // What was queued during the set-up goes first, before anything the up event's callback
  // sends; the limit is checked once the connection has been said up, so a close comes
  // after it.
  for (const auto& m : take_pending()) encode_queued(m);
  // Up is said before the reader starts: co_spawn runs it at once, and it may deliver what
  // arrived with the handshake before a later event would be seen.
  n_.log->info("dist: connected to '{}' ({}, {})", peer_, endpoint_,
               dialled_ ? "dialled" : "accepted");
  announcing_ = true;
  if (n_.opts.on_event) n_.opts.on_event(node_event{node_event::kind::up, peer_, hidden_, {}});
  announcing_ = false;
  if (current() == state::up && out_.size() > n_.opts.send_buffer_limit) overflow(out_.size());
  if (current() != state::up) return;  // closed by that, or by what the callback did
  auto self = shared_from_this();
  asio::co_spawn(
      w_.io, [self]() { return self->reader(); }, asio::detached);
  asio::co_spawn(
      w_.io, [self]() { return self->writer(); }, asio::detached);
  asio::co_spawn(
      w_.io, [self]() { return self->ticker(); }, asio::detached);
}

asio::awaitable<void> connection::reader() {
  auto self = shared_from_this();
  for (;;) {
    std::error_code ec;
    while (auto f = in_.next(ec)) {
      received_since_tick_ = true;
      if (!f->empty()) dispatch(*f);
      if (state_.load(std::memory_order_relaxed) == state::closed) co_return;
    }
    if (ec) {
      close(make_error_code(errc::malformed_message));
      co_return;
    }
    auto got = co_await sock_->recv_view(0);
    if (state_.load(std::memory_order_relaxed) == state::closed) co_return;
    if (!got) {
      close(got.error());
      co_return;
    }
    in_.feed(*got);
  }
}

asio::awaitable<void> connection::writer() {
  auto self = shared_from_this();
  for (;;) {
    if (state_.load(std::memory_order_relaxed) == state::closed) co_return;
    if (out_.empty()) {
      writer_waiting_ = true;
      co_await tls::detail::async_wait_in(writer_wake_, w_.io.get_executor(), asio::use_awaitable);
      writer_waiting_ = false;
      continue;
    }
    std::swap(out_, spare_);
    const auto ec = co_await sock_->send(std::span<const std::uint8_t>(spare_));
    spare_.clear();
    if (ec) {
      close(ec);
      co_return;
    }
  }
}

asio::awaitable<void> connection::ticker() {
  auto self = shared_from_this();
  tick_timer_.emplace(w_.io);
  const auto interval = std::chrono::duration_cast<clock::duration>(n_.opts.net_ticktime) / 4;
  for (;;) {
    tick_timer_->expires_after(interval);
    boost::system::error_code ec;
    co_await tick_timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (state_.load(std::memory_order_relaxed) == state::closed) co_return;
    if (received_since_tick_) {
      missed_ticks_ = 0;
    } else if (++missed_ticks_ >= 4) {
      // finish() logs it, once.
      close(make_error_code(errc::tick_timeout));
      co_return;
    }
    received_since_tick_ = false;
    if (!sent_since_tick_) {
      // A tick: an empty packet.
      out_.insert(out_.end(), {0, 0, 0, 0});
      if (writer_waiting_) writer_wake_.notify_one();
    }
    sent_since_tick_ = false;
  }
}

void connection::close(std::error_code reason) {
  asio::post(w_.io, [self = shared_from_this(), reason] { self->finish(reason); });
}

void connection::close_socket() {
  if (!sock_) return;
  auto s = std::make_shared<tls::socket>(std::move(*sock_));
  sock_.reset();
  asio::co_spawn(
      w_.io, [s]() -> asio::awaitable<void> { co_await s->close(std::chrono::seconds(1)); },
      asio::detached);
}

void connection::finish(std::error_code reason) {
  if (finished_) return;
  finished_ = true;
  const bool was_up = state_.load(std::memory_order_relaxed) == state::up;
  state_.store(state::closed, std::memory_order_release);
  if (!winner_ && reason == make_error_code(errc::already_connected)) {
    // Replaced by another connection to the same peer: that one carries what is queued.
    auto current = n_.existing_connection(peer_);
    if (current && current.get() != this) {
      winner_ = std::move(current);
      forward_.store(winner_.get(), std::memory_order_release);
    }
  }
  auto queued = take_pending();
  if (winner_)
    for (auto& m : queued) winner_->post_send(std::move(m));
  writer_wake_.notify_all();
  if (tick_timer_) tick_timer_->cancel();
  close_socket();
  // The links and monitors this connection carried break, unless the connection that took
  // it over carries them on (its end breaks them).
  const bool listed = n_.forget(shared_from_this());
  if ((listed || was_up) && !peer_.empty() && !absorbed_.load(std::memory_order_acquire))
    n_.node_down(peer_, covers_);
  if (was_up) {
    const bool quiet = reason == make_error_code(tls::errc::closed) || n_.stopping.load();
    if (reason == make_error_code(errc::disconnected))
      n_.log->info("dist: connection to '{}' closed: {}", peer_, reason.message());
    else if (quiet)
      n_.log->info("dist: connection to '{}' closed", peer_);
    else
      n_.log->warn("dist: connection to '{}' lost: {}", peer_, reason.message());
    if (n_.opts.on_event)
      n_.opts.on_event(node_event{node_event::kind::down, peer_, hidden_, reason});
  }
}

}  // namespace moat::dist::detail
