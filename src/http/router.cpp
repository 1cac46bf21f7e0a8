// The route table (router.hpp): exact paths by method, then the longest prefix.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <moat/error.hpp>
#include <moat/http/router.hpp>
#include <vector>

namespace moat::http {

namespace bhttp = boost::beast::http;

namespace {

void check(const std::string& what, const std::string& path, const route_handler& h) {
  auto bad = [&](const std::string& why) {
    throw config_error(what, std::make_error_code(std::errc::invalid_argument), why);
  };
  if (path.empty() || path.front() != '/') bad("a path starts with '/'");
  if (!h) bad("no handler given");
}

std::string method_text(bhttp::verb v) {
  const auto s = bhttp::to_string(v);
  return {s.data(), s.size()};
}

}  // namespace

router& router::add(bhttp::verb method, std::string path, route_handler h) {
  const auto what = fmt::format("route '{} {}'", method_text(method), path);
  check(what, path, h);
  if (method == bhttp::verb::unknown) {
    throw config_error(what, std::make_error_code(std::errc::invalid_argument), "unknown method");
  }
  auto& methods = exact_[path];
  if (!methods.emplace(method, std::move(h)).second) {
    throw config_error(what, std::make_error_code(std::errc::file_exists),
                       "this method and path already have a handler");
  }
  return *this;
}

router& router::add_prefix(std::string prefix, route_handler h) {
  const auto what = fmt::format("prefix route '{}'", prefix);
  check(what, prefix, h);
  const auto same = [&](const auto& e) {
    return e.first == prefix;
  };
  if (std::any_of(prefixes_.begin(), prefixes_.end(), same)) {
    throw config_error(what, std::make_error_code(std::errc::file_exists),
                       "this prefix already has a handler");
  }
  prefixes_.emplace_back(std::move(prefix), std::move(h));
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return *this;
}

router::match_result router::match(bhttp::verb method, std::string_view path) const {
  match_result r;
  if (auto it = exact_.find(path); it != exact_.end()) {
    const auto& methods = it->second;
    if (auto m = methods.find(method); m != methods.end()) {
      r.handler = &m->second;
      return r;
    }
    if (method == bhttp::verb::head) {
      if (auto g = methods.find(bhttp::verb::get); g != methods.end()) {
        r.handler = &g->second;
        return r;
      }
    }
    std::vector<std::string> allowed;
    for (const auto& [v, h] : methods) {
      allowed.push_back(method_text(v));
      if (v == bhttp::verb::get && !methods.contains(bhttp::verb::head))
        allowed.emplace_back("HEAD");
    }
    std::sort(allowed.begin(), allowed.end());
    r.status = bhttp::status::method_not_allowed;
    r.allow = fmt::format("{}", fmt::join(allowed, ", "));
    return r;
  }
  for (const auto& [prefix, h] : prefixes_) {
    if (path.starts_with(prefix)) {
      r.handler = &h;
      return r;
    }
  }
  r.status = bhttp::status::not_found;
  return r;
}

boost::asio::awaitable<response> router::dispatch(const incoming& in) const {
  const auto m = match(in.message.method(), in.path);
  if (m.handler != nullptr) co_return co_await (*m.handler)(in);
  if (m.status == bhttp::status::method_not_allowed) {
    auto r = make_response(m.status, "method not allowed\n");
    r.set(bhttp::field::allow, m.allow);
    co_return r;
  }
  co_return make_response(m.status, "not found\n");
}

}  // namespace moat::http
