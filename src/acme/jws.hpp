#pragma once
// Internal: JSON Web Signatures as ACME uses them (RFC 8555 section 6.2): the flattened JSON
// serialization, "alg" from the key, "url", "nonce", and "kid" or "jwk". No I/O.
#include <cstdint>
#include <moat/pki/key.hpp>
#include <span>
#include <string>
#include <string_view>

namespace moat::acme::detail {

/// Signs `payload` (the exact bytes; empty for POST-as-GET) for `url`. With an empty `kid`
/// the protected header carries the public key as "jwk" (newAccount, revocation by the
/// certificate's key, key rollover's inner JWS); with an empty `nonce` it has no nonce (only
/// the inner JWS of a key rollover). Returns the JWS as JSON text.
[[nodiscard]] std::string sign_jws(const pki::private_key& key, std::string_view url,
                                   std::string_view nonce, std::string_view kid,
                                   std::string_view payload);

/// The externalAccountBinding member of a newAccount payload (RFC 8555 section 7.3.4): an
/// HS256 JWS of the account's public JWK under the CA-provided MAC key. Returns JSON text.
[[nodiscard]] std::string sign_external_account_binding(std::string_view key_id,
                                                        std::span<const std::uint8_t> mac_key,
                                                        std::string_view url,
                                                        const pki::private_key& account_key);

/// RFC 7638 thumbprint of the key's public JWK, base64url.
[[nodiscard]] std::string jwk_thumbprint(const pki::private_key& key);

}  // namespace moat::acme::detail
