#include "dist/identity.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <string>

namespace moat::dist::detail {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool dns_matches(std::string pattern, const std::string& host) {
  pattern = lower(pattern);
  if (pattern == host) return true;
  // "*.example.com" names exactly one label in front of example.com, never the bare domain,
  // and never an IP address.
  if (pattern.size() < 3 || pattern[0] != '*' || pattern[1] != '.') return false;
  const auto dot = host.find('.');
  if (dot == std::string::npos || dot == 0) return false;
  return host.substr(dot) == pattern.substr(1) && pattern.find('.', 2) != std::string::npos;
}

}  // namespace

bool certificate_names_host(const pki::certificate& cert, std::string_view host_in) {
  if (cert.empty() || host_in.empty()) return false;
  const std::string host = lower(host_in);
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  const bool is_ip = !ec;
  for (const auto& san : cert.subject_alt_names()) {
    if (is_ip && san.rfind("IP:", 0) == 0) {
      boost::system::error_code ec2;
      const auto listed = boost::asio::ip::make_address(san.substr(3), ec2);
      if (!ec2 && listed == address) return true;
    } else if (!is_ip && san.rfind("DNS:", 0) == 0) {
      if (dns_matches(san.substr(4), host)) return true;
    }
  }
  return false;
}

}  // namespace moat::dist::detail
