#pragma once
// A node's identity is bound to its certificate: a peer claiming `name@host` must present a
// verified certificate whose subject alternative names name `host` (a DNS name, a wildcard in
// the leftmost label as TLS allows, or an IP address). The common name is not consulted.

#include <string_view>

#include "moat/pki/certificate.hpp"

namespace moat::dist::detail {

/// Whether `cert`'s subject alternative names name `host`.
[[nodiscard]] bool certificate_names_host(const pki::certificate& cert, std::string_view host);

}  // namespace moat::dist::detail
