#pragma once
// Internal: what both sides of TLS-ALPN-01 (RFC 8737) agree on -- the client's responder
// (tls_alpn01.cpp) and the CA's validator (ca_validate.cpp): the acmeIdentifier extension's
// OID and the name a validation handshake carries in its SNI.
#include <moat/acme/resources.hpp>
#include <string>
#include <string_view>

namespace moat::acme::detail {

/// The OID of RFC 8737's acmeIdentifier extension (id-pe-acmeIdentifier).
inline constexpr const char* acme_identifier_oid = "1.3.6.1.5.5.7.1.31";

/// The reverse-DNS name of an IP address ("1.0.0.127.in-addr.arpa",
/// "...8.b.d.0.1.0.0.2.ip6.arpa"), RFC 8738 section 6; `address` itself if it is not one.
[[nodiscard]] std::string reverse_dns_name(std::string_view address);

/// The SNI name of a TLS-ALPN-01 validation for `id`: a DNS name lower-cased, an IP address's
/// reverse-DNS name.
[[nodiscard]] std::string validation_server_name(const identifier& id);

}  // namespace moat::acme::detail
