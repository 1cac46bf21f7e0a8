#pragma once
// Internal: the CA's checks of a JWS request (RFC 8555 section 6.2), without I/O: the
// flattened JSON serialization, the protected header (alg allow-list, nonce, url, kid xor
// jwk), the signature, and the inner JWS of a key rollover and of an External Account
// Binding. Every refusal is a ca_failure with the RFC 8555 problem type.
#include <boost/json/value.hpp>
#include <cstdint>
#include <moat/pki/key.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "acme/ca_problem.hpp"

namespace moat::acme::detail {

/// The JWS algorithms the CA accepts (the "algorithms" of badSignatureAlgorithm).
[[nodiscard]] const std::vector<std::string>& accepted_algorithms();

/// A parsed JWS, not yet verified.
struct parsed_jws {
  std::string protected_b64{};
  std::string payload_b64{};
  std::vector<std::uint8_t> signature{};
  std::string alg{};
  std::string nonce{};  ///< empty when absent
  bool has_nonce = false;
  std::string url{};
  std::string kid{};                      ///< empty when absent
  std::optional<pki::jwk_members> jwk{};  ///< when present
  std::vector<std::uint8_t> jwk_spki{};   ///< the jwk's key (checked), when present
  std::string jwk_thumbprint{};           ///< RFC 7638, when present
  std::string payload{};                  ///< decoded; empty for POST-as-GET
  /// "protected" "." "payload": what the signature covers.
  [[nodiscard]] std::string signing_input() const { return protected_b64 + "." + payload_b64; }
};

/// Checks the media type of a POST (application/jose+json; parameters ignored): 415 +
/// malformed otherwise.
void check_content_type(std::string_view content_type);

/// The members of a public JWK (kty, crv, x, y, n, e). Throws ca_failure (malformed) when
/// `v` is not an object, "kty" is missing, a member is not a string, or it holds private
/// key material.
[[nodiscard]] pki::jwk_members jwk_members_of(const boost::json::value& v);

/// Parses a flattened JWS (the only serialization ACME allows): an object with exactly
/// "protected", "payload" and "signature" strings (base64url), a protected header with
/// "alg" and "url", at most one of "kid" and "jwk". `require_nonce`: every request but the
/// inner JWS of a key rollover. Throws ca_failure: malformed, badSignatureAlgorithm (with
/// the algorithms), badPublicKey (a jwk that is not a usable key).
[[nodiscard]] parsed_jws parse_jws(std::string_view body, bool require_nonce = true);

/// How a resource wants the requester identified.
enum class key_mode {
  kid,         ///< an account's "kid" (every resource but the two below)
  jwk,         ///< the public key itself (newAccount)
  kid_or_jwk,  ///< revokeCert: the account, or the certificate's key
};

/// Checks "url" against the URL the request arrived at, and kid/jwk against `mode`.
/// Throws ca_failure (malformed, unauthorized for a url of another resource).
void check_header(const parsed_jws& jws, std::string_view request_url, key_mode mode);

/// Verifies the signature with `public_key_der` (malformed "signature does not verify").
void verify_signature(const parsed_jws& jws, std::span<const std::uint8_t> public_key_der);

/// An External Account Binding (RFC 8555 section 7.3.4): `eab` is the JSON object text of
/// "externalAccountBinding". Returns its key id once the MAC verifies with `mac_key_of(kid)`
/// (an empty key: unknown id) and its payload is exactly the outer jwk. Throws ca_failure
/// (malformed; unauthorized for an unknown key id or a wrong MAC).
template <class MacKeyOf>
std::string verify_external_account_binding(std::string_view eab, const parsed_jws& outer,
                                            MacKeyOf&& mac_key_of);

/// The pieces of an EAB, for the template above.
struct eab_parts {
  std::string key_id{};
  std::string signing_input{};
  std::vector<std::uint8_t> mac{};
  std::string payload{};  // decoded
  std::string url{};
};
[[nodiscard]] eab_parts parse_external_account_binding(std::string_view eab);
void check_external_account_binding(const eab_parts& e, const parsed_jws& outer,
                                    std::span<const std::uint8_t> mac_key);

template <class MacKeyOf>
std::string verify_external_account_binding(std::string_view eab, const parsed_jws& outer,
                                            MacKeyOf&& mac_key_of) {
  const eab_parts e = parse_external_account_binding(eab);
  const std::vector<std::uint8_t> key = mac_key_of(e.key_id);
  check_external_account_binding(e, outer, key);
  return e.key_id;
}

}  // namespace moat::acme::detail
