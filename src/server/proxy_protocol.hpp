#pragma once
// The PROXY protocol (HAProxy, versions 1 and 2): the header a load balancer sends before the
// TLS ClientHello to say who the real client is. A pure parser: bytes in, result out.

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>

namespace moat::server::proxy {

/// Outcome of parsing the start of a connection.
struct result {
  enum class status { need_more, done, invalid } state = status::need_more;
  std::size_t header_length = 0;  ///< bytes to consume (done)
  /// The client and the address it connected to, as the proxy saw them; empty for LOCAL
  /// commands (health checks) and "PROXY UNKNOWN".
  std::optional<boost::asio::ip::tcp::endpoint> source;
  std::optional<boost::asio::ip::tcp::endpoint> destination;
  const char* reason = "";  ///< why it is invalid
};

/// The most bytes either version's header can take before it must be complete (v1: 107;
/// v2: 16 + 65535, but moat accepts at most 16 + 512 of address and TLV data).
inline constexpr std::size_t max_header = 16 + 512;

/// Parses the bytes received so far.
[[nodiscard]] result parse(std::span<const std::uint8_t> data) noexcept;

}  // namespace moat::server::proxy
