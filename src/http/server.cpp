// The HTTP server: checks its options and runs serve_connection on a supervised listener, over
// TLS or plain TCP.
#include <moat/error.hpp>
#include <moat/http/server.hpp>
#include <moat/log.hpp>

#include "http/server_state.hpp"

namespace moat::http {

namespace {

void validate(const server_options& o) {
  auto bad = [](const char* option, const std::string& why) {
    throw config_error(option, std::make_error_code(std::errc::invalid_argument), why);
  };
  using std::chrono::milliseconds;
  if (o.max_header_bytes == 0) bad("max_header_bytes", "must be at least 1");
  if (o.header_timeout <= milliseconds(0)) bad("header_timeout", "must be positive");
  if (o.body_timeout <= milliseconds(0)) bad("body_timeout", "must be positive");
  if (o.keep_alive_timeout <= milliseconds(0)) bad("keep_alive_timeout", "must be positive");
  if (o.max_requests_per_connection == 0) bad("max_requests_per_connection", "must be at least 1");
  if (o.listener.socket.packet != framing::packet_mode::raw) {
    bad("listener.socket.packet", "an HTTP server reads raw bytes: leave the packet mode raw");
  }
  if (o.listener.socket.active.mode != framing::delivery::passive) {
    bad("listener.socket.active", "an HTTP server reads in passive mode: leave it passive");
  }
}

}  // namespace

server::server(server_options opts, router routes) {
  validate(opts);
  state_ = std::make_shared<state>();
  state_->log = opts.listener.logger ? opts.listener.logger : default_logger();
  // Offer HTTP/1.1 by ALPN unless told otherwise.
  if (opts.tls && opts.tls->alpn.empty()) opts.tls->alpn = {"http/1.1"};
  state_->opts = std::move(opts);
  state_->routes = std::move(routes);
  std::shared_ptr<const state> shared = state_;
  moat::server::coroutine_handler h = [shared](moat::server::connection& c) {
    return detail::serve_connection(*shared, c);
  };
  const auto& o = state_->opts;
  if (o.tls) {
    listener_ = std::make_unique<moat::server::listener>(o.listener, *o.tls, std::move(h));
  } else {
    listener_ =
        std::make_unique<moat::server::listener>(o.listener, moat::server::plain_tcp, std::move(h));
  }
}

server::~server() = default;

void server::start() {
  listener_->start();
}
void server::stop() {
  listener_->stop();
}
void server::wait() {
  listener_->wait();
}
std::vector<boost::asio::ip::tcp::endpoint> server::local_endpoints() const {
  return listener_->local_endpoints();
}
moat::server::stats server::get_stats() const {
  return listener_->get_stats();
}
std::vector<moat::server::connection_summary> server::connections() const {
  return listener_->connections();
}
bool server::is_tls() const noexcept {
  return listener_->is_tls();
}
void server::reload(tls::options tls_opts) {
  if (tls_opts.alpn.empty()) tls_opts.alpn = {"http/1.1"};
  listener_->reload(std::move(tls_opts));
}

}  // namespace moat::http
