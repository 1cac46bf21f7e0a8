// The redirect server of an HTTP port (seed 4): everything to https://, path and query kept.
#include <fmt/format.h>

#include <moat/http/router.hpp>

#include "http/target.hpp"

namespace moat::http {

namespace bhttp = boost::beast::http;

router https_redirect(std::uint16_t https_port) {
  router r;
  r.add_prefix("/", [https_port](const incoming& in) -> boost::asio::awaitable<response> {
    if (in.host.empty()) co_return make_response(bhttp::status::bad_request, "no Host header\n");
    // The path as it was sent (its escapes kept): the server has checked it already.
    auto t = detail::analyse_target(in.message);
    const std::string path = t && t->encoded_path.starts_with('/') ? t->encoded_path : "/";
    std::string location = fmt::format("https://{}", in.host);
    if (https_port != 443) location += fmt::format(":{}", https_port);
    location += path;
    if (!in.query.empty()) location += fmt::format("?{}", in.query);
    const auto method = in.message.method();
    const auto status = method == bhttp::verb::get || method == bhttp::verb::head
                            ? bhttp::status::moved_permanently
                            : bhttp::status::permanent_redirect;
    auto res = make_response(status, fmt::format("moved to {}\n", location));
    res.set(bhttp::field::location, location);
    co_return res;
  });
  return r;
}

}  // namespace moat::http
