#pragma once
// Internal: the CA's validation of challenges -- HTTP-01 (RFC 8555 section 8.3), TLS-ALPN-01
// (RFC 8737, RFC 8738 section 6 for IP addresses) and DNS-01 through the options' hook --
// run as a coroutine on the CA's executor, which then updates the challenge, its
// authorization and (through the status machine) the orders.
#include <memory>
#include <moat/acme/ca.hpp>
#include <string>

namespace moat::acme::detail {

/// Starts validating challenge `challenge_id` (already set to processing by the caller).
void start_validation(std::shared_ptr<ca::state> st, std::string challenge_id);

}  // namespace moat::acme::detail
