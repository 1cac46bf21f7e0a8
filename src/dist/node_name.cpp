#include "moat/dist/node_name.hpp"

#include <netdb.h>
#include <unistd.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <memory>

#include "moat/dist/errors.hpp"
#include "moat/error.hpp"

namespace moat::dist {
namespace {

bool valid_alive(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '@') return false;
  }
  return true;
}

bool is_ip_address(std::string_view host) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(std::string(host), ec);
  return !ec;
}

// This machine's host name as `erl` finds it: the kernel's name, and for long names its
// canonical (fully qualified) name from the resolver.
std::string this_host(name_mode mode) {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string host = buf.data();
  if (mode == name_mode::short_names) return host.substr(0, host.find('.'));
  if (host.find('.') != std::string::npos) return host;
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) == 0 && found != nullptr) {
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, &::freeaddrinfo);
    if (found->ai_canonname != nullptr) host = found->ai_canonname;
  }
  return host;
}

}  // namespace

std::string endpoint_text(std::string_view host, unsigned port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string out;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  return out + ":" + std::to_string(port);
}

bool host_fits(std::string_view host, name_mode mode) {
  if (mode == name_mode::short_names) return host.find('.') == std::string_view::npos;
  return host.find('.') != std::string_view::npos || is_ip_address(host);
}

std::optional<node_name> parse_node_name(std::string_view full) {
  const auto at = full.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  node_name n{std::string(full.substr(0, at)), std::string(full.substr(at + 1))};
  if (!valid_alive(n.name) || !valid_host(n.host)) return std::nullopt;
  return n;
}

node_name make_local_name(std::string_view given, name_mode mode, std::string_view option) {
  const std::string subject = std::string(option) + " '" + std::string(given) + "'";
  node_name n;
  if (given.find('@') == std::string_view::npos) {
    if (!valid_alive(given)) throw config_error(subject, errc::invalid_node_name);
    n = node_name{std::string(given), this_host(mode)};
    if (!host_fits(n.host, mode))
      throw config_error(subject, errc::name_mode_mismatch,
                         "this machine's host name is '" + n.host + "'; give name@host");
    return n;
  }
  auto parsed = parse_node_name(given);
  if (!parsed) throw config_error(subject, errc::invalid_node_name);
  if (!host_fits(parsed->host, mode))
    throw config_error(subject, errc::name_mode_mismatch,
                       mode == name_mode::short_names ? "use long names for a dotted host"
                                                      : "use short names for a plain host");
  return *parsed;
}

}  // namespace moat::dist
