#include "server/proxy_protocol.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

namespace moat::server::proxy {
namespace {

namespace ip = boost::asio::ip;
using status = result::status;

constexpr std::array<std::uint8_t, 12> kV2Signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV1Max = 107;

result invalid(const char* why) {
  result r;
  r.state = status::invalid;
  r.reason = why;
  return r;
}

bool parse_port(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

result parse_v1(std::span<const std::uint8_t> data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()),
                              std::min(data.size(), kV1Max));
  const auto crlf = text.find("\r\n");
  if (crlf == std::string_view::npos) {
    if (data.size() >= kV1Max) return invalid("PROXY v1 header longer than 107 bytes");
    return {};
  }
  std::string_view line = text.substr(kV1Prefix.size(), crlf - kV1Prefix.size());
  std::array<std::string_view, 5> f{};
  std::size_t n = 0;
  while (!line.empty()) {
    const auto sp = line.find(' ');
    if (n == f.size()) return invalid("PROXY v1 header has too many fields");
    f[n++] = line.substr(0, sp);
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  result r;
  r.state = status::done;
  r.header_length = crlf + 2;
  if (n >= 1 && f[0] == "UNKNOWN") return r;
  if (n != 5 || (f[0] != "TCP4" && f[0] != "TCP6")) {
    return invalid("PROXY v1 header is not 'PROXY TCP4|TCP6 src dst sport dport'");
  }
  boost::system::error_code ec1;
  boost::system::error_code ec2;
  const auto src = ip::make_address(std::string(f[1]), ec1);
  const auto dst = ip::make_address(std::string(f[2]), ec2);
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  if (ec1 || ec2 || !parse_port(f[3], sport) || !parse_port(f[4], dport)) {
    return invalid("PROXY v1 header has a malformed address or port");
  }
  // TCP4: both addresses IPv4; TCP6: both IPv6 (not only "not both IPv4").
  const bool v4 = f[0] == "TCP4";
  if (src.is_v4() != v4 || dst.is_v4() != v4) {
    return invalid("PROXY v1 header's addresses do not match its protocol");
  }
  r.source = ip::tcp::endpoint(src, sport);
  r.destination = ip::tcp::endpoint(dst, dport);
  return r;
}

result parse_v2(std::span<const std::uint8_t> data) {
  if (data.size() < 16) return {};
  const std::uint8_t ver_cmd = data[12];
  const std::uint8_t family = data[13];
  const std::size_t len = static_cast<std::size_t>(data[14]) << 8 | data[15];
  if ((ver_cmd & 0xF0) != 0x20) return invalid("PROXY v2 header has an unknown version");
  const std::uint8_t cmd = ver_cmd & 0x0F;
  if (cmd > 1) return invalid("PROXY v2 header has an unknown command");
  if (len > max_header - 16) return invalid("PROXY v2 header is too long");
  if (data.size() < 16 + len) return {};
  result r;
  r.state = status::done;
  r.header_length = 16 + len;
  if (cmd == 0) return r;  // LOCAL: the proxy's own connection (health check)
  const auto body = data.subspan(16, len);
  auto port_at = [&](std::size_t i) {
    return static_cast<std::uint16_t>(body[i] << 8 | body[i + 1]);
  };
  switch (family) {
    case 0x11: {  // TCP over IPv4
      if (len < 12) return invalid("PROXY v2 IPv4 address block is truncated");
      ip::address_v4::bytes_type s{};
      ip::address_v4::bytes_type d{};
      std::memcpy(s.data(), body.data(), 4);
      std::memcpy(d.data(), body.data() + 4, 4);
      r.source = ip::tcp::endpoint(ip::address_v4(s), port_at(8));
      r.destination = ip::tcp::endpoint(ip::address_v4(d), port_at(10));
      return r;
    }
    case 0x21: {  // TCP over IPv6
      if (len < 36) return invalid("PROXY v2 IPv6 address block is truncated");
      ip::address_v6::bytes_type s{};
      ip::address_v6::bytes_type d{};
      std::memcpy(s.data(), body.data(), 16);
      std::memcpy(d.data(), body.data() + 16, 16);
      r.source = ip::tcp::endpoint(ip::address_v6(s), port_at(32));
      r.destination = ip::tcp::endpoint(ip::address_v6(d), port_at(34));
      return r;
    }
    case 0x00:  // UNSPEC
      return r;
    default:
      return invalid("PROXY v2 header has an unsupported address family (only TCP)");
  }
}

}  // namespace

result parse(std::span<const std::uint8_t> data) noexcept {
  if (data.empty()) return {};
  if (data[0] == kV2Signature[0]) {
    const std::size_t k = std::min(data.size(), kV2Signature.size());
    if (!std::equal(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(k),
                    kV2Signature.begin())) {
      return invalid("not a PROXY protocol header");
    }
    return parse_v2(data);
  }
  const std::size_t k = std::min(data.size(), kV1Prefix.size());
  if (std::string_view(reinterpret_cast<const char*>(data.data()), k) != kV1Prefix.substr(0, k)) {
    return invalid("not a PROXY protocol header");
  }
  if (data.size() < kV1Prefix.size()) return {};
  try {
    return parse_v1(data);
  } catch (...) {
    return invalid("PROXY v1 header could not be parsed");
  }
}

}  // namespace moat::server::proxy
