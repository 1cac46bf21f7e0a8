#include "acme/ca_jws.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <moat/error.hpp>
#include <moat/pki/digest.hpp>
#include <moat/pki/encoding.hpp>

#include "acme/headers.hpp"
#include "acme/parse.hpp"

namespace moat::acme::detail {

namespace json = boost::json;

namespace {

[[noreturn]] void malformed(std::string detail) {
  throw ca_failure(errc::malformed, std::move(detail));
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

json::object object_of(std::string_view text, std::string_view what) {
  try {
    return parse_object(text);
  } catch (const bad_document& e) {
    malformed(std::string(what) + " is not a JSON object: " + e.what());
  }
}

std::string string_member(const json::object& o, std::string_view name, std::string_view what,
                          bool required) {
  const auto it = o.find(name);
  if (it == o.end()) {
    if (required) malformed(std::string(what) + " has no \"" + std::string(name) + "\"");
    return {};
  }
  if (!it->value().is_string()) {
    malformed(std::string(what) + " member \"" + std::string(name) + "\" is not a string");
  }
  return std::string(it->value().get_string());
}

std::vector<std::uint8_t> decode(std::string_view b64, std::string_view what) {
  auto v = pki::base64url_decode(b64);
  if (!v) malformed(std::string(what) + " is not base64url");
  return std::move(*v);
}

}  // namespace

pki::jwk_members jwk_members_of(const json::value& v) {
  if (!v.is_object()) malformed("\"jwk\" is not an object");
  const auto& o = v.get_object();
  pki::jwk_members k;
  k.kty = string_member(o, "kty", "jwk", true);
  k.crv = string_member(o, "crv", "jwk", false);
  k.x = string_member(o, "x", "jwk", false);
  k.y = string_member(o, "y", "jwk", false);
  k.n = string_member(o, "n", "jwk", false);
  k.e = string_member(o, "e", "jwk", false);
  if (o.contains("d") || o.contains("p") || o.contains("q") || o.contains("k")) {
    malformed("\"jwk\" holds private key material");
  }
  return k;
}

namespace {

/// The three members of a flattened JWS, nothing else ("header" is not used by ACME).
void split(const json::object& o, std::string& prot, std::string& payload, std::string& sig,
           std::string_view what) {
  for (const auto& kv : o) {
    if (kv.key() != "protected" && kv.key() != "payload" && kv.key() != "signature") {
      malformed(std::string(what) +
                ": only the flattened JSON serialization is accepted "
                "(unexpected member \"" +
                std::string(kv.key()) + "\")");
    }
  }
  prot = string_member(o, "protected", what, true);
  payload = string_member(o, "payload", what, true);
  sig = string_member(o, "signature", what, true);
}

}  // namespace

const std::vector<std::string>& accepted_algorithms() {
  static const std::vector<std::string> algs = {"ES256", "ES384", "EdDSA", "RS256"};
  return algs;
}

void check_content_type(std::string_view content_type) {
  if (media_type(content_type) != "application/jose+json") {
    throw ca_failure(errc::malformed, "requests must have Content-Type application/jose+json", 415);
  }
}

parsed_jws parse_jws(std::string_view body, bool require_nonce) {
  parsed_jws out;
  const json::object o = object_of(body, "the JWS");
  std::string sig_b64;
  split(o, out.protected_b64, out.payload_b64, sig_b64, "the JWS");
  out.signature = decode(sig_b64, "\"signature\"");
  const auto header_bytes = decode(out.protected_b64, "\"protected\"");
  const json::object h = object_of(
      std::string_view(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size()),
      "the protected header");
  out.alg = string_member(h, "alg", "the protected header", true);
  bool known = false;
  for (const auto& a : accepted_algorithms()) known = known || a == out.alg;
  if (!known) {
    ca_failure f(errc::bad_signature_algorithm,
                 "JWS algorithm \"" + out.alg + "\" is not accepted");
    f.algorithms = accepted_algorithms();
    throw f;
  }
  if (h.contains("crit")) malformed("the protected header has \"crit\", which is not supported");
  out.has_nonce = h.contains("nonce");
  out.nonce = string_member(h, "nonce", "the protected header", false);
  if (require_nonce && (!out.has_nonce || out.nonce.empty())) {
    throw ca_failure(errc::bad_nonce, "the protected header has no \"nonce\"");
  }
  if (out.has_nonce && !pki::base64url_decode(out.nonce)) {
    throw ca_failure(errc::bad_nonce, "the nonce is not base64url");
  }
  out.url = string_member(h, "url", "the protected header", true);
  out.kid = string_member(h, "kid", "the protected header", false);
  const bool has_kid = h.contains("kid");
  const auto jit = h.find("jwk");
  if (has_kid && jit != h.end()) {
    malformed("the protected header has both \"kid\" and \"jwk\"");
  }
  if (!has_kid && jit == h.end()) malformed("the protected header has neither \"kid\" nor \"jwk\"");
  if (has_kid && out.kid.empty()) malformed("\"kid\" is empty");
  if (jit != h.end()) {
    out.jwk = jwk_members_of(jit->value());
    try {
      out.jwk_spki = pki::public_key_der_from_jwk(*out.jwk);
      out.jwk_thumbprint = pki::jwk_thumbprint(*out.jwk);
    } catch (const moat::config_error& e) {
      throw ca_failure(errc::bad_public_key, std::string("the jwk is not usable: ") + e.what());
    }
  }
  const auto payload = decode(out.payload_b64, "\"payload\"");
  out.payload.assign(payload.begin(), payload.end());
  return out;
}

void check_header(const parsed_jws& jws, std::string_view request_url, key_mode mode) {
  if (jws.url != request_url) {
    throw ca_failure(errc::unauthorized, "the JWS \"url\" is not the URL this request was sent to");
  }
  switch (mode) {
    case key_mode::kid:
      if (jws.kid.empty())
        malformed("this resource requires \"kid\" (an account URL), not \"jwk\"");
      break;
    case key_mode::jwk:
      if (!jws.jwk) malformed("this resource requires \"jwk\", not \"kid\"");
      break;
    case key_mode::kid_or_jwk:
      break;
  }
}

void verify_signature(const parsed_jws& jws, std::span<const std::uint8_t> public_key_der) {
  const std::string input = jws.signing_input();
  if (!pki::verify_jws_signature(public_key_der, jws.alg, bytes_of(input), jws.signature)) {
    malformed("the JWS signature does not verify (or does not fit the key's type)");
  }
}

eab_parts parse_external_account_binding(std::string_view eab) {
  eab_parts out;
  const json::object o = object_of(eab, "externalAccountBinding");
  std::string prot, payload, sig;
  split(o, prot, payload, sig, "externalAccountBinding");
  const auto hb = decode(prot, "externalAccountBinding \"protected\"");
  const json::object h =
      object_of(std::string_view(reinterpret_cast<const char*>(hb.data()), hb.size()),
                "externalAccountBinding's protected header");
  const std::string alg = string_member(h, "alg", "externalAccountBinding", true);
  if (alg != "HS256") {
    ca_failure f(errc::bad_signature_algorithm,
                 "externalAccountBinding must use HS256, not \"" + alg + "\"");
    f.algorithms = {"HS256"};
    throw f;
  }
  if (h.contains("nonce")) malformed("externalAccountBinding must not have a nonce");
  out.key_id = string_member(h, "kid", "externalAccountBinding", true);
  out.url = string_member(h, "url", "externalAccountBinding", true);
  out.signing_input = prot + "." + payload;
  out.mac = decode(sig, "externalAccountBinding \"signature\"");
  const auto p = decode(payload, "externalAccountBinding \"payload\"");
  out.payload.assign(p.begin(), p.end());
  return out;
}

void check_external_account_binding(const eab_parts& e, const parsed_jws& outer,
                                    std::span<const std::uint8_t> mac_key) {
  if (mac_key.empty()) {
    throw ca_failure(errc::unauthorized, "unknown external account key id \"" + e.key_id + "\"");
  }
  if (e.url != outer.url) malformed("externalAccountBinding's \"url\" is not newAccount's");
  const auto mac = pki::hmac_sha256(mac_key, bytes_of(e.signing_input));
  if (!pki::constant_time_equal(mac, e.mac)) {
    throw ca_failure(errc::unauthorized, "the external account binding's MAC does not verify");
  }
  // The payload is the account's public JWK: the same key as the outer JWS.
  const json::object o = object_of(e.payload, "externalAccountBinding's payload");
  pki::jwk_members k = jwk_members_of(json::value(o));
  std::vector<std::uint8_t> spki;
  try {
    spki = pki::public_key_der_from_jwk(k);
  } catch (const moat::config_error&) {
    malformed("externalAccountBinding's payload is not a usable public key");
  }
  if (spki != outer.jwk_spki) {
    malformed("externalAccountBinding binds another key than the account's");
  }
}

}  // namespace moat::acme::detail
