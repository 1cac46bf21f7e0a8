#pragma once
// Internal: what a server takes from a request's target and Host header, without I/O -- the
// decoded path, the raw query and the host -- and the checks that make a request acceptable
// (RFC 9112 section 3.2, RFC 9110 section 7.2).

#include <moat/http/message.hpp>
#include <string>
#include <string_view>

namespace moat::http::detail {

/// The parts of a request's target and host.
struct request_target {
  std::string path;          ///< percent-decoded, dot segments removed
  std::string encoded_path;  ///< as sent (dot segments removed), for redirects
  std::string query;         ///< raw, without '?'
  std::string host;          ///< lower case, no port; an IPv6 literal keeps its brackets
};

/// The target and host of `m`, or errc::malformed_message: a target in no form the server
/// takes (origin-form, absolute-form with http or https, "*" for OPTIONS), a path that
/// decodes to a NUL, an HTTP/1.1 request without exactly one Host, or a Host that is not a
/// host with an optional port.
[[nodiscard]] result<request_target> analyse_target(const request_message& m);

}  // namespace moat::http::detail
