#pragma once
/// @file
/// The body of the ACME CA requests fuzz target, shared by the libFuzzer binary
/// (fuzz/acme_ca_requests_fuzz.cpp) and the corpus replay test (tests/acme), so the normal
/// build runs it too.
///
/// Input: a request body as a client (or an attacker) POSTs it to the CA. It goes through the
/// CA's I/O-free checks the way the routes use them: the flattened JWS (parse_jws), the
/// header (check_header against a fixed URL), the signature with the JWS's own jwk, and then
/// the payload as the resources read it -- a finalize CSR (check_csr), an External Account
/// Binding, a key rollover's inner JWS. Every check must either pass or refuse with a
/// ca_failure -- a non-empty detail, an HTTP status RFC 8555 uses, a problem document that is
/// JSON with an urn:ietf:params:acme:error: type -- never anything else, and what passes must
/// hold together:
/// - a parsed JWS has an accepted alg, exactly one of kid and jwk, and a nonce;
/// - a jwk has a public key and a 43-character thumbprint;
/// - a CSR that passes has the key it verified with, which is not the account's.

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "acme/ca_issue.hpp"
#include "acme/ca_jws.hpp"
#include "acme/ca_problem.hpp"
#include "acme/parse.hpp"

namespace moat::fuzz {

/// Runs one input (see the file comment). Returns true when every check behaved; on a
/// violation returns false and, if `why` is given, describes it. Thread-safety: pure.
[[nodiscard]] inline bool acme_ca_requests_check(std::span<const std::uint8_t> input,
                                                 std::string* why = nullptr) {
  namespace d = moat::acme::detail;
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  auto violation = [&](const std::string& what) {
    if (why != nullptr) *why = what;
    return false;
  };
  // A refusal must be a well-formed problem.
  auto refusal_ok = [&](const d::ca_failure& f, const char* where) {
    if (std::string_view(f.what()).empty()) return violation(std::string(where) + ": no detail");
    const int s = f.status();
    if (s != 400 && s != 401 && s != 403 && s != 404 && s != 405 && s != 409 && s != 415 &&
        s != 429 && s != 500) {
      return violation(std::string(where) + ": status " + std::to_string(s));
    }
    try {
      const auto doc = boost::json::parse(d::problem_json(f)).as_object();
      const std::string_view type = doc.at("type").as_string();
      if (!type.starts_with("urn:ietf:params:acme:error:")) {
        return violation(std::string(where) + ": problem type " + std::string(type));
      }
    } catch (const std::exception& e) {
      return violation(std::string(where) + ": problem document: " + e.what());
    }
    return true;
  };
  // Runs `step`; true when it passed (`passed` set) or refused properly.
  auto attempt = [&](const char* where, bool& passed, auto&& step) -> bool {
    passed = false;
    try {
      step();
      passed = true;
      return true;
    } catch (const d::ca_failure& f) {
      return refusal_ok(f, where);
    } catch (const std::exception& e) {
      return violation(std::string(where) + " threw something else: " + e.what());
    }
  };
  auto jws_ok = [&](const d::parsed_jws& j, bool nonce_required, const char* where) {
    bool accepted = false;
    for (const auto& a : d::accepted_algorithms()) accepted = accepted || a == j.alg;
    if (!accepted) return violation(std::string(where) + ": alg " + j.alg + " passed");
    if (j.kid.empty() == !j.jwk.has_value()) {
      return violation(std::string(where) + ": not exactly one of kid and jwk");
    }
    if (nonce_required && j.nonce.empty()) return violation(std::string(where) + ": no nonce");
    if (j.jwk && (j.jwk_spki.empty() || j.jwk_thumbprint.size() != 43)) {
      return violation(std::string(where) + ": a jwk without key or thumbprint");
    }
    return true;
  };

  bool passed = false;
  d::parsed_jws jws;
  if (!attempt("parse_jws", passed, [&] { jws = d::parse_jws(text); })) return false;
  if (!passed) return true;
  if (!jws_ok(jws, true, "parse_jws")) return false;
  const d::key_mode mode = jws.jwk ? d::key_mode::jwk : d::key_mode::kid;
  if (!attempt("check_header", passed, [&] { d::check_header(jws, jws.url, mode); })) return false;
  if (!attempt("check_header(other url)", passed,
               [&] { d::check_header(jws, "https://ca.test/acme/other", mode); })) {
    return false;
  }
  if (passed && jws.url != "https://ca.test/acme/other") {
    return violation("check_header accepted a url that is not the request's");
  }
  if (!jws.jwk) return true;
  if (!attempt("verify_signature", passed, [&] { d::verify_signature(jws, jws.jwk_spki); })) {
    return false;
  }
  // The payload as the resources read it (also when the signature failed: a fuzzer cannot
  // sign, and the payload checks must be robust on their own).
  boost::json::object payload;
  try {
    payload = d::parse_object(jws.payload);
  } catch (const d::bad_document&) {
    // A key rollover's inner JWS is itself a JWS object; anything else is simply refused.
  } catch (const std::exception& e) {
    return violation(std::string("parse_object(payload) threw something else: ") + e.what());
  }
  if (const auto it = payload.find("csr"); it != payload.end() && it->value().is_string()) {
    const auto der = pki::base64url_decode(it->value().get_string());
    if (der) {
      std::vector<std::uint8_t> key;
      const std::vector<acme::identifier> ids = {acme::identifier::dns("example.test"),
                                                 acme::identifier::ip("127.0.0.1")};
      if (!attempt("check_csr", passed, [&] { key = d::check_csr(*der, ids, jws.jwk_spki); })) {
        return false;
      }
      if (passed && (key.empty() || key == jws.jwk_spki)) {
        return violation("check_csr passed the account key or no key");
      }
    }
  }
  if (const auto it = payload.find("externalAccountBinding"); it != payload.end()) {
    const std::vector<std::uint8_t> mac(32, 0x42);
    if (!attempt("external account binding", passed, [&] {
          (void)d::verify_external_account_binding(
              boost::json::serialize(it->value()), jws, [&](const std::string& kid) {
                return kid == "kid-1" ? mac : std::vector<std::uint8_t>{};
              });
        })) {
      return false;
    }
  }
  if (payload.contains("protected")) {
    d::parsed_jws inner;
    if (!attempt("parse_jws(inner)", passed, [&] { inner = d::parse_jws(jws.payload, false); })) {
      return false;
    }
    if (passed) {
      if (!jws_ok(inner, false, "parse_jws(inner)")) return false;
      if (inner.jwk && !attempt("verify_signature(inner)", passed,
                                [&] { d::verify_signature(inner, inner.jwk_spki); })) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace moat::fuzz
