#include "acme/jws.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <moat/pki/digest.hpp>
#include <moat/pki/encoding.hpp>

namespace moat::acme::detail {

namespace json = boost::json;

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string flattened(std::string_view protected_b64, std::string_view payload_b64,
                      std::string_view signature_b64) {
  json::object o;
  o["protected"] = protected_b64;
  o["payload"] = payload_b64;
  o["signature"] = signature_b64;
  return json::serialize(o);
}

}  // namespace

std::string sign_jws(const pki::private_key& key, std::string_view url, std::string_view nonce,
                     std::string_view kid, std::string_view payload) {
  json::object header;
  header["alg"] = key.jws_algorithm();
  if (kid.empty()) {
    header["jwk"] = json::parse(key.public_jwk());
  } else {
    header["kid"] = kid;
  }
  if (!nonce.empty()) header["nonce"] = nonce;
  header["url"] = url;
  const std::string protected_b64 = pki::base64url_encode(json::serialize(header));
  const std::string payload_b64 = pki::base64url_encode(payload);
  const std::string signing_input = protected_b64 + "." + payload_b64;
  const auto signature = key.jws_sign(bytes_of(signing_input));
  return flattened(protected_b64, payload_b64, pki::base64url_encode(signature));
}

std::string sign_external_account_binding(std::string_view key_id,
                                          std::span<const std::uint8_t> mac_key,
                                          std::string_view url,
                                          const pki::private_key& account_key) {
  json::object header;
  header["alg"] = "HS256";
  header["kid"] = key_id;
  header["url"] = url;
  const std::string protected_b64 = pki::base64url_encode(json::serialize(header));
  const std::string payload_b64 = pki::base64url_encode(account_key.public_jwk());
  const std::string signing_input = protected_b64 + "." + payload_b64;
  const auto mac = pki::hmac_sha256(mac_key, bytes_of(signing_input));
  return flattened(protected_b64, payload_b64, pki::base64url_encode(mac));
}

std::string jwk_thumbprint(const pki::private_key& key) {
  return pki::base64url_encode(pki::sha256(key.public_jwk()));
}

}  // namespace moat::acme::detail
