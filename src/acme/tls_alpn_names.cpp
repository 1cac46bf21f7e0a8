// Names shared by both sides of TLS-ALPN-01 (see tls_alpn_names.hpp).
#include "acme/tls_alpn_names.hpp"

#include <boost/asio/ip/address.hpp>
#include <cctype>

namespace moat::acme::detail {

namespace net = boost::asio;

std::string reverse_dns_name(std::string_view address) {
  boost::system::error_code ec;
  const auto a = net::ip::make_address(std::string(address), ec);
  if (ec) return std::string(address);
  std::string out;
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    for (auto it = b.rbegin(); it != b.rend(); ++it) out += std::to_string(*it) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char hex[] = "0123456789abcdef";
  const auto b = a.to_v6().to_bytes();
  for (auto it = b.rbegin(); it != b.rend(); ++it) {
    out += hex[*it & 15U];
    out += '.';
    out += hex[*it >> 4U];
    out += '.';
  }
  return out + "ip6.arpa";
}

std::string validation_server_name(const identifier& id) {
  if (id.type == "ip") return reverse_dns_name(id.value);
  std::string n = id.value;
  for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n;
}

}  // namespace moat::acme::detail
