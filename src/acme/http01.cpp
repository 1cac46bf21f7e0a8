// HTTP-01 (RFC 8555 section 8.3): the responder's route, and a standalone server for it.
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <moat/acme/solver.hpp>

#include "acme/fetch_tracker.hpp"

namespace moat::acme {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;

struct http01_responder::state : detail::fetch_tracker<std::string> {};

http01_responder::http01_responder() : state_(std::make_shared<state>()) {}
http01_responder::~http01_responder() = default;

bool http01_responder::can_solve(const identifier& id) const {
  return (id.type == "dns" && !id.value.starts_with("*.")) || id.type == "ip";
}

net::awaitable<void> http01_responder::present(const challenge_task& task) {
  state_->add(task.token, task.key_authorization);
  co_return;
}

net::awaitable<bool> http01_responder::wait_fetched(const challenge_task& task,
                                                    std::chrono::milliseconds max) {
  co_return co_await state_->wait(task.token, max);
}

net::awaitable<void> http01_responder::cleanup(const challenge_task& task) {
  state_->remove(task.token);
  co_return;
}

http::route_handler http01_responder::handler() {
  // The route holds the state, not the responder: a request racing the responder's end
  // finds no token instead of freed memory.
  return [st = state_](const http::incoming& in) -> net::awaitable<http::response> {
    http::response res;
    res.version(11);
    const std::string_view path = in.path;
    std::optional<std::string> key_authorization;
    if (path.starts_with(path_prefix) &&
        (in.message.method() == bhttp::verb::get || in.message.method() == bhttp::verb::head)) {
      key_authorization = st->fetch(std::string(path.substr(path_prefix.size())));
    }
    if (key_authorization) {
      res.result(bhttp::status::ok);
      res.set(bhttp::field::content_type, "application/octet-stream");
      res.body() = std::move(*key_authorization);
    } else {
      res.result(bhttp::status::not_found);
      res.set(bhttp::field::content_type, "text/plain");
      res.body() = "no such challenge\n";
    }
    res.prepare_payload();
    co_return res;
  };
}

http01_server::http01_server(std::vector<net::ip::tcp::endpoint> addresses,
                             std::shared_ptr<spdlog::logger> logger) {
  http::server_options o;
  o.listener.name = "acme-http-01";
  o.listener.addresses = std::move(addresses);
  o.listener.workers = 1;
  o.listener.max_connections = 256;
  o.listener.shutdown_grace = std::chrono::milliseconds(1000);
  o.listener.logger = std::move(logger);
  o.max_body_bytes = 0;
  o.header_timeout = std::chrono::seconds(10);
  http::router r;
  r.add_prefix(std::string(path_prefix), handler());
  server_ = std::make_unique<http::server>(std::move(o), std::move(r));
  server_->start();
}

http01_server::~http01_server() {
  if (server_) server_->stop();
}

std::vector<net::ip::tcp::endpoint> http01_server::local_endpoints() const {
  return server_->local_endpoints();
}

}  // namespace moat::acme
