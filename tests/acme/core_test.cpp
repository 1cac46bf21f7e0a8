// The ACME client's I/O-free cores: the CA's documents, its headers, the JWS it signs, and
// the error values.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <moat/acme/client.hpp>
#include <moat/pki/pki.hpp>
#include <set>

#include "acme/headers.hpp"
#include "acme/jws.hpp"
#include "acme/parse.hpp"

namespace acme = moat::acme;
namespace pki = moat::pki;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string decode_text(std::string_view b64) {
  const auto b = pki::base64url_decode(b64);
  if (!b) throw std::runtime_error("not base64url: " + std::string(b64));
  return {b->begin(), b->end()};
}

std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

}  // namespace

TEST(AcmeDocuments, ADirectoryWithMetaProfilesAndRenewalInfoParses) {
  const auto d = acme::detail::parse_directory(acme::detail::parse_object(R"({
    "newNonce": "https://ca.test/nonce", "newAccount": "https://ca.test/acct",
    "newOrder": "https://ca.test/order", "revokeCert": "https://ca.test/revoke",
    "keyChange": "https://ca.test/key", "renewalInfo": "https://ca.test/ari",
    "meta": {"termsOfService": "https://ca.test/tos", "externalAccountRequired": true,
             "caaIdentities": ["ca.test"],
             "profiles": {"classic": "90 days", "shortlived": "6 days"}},
    "x-unknown": 1})"));
  EXPECT_EQ(d.new_nonce, "https://ca.test/nonce");
  EXPECT_EQ(d.renewal_info, "https://ca.test/ari");
  EXPECT_EQ(d.new_authz, "");
  EXPECT_TRUE(d.external_account_required);
  EXPECT_EQ(d.terms_of_service, "https://ca.test/tos");
  EXPECT_EQ(d.caa_identities, std::vector<std::string>{"ca.test"});
  ASSERT_EQ(d.profiles.size(), 2U);
  EXPECT_EQ(d.profiles.at("shortlived"), "6 days");
}

TEST(AcmeDocuments, ADocumentMissingARequiredMemberNamesTheMember) {
  try {
    (void)acme::detail::parse_directory(
        acme::detail::parse_object(R"({"newNonce": "n", "newAccount": "a"})"));
    FAIL();
  } catch (const acme::detail::bad_document& e) {
    EXPECT_NE(std::string(e.what()).find("'newOrder'"), std::string::npos) << e.what();
  }
  for (const std::string_view bad : {"", "[]", "{", "nul", R"({"a":)", "\"x\""}) {
    EXPECT_THROW((void)acme::detail::parse_object(bad), acme::detail::bad_document) << bad;
  }
  // Deeper than 32 levels is refused, not recursed into.
  std::string deep(40, '[');
  deep = R"({"a":)" + deep + std::string(40, ']') + "}";
  EXPECT_THROW((void)acme::detail::parse_object(deep), acme::detail::bad_document);
}

TEST(AcmeDocuments, AnOrderAndAnAuthorizationParseWithTheirChallengesAndErrors) {
  const auto o = acme::detail::parse_order(
      acme::detail::parse_object(R"({"status": "invalid", "expires": "2026-12-09T10:00:00Z",
        "identifiers": [{"type": "dns", "value": "example.test"}, {"type": "ip", "value": "192.0.2.1"}],
        "authorizations": ["https://ca.test/authz/1"], "finalize": "https://ca.test/fin/1",
        "profile": "shortlived", "replaces": "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        "error": {"type": "urn:ietf:params:acme:error:compound", "detail": "two",
          "subproblems": [{"type": "urn:ietf:params:acme:error:caa", "detail": "no",
                           "identifier": {"type": "dns", "value": "example.test"}}]}})"),
      "https://ca.test/order/1");
  EXPECT_EQ(o.status, acme::object_status::invalid);
  EXPECT_EQ(o.identifiers.at(1), acme::identifier::ip("192.0.2.1"));
  EXPECT_EQ(o.profile, "shortlived");
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->short_type(), "compound");
  ASSERT_EQ(o.error->subproblems.size(), 1U);
  EXPECT_EQ(o.error->subproblems[0].id, acme::identifier::dns("example.test"));
  ASSERT_TRUE(o.expires.has_value());
  EXPECT_EQ(acme::detail::format_time(*o.expires), "2026-12-09T10:00:00Z");

  const auto a = acme::detail::parse_authorization(
      acme::detail::parse_object(R"({"status": "pending", "wildcard": true,
        "identifier": {"type": "dns", "value": "example.test"},
        "challenges": [{"type": "dns-01", "url": "https://ca.test/c/1", "status": "pending",
                        "token": "tok"},
                       {"type": "http-01", "url": "https://ca.test/c/2", "status": "invalid",
                        "token": "tok2", "error": {"type": "urn:ietf:params:acme:error:connection",
                                                   "detail": "refused"}}]})"),
      "https://ca.test/authz/1");
  EXPECT_TRUE(a.wildcard);
  ASSERT_EQ(a.challenges.size(), 2U);
  EXPECT_EQ(a.challenges[1].error->detail, "refused");
  EXPECT_THROW((void)acme::detail::parse_status("sleeping"), acme::detail::bad_document);
}

TEST(AcmeDocuments, Rfc3339TimesParseWithFractionsAndOffsetsAndRefuseNonsense) {
  using acme::detail::format_time;
  using acme::detail::parse_time;
  EXPECT_EQ(format_time(parse_time("2026-12-02T10:00:00.123456Z", "t")), "2026-12-02T10:00:00Z");
  EXPECT_EQ(format_time(parse_time("2026-12-02T12:30:00+02:30", "t")), "2026-12-02T10:00:00Z");
  EXPECT_EQ(format_time(parse_time("2026-12-02t10:00:00-01:00", "t")), "2026-12-02T11:00:00Z");
  for (const std::string_view bad :
       {"2026-12-02T10:00:00", "2026-13-02T10:00:00Z", "2026-02-30T10:00:00Z", "yesterday",
        "2026-12-02T10:00:00Zx", "2026-12-02T25:00:00Z", "2026-12-02T10:00:00."}) {
    EXPECT_THROW((void)parse_time(bad, "t"), acme::detail::bad_document) << bad;
  }
}

TEST(AcmeDocuments, RenewalInfoGivesItsWindowAndPicksInsideIt) {
  const auto r = acme::detail::parse_renewal_info(acme::detail::parse_object(
      R"({"suggestedWindow": {"start": "2026-12-10T00:00:00Z", "end": "2026-12-12T00:00:00Z"},
          "explanationURL": "https://ca.test/why"})"));
  EXPECT_EQ(r.explanation_url, "https://ca.test/why");
  EXPECT_EQ(r.pick(0.0), r.window_start);
  EXPECT_EQ(acme::detail::format_time(r.pick(0.5)), "2026-12-11T00:00:00Z");
  EXPECT_LT(r.pick(0.999999), r.window_end);
  EXPECT_EQ(r.pick(7.0), r.window_start);  // out of range: the start
  EXPECT_THROW((void)acme::detail::parse_renewal_info(acme::detail::parse_object(
                   R"({"suggestedWindow": {"start": "2026-12-12T00:00:00Z",
                                           "end": "2026-12-10T00:00:00Z"}})")),
               acme::detail::bad_document);
}

TEST(AcmeHeaders, RetryAfterIsReadAsSecondsOrAsAnHttpDate) {
  using acme::detail::parse_retry_after;
  const auto now = acme::detail::parse_time("2026-12-02T10:00:00Z", "now");
  EXPECT_EQ(parse_retry_after("120", now), 120s);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0s);
  EXPECT_EQ(parse_retry_after("Wed, 02 Dec 2026 10:01:30 GMT", now), 90s);
  EXPECT_EQ(parse_retry_after("Wed, 02 Dec 2026 09:00:00 GMT", now), 0s);
  EXPECT_EQ(parse_retry_after("99999999999999", now), std::chrono::hours(24 * 365));
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("Wed, 02 Dec 2926 10:01:30 GMT", now), std::nullopt);  // fuzz
  EXPECT_EQ(parse_retry_after("-5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
}

TEST(AcmeHeaders, LinksAreFoundByRelationAcrossFieldsAndCommas) {
  const std::vector<std::string_view> fields = {
      R"(<https://ca.test/cert/1/1>;rel="alternate", <https://ca.test/dir>;rel="index")",
      R"(<https://ca.test/cert/1/2> ; rel=alternate)",
      R"(<https://ca.test/x,y>; title="a, b"; rel="up alternate")"};
  EXPECT_EQ(acme::detail::parse_links(fields, "alternate"),
            (std::vector<std::string>{"https://ca.test/cert/1/1", "https://ca.test/cert/1/2",
                                      "https://ca.test/x,y"}));
  EXPECT_EQ(acme::detail::parse_links(fields, "index"),
            std::vector<std::string>{"https://ca.test/dir"});
  EXPECT_TRUE(acme::detail::parse_links({"garbage", "<unterminated"}, "alternate").empty());
}

TEST(AcmeHeaders, MediaTypesAndRelativeUrlsAreNormalized) {
  EXPECT_EQ(acme::detail::media_type("Application/JSON; charset=utf-8"), "application/json");
  EXPECT_EQ(acme::detail::media_type(""), "");
  EXPECT_EQ(acme::detail::resolve_url("https://ca.test/acme/order/1", "/acme/cert/7"),
            "https://ca.test/acme/cert/7");
  EXPECT_EQ(acme::detail::resolve_url("https://ca.test/acme/order/1", "https://x.test/y"),
            "https://x.test/y");
}

TEST(AcmeJws, ASignedRequestCarriesAlgUrlNonceAndKidAndItsSignatureVerifies) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const std::string jws = acme::detail::sign_jws(key, "https://ca.test/order", "bm9uY2U",
                                                 "https://ca.test/acct/1", R"({"a":1})");
  const auto o = json::parse(jws).as_object();
  ASSERT_EQ(o.size(), 3U);
  const auto header = json::parse(decode_text(o.at("protected").as_string())).as_object();
  EXPECT_EQ(header.at("alg"), "ES256");
  EXPECT_EQ(header.at("url"), "https://ca.test/order");
  EXPECT_EQ(header.at("nonce"), "bm9uY2U");
  EXPECT_EQ(header.at("kid"), "https://ca.test/acct/1");
  EXPECT_FALSE(header.contains("jwk"));
  EXPECT_EQ(decode_text(o.at("payload").as_string()), R"({"a":1})");
  const std::string input =
      std::string(o.at("protected").as_string()) + "." + std::string(o.at("payload").as_string());
  const auto sig = pki::base64url_decode(o.at("signature").as_string());
  ASSERT_TRUE(sig);
  EXPECT_TRUE(pki::verify_jws_signature(key.public_key_der(), "ES256", bytes(input), *sig));
}

TEST(AcmeJws, WithoutKidTheKeyTravelsAsJwkAndPostAsGetHasAnEmptyPayload) {
  for (const auto type : {pki::key_type::ed25519, pki::key_type::rsa, pki::key_type::ecdsa_p384}) {
    const auto key = pki::private_key::generate(type);
    const auto o = json::parse(acme::detail::sign_jws(key, "https://ca.test/x", "bm9uY2U", "", ""))
                       .as_object();
    const auto header = json::parse(decode_text(o.at("protected").as_string())).as_object();
    EXPECT_EQ(std::string_view(header.at("alg").as_string()), key.jws_algorithm());
    EXPECT_EQ(header.at("jwk"), json::parse(key.public_jwk()));
    EXPECT_FALSE(header.contains("kid"));
    EXPECT_EQ(o.at("payload"), "");
  }
}

TEST(AcmeJws, TheExternalAccountBindingIsAnHs256MacOfTheAccountKey) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const std::vector<std::uint8_t> mac_key = pki::random_bytes(32);
  const auto o = json::parse(acme::detail::sign_external_account_binding(
                                 "kid-1", mac_key, "https://ca.test/new-acct", key))
                     .as_object();
  const auto header = json::parse(decode_text(o.at("protected").as_string())).as_object();
  EXPECT_EQ(header.at("alg"), "HS256");
  EXPECT_EQ(header.at("kid"), "kid-1");
  EXPECT_EQ(header.at("url"), "https://ca.test/new-acct");
  EXPECT_FALSE(header.contains("nonce"));
  EXPECT_EQ(json::parse(decode_text(o.at("payload").as_string())), json::parse(key.public_jwk()));
  const std::string input =
      std::string(o.at("protected").as_string()) + "." + std::string(o.at("payload").as_string());
  const auto mac = pki::hmac_sha256(mac_key, bytes(input));
  EXPECT_EQ(std::string_view(o.at("signature").as_string()), pki::base64url_encode(mac));
}

TEST(AcmeJws, TheKeyAuthorizationIsTheTokenAndTheJwkThumbprint) {
  const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const std::string ka = acme::key_authorization("tok-EN_1", key);
  EXPECT_EQ(ka, "tok-EN_1." + pki::base64url_encode(pki::sha256(key.public_jwk())));
  EXPECT_EQ(acme::dns01_solver::record_value(ka), pki::base64url_encode(pki::sha256(ka)));
  EXPECT_EQ(acme::dns01_solver::record_name(acme::identifier::dns("*.Example.test")),
            "_acme-challenge.Example.test.");
}

TEST(AcmeRenewalInfo, TheCertificateIdIsTheAuthorityKeyIdAndTheSerial) {
  // RFC 9773 section 4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:
  // 2C:DE:01:C8:D4 and serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
  const auto ca_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto ca = pki::certificate_builder{.common_name = "CA", .is_ca = true}.self_sign(ca_key);
  const auto leaf_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const auto leaf = pki::certificate_builder{
      .common_name = "leaf",
      .serial = {0x00, 0x87, 0x65, 0x43,
                 0x21}}.sign(leaf_key, ca, ca_key);
  const std::string id = acme::renewal_certificate_id(leaf);
  EXPECT_EQ(id, pki::base64url_encode(leaf.authority_key_id()) + ".AIdlQyE");
  const std::vector<std::uint8_t> rfc_aki = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40,
                                             0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
                                             0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
  EXPECT_EQ(pki::base64url_encode(rfc_aki), "aYhba4dGQEHhs3uEe6CuLN4ByNQ");
}

TEST(AcmeErrors, EveryCodeHasADistinctMessageAndProblemTypesMapBothWays) {
  std::set<std::string> messages;
  for (int v = 1; v <= static_cast<int>(acme::errc::certificate_mismatch); ++v) {
    const std::error_code ec = static_cast<acme::errc>(v);
    EXPECT_EQ(ec.category().name(), std::string("moat.acme"));
    EXPECT_TRUE(messages.insert(ec.message()).second) << ec.message();
    if (v < static_cast<int>(acme::errc::unknown_problem)) {
      const auto name = acme::reason_name(static_cast<acme::errc>(v));
      EXPECT_EQ(acme::problem_code("urn:ietf:params:acme:error:" + std::string(name)),
                static_cast<acme::errc>(v));
    }
  }
  EXPECT_EQ(acme::problem_code("urn:ietf:params:acme:error:somethingNew"),
            acme::errc::unknown_problem);
  EXPECT_EQ(acme::problem_code("about:blank"), acme::errc::unknown_problem);
  EXPECT_EQ(std::error_code(acme::errc::deadline_exceeded), std::errc::timed_out);
  EXPECT_EQ(std::error_code(acme::errc::bad_response), std::errc::bad_message);
}

TEST(AcmeErrors, RetryabilityFollowsWhetherTheSameRequestCanSucceedLater) {
  EXPECT_TRUE(acme::error(acme::errc::rate_limited, "x", {}, {}, 3600s).retryable());
  EXPECT_TRUE(acme::error(acme::errc::server_internal, "x").retryable());
  EXPECT_TRUE(acme::error(acme::errc::connection, "x").retryable());
  EXPECT_TRUE(acme::error(std::make_error_code(std::errc::connection_refused), "x").retryable());
  EXPECT_FALSE(acme::error(acme::errc::malformed, "x").retryable());
  EXPECT_FALSE(acme::error(acme::errc::rejected_identifier, "x").retryable());
  EXPECT_FALSE(acme::error(acme::errc::bad_csr, "x").retryable());
  EXPECT_FALSE(acme::error(moat::tls::errc::unknown_ca, "x").retryable());
  acme::error not_found(acme::errc::http_status, "x", "HTTP 404");
  not_found.set_http_status(404);
  EXPECT_FALSE(not_found.retryable());
  acme::error unavailable(acme::errc::http_status, "x", "HTTP 503");
  unavailable.set_http_status(503);
  EXPECT_TRUE(unavailable.retryable());
  acme::problem caa;
  caa.type = "urn:ietf:params:acme:error:caa";
  EXPECT_FALSE(acme::error(acme::errc::authorization_failed, "x", {}, caa).retryable());
  acme::problem refused;
  refused.type = "urn:ietf:params:acme:error:connection";
  EXPECT_TRUE(acme::error(acme::errc::authorization_failed, "x", {}, refused).retryable());
  acme::problem compound;
  compound.type = "urn:ietf:params:acme:error:compound";
  compound.detail = "two";
  compound.subproblems = {{"urn:ietf:params:acme:error:connection", "refused", std::nullopt},
                          {"urn:ietf:params:acme:error:rejectedIdentifier", "no", std::nullopt}};
  EXPECT_FALSE(acme::error(acme::errc::compound, "x", {}, compound).retryable());
  compound.subproblems.pop_back();
  EXPECT_TRUE(acme::error(acme::errc::compound, "x", {}, compound).retryable());
}

TEST(AcmeErrors, TheMessageNamesTheStepTheProblemItsIdentifiersAndTheWait) {
  acme::problem p;
  p.type = "urn:ietf:params:acme:error:rateLimited";
  p.detail = "too many certificates";
  p.subproblems = {
      {"urn:ietf:params:acme:error:caa", "CAA forbids", acme::identifier::dns("example.test")}};
  const acme::error e(acme::errc::rate_limited, "newOrder https://ca.test/order", {}, p, 60s);
  EXPECT_EQ(e.message(),
            "newOrder https://ca.test/order: rateLimited: too many certificates; example.test: "
            "caa: CAA forbids (retry after 60 s)");
  const acme::error plain(acme::errc::bad_response, "directory https://ca.test/dir",
                          "member 'newOrder' is missing");
  EXPECT_EQ(plain.message(),
            "directory https://ca.test/dir: the CA's answer does not follow RFC 8555: member "
            "'newOrder' is missing");
  // result<T>::value() throws acme::exception carrying the error.
  const acme::result<int> r = plain;
  try {
    (void)r.value();
    FAIL();
  } catch (const acme::exception& x) {
    EXPECT_EQ(x.error().code(), acme::errc::bad_response);
    EXPECT_EQ(std::string(x.what()), plain.message());
  }
}
