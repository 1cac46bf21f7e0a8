// The EPMD client: one TCP connection per request (kept open for a registration), the bytes
// built and parsed by epmd_wire, each operation bounded by its timeout as a whole (resolve,
// connect, request, reply).
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <span>

#include "dist/epmd_wire.hpp"
#include "moat/dist/epmd.hpp"
#include "moat/tls/detail/with_timeout.hpp"

namespace moat::dist {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
namespace wire = epmd_wire;

struct registration::state {
  explicit state(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::string name{};
  std::string epmd{};
  std::uint32_t creation = 0;
  bool closed_by_us = false;
};

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// Which EPMD an operation talks to, for its errors.
struct target {
  std::string host;
  std::uint16_t port = 0;
  [[nodiscard]] epmd_error error(epmd_errc code, std::string detail = {}) const {
    return epmd_error{make_error_code(code), host, port, std::move(detail)};
  }
};

std::string unbracketed(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// Connects to the first address of the host that accepts. not_running when every address
// refused: nothing listens there.
awaitable<epmd_result<tcp::socket>> connect_to(asio::any_io_executor ex, const target& t) {
  std::vector<tcp::endpoint> endpoints;
  boost::system::error_code ec;
  const std::string host = unbracketed(t.host);
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoints.emplace_back(address, t.port);
  } else {
    tcp::resolver resolver(ex);
    const std::string service = std::to_string(t.port);
    auto [rec, results] = co_await resolver.async_resolve(
        host, service, tcp::resolver::numeric_service, tuple_awaitable);
    if (rec) co_return t.error(epmd_errc::host_not_found, rec.message());
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  boost::system::error_code last;
  bool all_refused = true;
  for (const auto& endpoint : endpoints) {
    tcp::socket socket(ex);
    auto [cec] = co_await socket.async_connect(endpoint, tuple_awaitable);
    if (!cec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      co_return std::move(socket);
    }
    last = cec;
    if (cec != asio::error::connection_refused) all_refused = false;
  }
  if (endpoints.empty()) co_return t.error(epmd_errc::host_not_found, "no address");
  if (all_refused) co_return t.error(epmd_errc::not_running);
  co_return t.error(epmd_errc::unreachable, last.message());
}

// Writes `request`, then reads until `parse(bytes, at_end)` says complete or malformed, or the
// connection ends.
template <class T, class Parse>
awaitable<epmd_result<T>> exchange(tcp::socket& socket, const target& t, const wire::bytes& request,
                                   Parse parse) {
  auto [wec, written] = co_await asio::async_write(socket, asio::buffer(request), tuple_awaitable);
  if (wec) co_return t.error(epmd_errc::unreachable, "sending the request: " + wec.message());
  wire::bytes received;
  std::array<std::uint8_t, 2048> chunk{};
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), tuple_awaitable);
    received.insert(received.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    const bool at_end = static_cast<bool>(ec);  // EOF, or a reset: no more bytes either way
    auto p = parse(std::span<const std::uint8_t>(received), at_end);
    if (p.state == wire::parse_state::complete) co_return std::move(p.value);
    if (p.state == wire::parse_state::malformed) {
      co_return t.error(epmd_errc::malformed_reply, p.why);
    }
    if (at_end) {
      if (received.empty()) co_return t.error(epmd_errc::no_reply);
      co_return t.error(
          epmd_errc::malformed_reply,
          "the connection ended after " + std::to_string(received.size()) + " bytes of a reply");
    }
  }
}

template <class T>
awaitable<epmd_result<T>> bounded(awaitable<epmd_result<T>> op, std::chrono::milliseconds timeout,
                                  const target& t) {
  auto r = co_await tls::detail::with_timeout(std::move(op), timeout);
  if (!r) {
    co_return t.error(epmd_errc::timeout,
                      "no complete answer within " + std::to_string(timeout.count()) + " ms");
  }
  co_return std::move(*r);
}

awaitable<epmd_result<registration>> do_register(asio::any_io_executor ex, target t,
                                                 wire::node_fields fields) {
  auto socket = co_await connect_to(ex, t);
  if (!socket) co_return socket.error();
  const auto request = wire::encode_alive2_request(fields);
  auto reply = co_await exchange<wire::alive2_reply>(
      *socket, t, request,
      [](std::span<const std::uint8_t> in, bool) { return wire::parse_alive2_reply(in); });
  if (!reply) co_return reply.error();
  if (reply->result != 0) {
    co_return t.error(epmd_errc::name_taken,
                      "'" + fields.name + "' (result " + std::to_string(reply->result) + ")");
  }
  auto s = std::make_shared<registration::state>(std::move(*socket));
  s->name = std::move(fields.name);
  s->epmd = t.host + ":" + std::to_string(t.port);
  s->creation = reply->creation;
  co_return registration(std::move(s));
}

awaitable<epmd_result<epmd_node>> do_port_please(asio::any_io_executor ex, target t,
                                                 std::string name, std::uint16_t lowest_version) {
  auto socket = co_await connect_to(ex, t);
  if (!socket) co_return socket.error();
  const auto request = wire::encode_port_please2_request(name);
  auto reply = co_await exchange<wire::port2_reply>(
      *socket, t, request,
      [](std::span<const std::uint8_t> in, bool) { return wire::parse_port2_reply(in); });
  if (!reply) co_return reply.error();
  if (reply->result != 0) co_return t.error(epmd_errc::not_registered, "'" + name + "'");
  auto& f = reply->node;
  if (f.highest_version < lowest_version) {
    co_return t.error(epmd_errc::protocol_too_old, "'" + name + "' speaks versions " +
                                                       std::to_string(f.lowest_version) + " to " +
                                                       std::to_string(f.highest_version));
  }
  co_return epmd_node{std::move(f.name), f.port,           f.node_type,       f.protocol,
                      f.highest_version, f.lowest_version, std::move(f.extra)};
}

awaitable<epmd_result<std::vector<epmd_name>>> do_names(asio::any_io_executor ex, target t) {
  auto socket = co_await connect_to(ex, t);
  if (!socket) co_return socket.error();
  const auto request = wire::encode_command(wire::names_req);
  auto reply = co_await exchange<wire::names_reply>(*socket, t, request, wire::parse_names_reply);
  if (!reply) co_return reply.error();
  std::vector<epmd_name> out;
  out.reserve(reply->names.size());
  for (auto& [n, p] : reply->names) out.push_back(epmd_name{std::move(n), p});
  co_return out;
}

}  // namespace

registration::registration(std::shared_ptr<state> s) noexcept : state_(std::move(s)) {}
registration::registration(registration&&) noexcept = default;
registration& registration::operator=(registration&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}
registration::~registration() {
  close();
}

bool registration::open() const noexcept {
  return state_ && state_->socket.is_open();
}
std::uint32_t registration::creation() const noexcept {
  return state_ ? state_->creation : 0;
}
const std::string& registration::name() const noexcept {
  static const std::string none;
  return state_ ? state_->name : none;
}
std::string registration::epmd() const {
  return state_ ? state_->epmd : std::string();
}

void registration::close() noexcept {
  if (!state_) return;
  state_->closed_by_us = true;
  boost::system::error_code ignored;
  state_->socket.close(ignored);
}

awaitable<std::error_code> registration::wait_lost() {
  const auto s = state_;  // the wait keeps the connection's state alive
  if (!s || !s->socket.is_open()) co_return epmd_errc::unregistered;
  std::array<std::uint8_t, 64> sink{};
  (void)co_await s->socket.async_read_some(asio::buffer(sink), tuple_awaitable);
  if (s->closed_by_us) co_return epmd_errc::unregistered;
  // EOF, a reset, or bytes EPMD never sends on a registration: either way it is over (epmd
  // itself drops a name whose connection sends anything).
  boost::system::error_code ignored;
  s->socket.close(ignored);
  co_return epmd_errc::connection_lost;
}

awaitable<epmd_result<registration>> register_node(asio::any_io_executor ex, std::string name,
                                                   std::uint16_t listen_port,
                                                   register_options options) {
  const target t{options.host, epmd_port(options.epmd_port)};
  if (!wire::valid_name(name)) co_return t.error(epmd_errc::invalid_name, "'" + name + "'");
  if (options.extra.size() > wire::max_symbol_bytes) {
    co_return t.error(epmd_errc::invalid_name,
                      "the extra field has " + std::to_string(options.extra.size()) + " bytes");
  }
  wire::node_fields fields;
  fields.port = listen_port;
  fields.node_type = options.hidden ? node_type_hidden : node_type_normal;
  fields.protocol = options.protocol;
  fields.highest_version = options.highest_version;
  fields.lowest_version = options.lowest_version;
  fields.name = std::move(name);
  fields.extra = std::move(options.extra);
  co_return co_await bounded(do_register(ex, t, std::move(fields)), options.timeout, t);
}

awaitable<epmd_result<epmd_node>> port_please(asio::any_io_executor ex, std::string host,
                                              std::string name, query_options options) {
  const target t{std::move(host), epmd_port(options.epmd_port)};
  if (!wire::valid_name(name)) co_return t.error(epmd_errc::invalid_name, "'" + name + "'");
  co_return co_await bounded(do_port_please(ex, t, std::move(name), options.lowest_version),
                             options.timeout, t);
}

awaitable<epmd_result<std::vector<epmd_name>>> names(asio::any_io_executor ex, std::string host,
                                                     query_options options) {
  const target t{std::move(host), epmd_port(options.epmd_port)};
  co_return co_await bounded(do_names(ex, t), options.timeout, t);
}

}  // namespace moat::dist
