// Hostile JWS and protocol abuse against the in-process CA, each request built by hand and
// sent with http::client: every one is answered with the RFC 8555 problem type it deserves,
// and nothing is issued.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <moat/http/client.hpp>
#include <moat/server/listener.hpp>

#include "acme/jws.hpp"
#include "ca_fixture.hpp"

namespace acme = moat::acme;
namespace pki = moat::pki;
namespace http = moat::http;
namespace net = boost::asio;
namespace json = boost::json;
namespace test = moat::test;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

std::string b64(std::string_view s) {
  return pki::base64url_encode(s);
}

std::string flattened(std::string_view prot, std::string_view payload, std::string_view sig) {
  return json::serialize(
      json::object{{"protected", prot}, {"payload", payload}, {"signature", sig}});
}

class CaHostile : public ::testing::Test, public test::ca_fixture {
 protected:
  void SetUp() override {
    start_ca({.http01_port = responder_.local_endpoints().front().port(),
              .tls_alpn01_port = 1});  // nothing listens there: set per test when needed
    http::client_options o;
    o.tls.cacerts = {ca_->root_certificate()};
    client_ = std::make_unique<http::client>(io_.get_executor(), o);
    base_ = ca_->directory_url().substr(0, ca_->directory_url().size() - 9);
  }

  /// Restarts the CA with `o` (same data directory) and points the client at it.
  void restart(acme::ca_options o) {
    stop_ca();
    start_ca(std::move(o));
    http::client_options co;
    co.tls.cacerts = {ca_->root_certificate()};
    client_ = std::make_unique<http::client>(io_.get_executor(), co);
    base_ = ca_->directory_url().substr(0, ca_->directory_url().size() - 9);
  }

  std::string url(std::string_view resource) const { return base_ + std::string(resource); }

  std::string nonce() {
    return run([this]() -> net::awaitable<std::string> {
      http::request req;
      req.method = bhttp::verb::head;
      req.url = url("new-nonce");
      auto r = co_await client_->send(std::move(req));
      if (!r) throw std::runtime_error("new-nonce: " + r.error().message());
      co_return std::string((*r)[std::string_view("Replay-Nonce")]);
    }());
  }

  http::response post(std::string target, std::string body,
                      std::string content_type = "application/jose+json") {
    return run([&]() -> net::awaitable<http::response> {
      auto r = co_await client_->post(target, content_type, body);
      if (!r) throw std::runtime_error("post: " + r.error().message());
      co_return std::move(*r);
    }());
  }

  http::response get(std::string target) {
    return run([&]() -> net::awaitable<http::response> {
      auto r = co_await client_->get(target);
      if (!r) throw std::runtime_error("get: " + r.error().message());
      co_return std::move(*r);
    }());
  }

  /// Signs and posts: kid empty = jwk.
  http::response signed_post(const pki::private_key& key, std::string resource_url, std::string kid,
                             std::string payload) {
    return post(resource_url, acme::detail::sign_jws(key, resource_url, nonce(), kid, payload));
  }

  /// A new account for `key`: its URL.
  std::string account(const pki::private_key& key) {
    auto r = signed_post(key, url("new-account"), "", R"({"termsOfServiceAgreed":true})");
    EXPECT_EQ(r.result_int(), 201U) << r.body();
    return std::string(r[bhttp::field::location]);
  }

  static json::object body_of(const http::response& r) { return json::parse(r.body()).as_object(); }

  /// The problem type's short name ("malformed"), after checking the media type.
  static std::string problem(const http::response& r) {
    EXPECT_EQ(r[bhttp::field::content_type], "application/problem+json") << r.body();
    const auto o = body_of(r);
    std::string t(o.at("type").as_string());
    EXPECT_TRUE(t.starts_with("urn:ietf:params:acme:error:")) << t;
    EXPECT_EQ(o.at("status").as_int64(), static_cast<std::int64_t>(r.result_int()));
    return t.substr(t.rfind(':') + 1);
  }

  /// An order for example.test: {order URL, order JSON}.
  std::pair<std::string, json::object> order(
      const pki::private_key& key, const std::string& kid,
      std::string ids = R"([{"type":"dns","value":"example.test"}])") {
    auto r = signed_post(key, url("new-order"), kid, R"({"identifiers":)" + ids + "}");
    EXPECT_EQ(r.result_int(), 201U) << r.body();
    return {std::string(r[bhttp::field::location]), body_of(r)};
  }

  /// The challenge of `type` of the order's first authorization: {url, token}.
  std::pair<std::string, std::string> challenge(const pki::private_key& key, const std::string& kid,
                                                const json::object& ord, std::string_view type) {
    const std::string authz(ord.at("authorizations").as_array()[0].as_string());
    auto r = signed_post(key, authz, kid, "");
    EXPECT_EQ(r.result_int(), 200U) << r.body();
    const auto body = body_of(r);
    for (const auto& c : body.at("challenges").as_array()) {
      if (c.at("type").as_string() == type) {
        return {std::string(c.at("url").as_string()), std::string(c.at("token").as_string())};
      }
    }
    ADD_FAILURE() << "no " << type << " challenge";
    return {};
  }

  /// Polls `target` (POST-as-GET) until its status is not pending/processing: its JSON.
  json::object settle(const pki::private_key& key, const std::string& kid,
                      const std::string& target) {
    const auto deadline = std::chrono::steady_clock::now() + test::scaled(20s);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = signed_post(key, target, kid, "");
      auto o = body_of(r);
      const auto s = o.at("status").as_string();
      if (s != "pending" && s != "processing") return o;
      run([this]() -> net::awaitable<int> {
        net::steady_timer t(io_, 50ms);
        co_await t.async_wait(net::use_awaitable);
        co_return 0;
      }());
    }
    ADD_FAILURE() << target << " never settled";
    return {};
  }

  std::string csr_b64(const pki::private_key& key, std::vector<std::string> sans) {
    return pki::base64url_encode(pki::make_csr_der(key, "", sans));
  }

  acme::http01_server responder_{{test::loopback(0)}};
  std::unique_ptr<http::client> client_;
  std::string base_;
  pki::private_key key_ = pki::private_key::generate(pki::key_type::ecdsa_p256);
};

}  // namespace

TEST_F(CaHostile, ABadSignatureIsMalformed) {
  std::string jws = acme::detail::sign_jws(key_, url("new-account"), nonce(), "", "{}");
  auto o = json::parse(jws).as_object();
  auto sig = *pki::base64url_decode(o.at("signature").as_string());
  sig[5] ^= 1U;
  o["signature"] = pki::base64url_encode(sig);
  auto r = post(url("new-account"), json::serialize(o));
  EXPECT_EQ(r.result_int(), 400U);
  EXPECT_EQ(problem(r), "malformed");
  EXPECT_FALSE(r[std::string_view("Replay-Nonce")].empty());
  EXPECT_EQ(ca_->stats().accounts, 0U);
}

TEST_F(CaHostile, AlgNoneIsABadSignatureAlgorithmListingTheAcceptedOnes) {
  const std::string prot = R"({"alg":"none","jwk":)" + key_.public_jwk() + R"(,"nonce":")" +
                           nonce() + R"(","url":")" + url("new-account") + R"("})";
  auto r = post(url("new-account"), flattened(b64(prot), b64("{}"), ""));
  EXPECT_EQ(r.result_int(), 400U);
  EXPECT_EQ(problem(r), "badSignatureAlgorithm");
  const auto algs = body_of(r).at("algorithms").as_array();
  EXPECT_EQ(algs.size(), 4U);
  EXPECT_EQ(ca_->stats().accounts, 0U);
}

TEST_F(CaHostile, Hs256WithThePublicKeyAsMacKeyIsRefused) {
  const std::string prot = R"({"alg":"HS256","jwk":)" + key_.public_jwk() + R"(,"nonce":")" +
                           nonce() + R"(","url":")" + url("new-account") + R"("})";
  const std::string input = b64(prot) + "." + b64("{}");
  const auto spki = key_.public_key_der();
  const auto mac = pki::hmac_sha256(
      spki, std::span(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
  auto r = post(url("new-account"), flattened(b64(prot), b64("{}"), pki::base64url_encode(mac)));
  EXPECT_EQ(problem(r), "badSignatureAlgorithm");
  EXPECT_EQ(ca_->stats().accounts, 0U);
}

TEST_F(CaHostile, AWrongUrlIsUnauthorized) {
  auto r =
      post(url("new-account"), acme::detail::sign_jws(key_, url("new-order"), nonce(), "", "{}"));
  EXPECT_EQ(r.result_int(), 403U);
  EXPECT_EQ(problem(r), "unauthorized");
}

TEST_F(CaHostile, AReplayedNonceIsABadNonceWithAFreshOne) {
  const std::string jws = acme::detail::sign_jws(key_, url("new-account"), nonce(), "",
                                                 R"({"termsOfServiceAgreed":true})");
  auto first = post(url("new-account"), jws);
  EXPECT_EQ(first.result_int(), 201U) << first.body();
  auto again = post(url("new-account"), jws);
  EXPECT_EQ(again.result_int(), 400U);
  EXPECT_EQ(problem(again), "badNonce");
  EXPECT_FALSE(again[std::string_view("Replay-Nonce")].empty());
  // A made-up nonce too.
  auto made_up = post(url("new-account"),
                      acme::detail::sign_jws(key_, url("new-account"), "bm9uY2U", "", "{}"));
  EXPECT_EQ(problem(made_up), "badNonce");
}

TEST_F(CaHostile, KidAndJwkTogetherAreMalformed) {
  const std::string kid = account(key_);
  const std::string prot = R"({"alg":"ES256","jwk":)" + key_.public_jwk() + R"(,"kid":")" + kid +
                           R"(","nonce":")" + nonce() + R"(","url":")" + url("new-order") + R"("})";
  const std::string payload = R"({"identifiers":[{"type":"dns","value":"example.test"}]})";
  const std::string input = b64(prot) + "." + b64(payload);
  const auto sig =
      key_.jws_sign(std::span(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
  auto r = post(url("new-order"), flattened(b64(prot), b64(payload), pki::base64url_encode(sig)));
  EXPECT_EQ(problem(r), "malformed");
  EXPECT_EQ(ca_->stats().orders, 0U);
}

TEST_F(CaHostile, AJwkWhereAnAccountIsNeededAndAnUnknownKidAreRefused) {
  auto r = signed_post(key_, url("new-order"), "",
                       R"({"identifiers":[{"type":"dns","value":"example.test"}]})");
  EXPECT_EQ(problem(r), "malformed");
  auto u = signed_post(key_, url("new-order"), url("acct/nobody"),
                       R"({"identifiers":[{"type":"dns","value":"example.test"}]})");
  EXPECT_EQ(problem(u), "accountDoesNotExist");
}

TEST_F(CaHostile, TheWrongContentTypeIs415) {
  auto r =
      post(url("new-account"), acme::detail::sign_jws(key_, url("new-account"), nonce(), "", "{}"),
           "application/json");
  EXPECT_EQ(r.result_int(), 415U);
  EXPECT_EQ(problem(r), "malformed");
}

TEST_F(CaHostile, GarbageBodiesAreMalformedAndTheCaKeepsServing) {
  for (const std::string& body : std::vector<std::string>{
           "", "{", "[]", "null", R"({"protected":1,"payload":"","signature":""})",
           R"({"protected":"!!!","payload":"","signature":""})",
           R"({"protected":"e30","payload":"","signature":""})",
           R"({"signatures":[],"payload":""})", std::string(5000, '{')}) {
    auto r = post(url("new-order"), body);
    EXPECT_EQ(r.result_int(), 400U) << body;
    EXPECT_EQ(problem(r), "malformed") << body;
  }
  auto ok = get(url("directory"));
  EXPECT_EQ(ok.result_int(), 200U);
}

TEST_F(CaHostile, AGetOnAnAcmeResourceIs405AndTheDirectoryHasItsMeta) {
  auto r = get(url("new-order"));
  EXPECT_EQ(r.result_int(), 405U);
  EXPECT_EQ(problem(r), "malformed");
  auto d = get(url("directory"));
  const auto o = body_of(d);
  EXPECT_TRUE(o.at("meta").as_object().at("profiles").as_object().contains("shortlived"));
  EXPECT_NE(std::string(d[bhttp::field::link]).find("rel=\"index\""), std::string::npos);
  auto n = get(url("new-nonce"));
  EXPECT_EQ(n.result_int(), 204U);
  EXPECT_EQ(n[bhttp::field::cache_control], "no-store");
}

TEST_F(CaHostile, AnotherAccountsOrderIsUnauthorized) {
  const std::string kid_a = account(key_);
  const auto other = pki::private_key::generate(pki::key_type::ecdsa_p256);
  const std::string kid_b = account(other);
  auto [order_url, ord] = order(key_, kid_a);
  auto r = signed_post(other, order_url, kid_b, "");
  EXPECT_EQ(r.result_int(), 403U);
  EXPECT_EQ(problem(r), "unauthorized");
  const std::string authz(ord.at("authorizations").as_array()[0].as_string());
  EXPECT_EQ(problem(signed_post(other, authz, kid_b, "")), "unauthorized");
}

TEST_F(CaHostile, FinalizeBeforeValidationIsOrderNotReadyAndACsrWithAnExtraNameIsBad) {
  const std::string kid = account(key_);
  auto [order_url, ord] = order(key_, kid);
  const std::string finalize(ord.at("finalize").as_string());
  const auto cert_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  auto early = signed_post(key_, finalize, kid,
                           R"({"csr":")" + csr_b64(cert_key, {"DNS:example.test"}) + R"("})");
  EXPECT_EQ(early.result_int(), 403U);
  EXPECT_EQ(problem(early), "orderNotReady");
  // Validate for real.
  auto [chall, token] = challenge(key_, kid, ord, "http-01");
  run(responder_.present({.identifier = acme::identifier::dns("example.test"),
                          .type = "http-01",
                          .token = token,
                          .key_authorization = acme::key_authorization(token, key_)}));
  signed_post(key_, chall, kid, "{}");
  EXPECT_EQ(settle(key_, kid, order_url).at("status").as_string(), "ready");
  const auto issued_before = ca_->stats().issued;
  auto extra = signed_post(
      key_, finalize, kid,
      R"({"csr":")" + csr_b64(cert_key, {"DNS:example.test", "DNS:evil.test"}) + R"("})");
  EXPECT_EQ(problem(extra), "badCSR");
  auto account_key_csr = signed_post(key_, finalize, kid,
                                     R"({"csr":")" + csr_b64(key_, {"DNS:example.test"}) + R"("})");
  EXPECT_EQ(problem(account_key_csr), "badCSR");
  const auto small_rsa = pki::private_key::generate(pki::key_type::rsa, 4096 + 1024);
  auto big = signed_post(key_, finalize, kid,
                         R"({"csr":")" + csr_b64(small_rsa, {"DNS:example.test"}) + R"("})");
  EXPECT_EQ(problem(big), "badPublicKey");
  EXPECT_EQ(ca_->stats().issued, issued_before);
  // The right CSR still works.
  auto good = signed_post(key_, finalize, kid,
                          R"({"csr":")" + csr_b64(cert_key, {"DNS:example.test"}) + R"("})");
  EXPECT_EQ(good.result_int(), 200U) << good.body();
  EXPECT_EQ(ca_->stats().issued, issued_before + 1);
}

TEST_F(CaHostile, AnHttp01ResponseWithAWrongKeyAuthorizationInvalidatesTheOrder) {
  const std::string kid = account(key_);
  auto [order_url, ord] = order(key_, kid);
  auto [chall, token] = challenge(key_, kid, ord, "http-01");
  const auto impostor = pki::private_key::generate(pki::key_type::ecdsa_p256);
  run(responder_.present({.identifier = acme::identifier::dns("example.test"),
                          .type = "http-01",
                          .token = token,
                          .key_authorization = acme::key_authorization(token, impostor)}));
  auto r = signed_post(key_, chall, kid, "{}");
  EXPECT_EQ(r.result_int(), 200U) << r.body();
  const auto o = settle(key_, kid, order_url);
  EXPECT_EQ(o.at("status").as_string(), "invalid");
  auto c = body_of(signed_post(key_, chall, kid, ""));
  EXPECT_EQ(c.at("status").as_string(), "invalid");
  EXPECT_EQ(c.at("error").as_object().at("type").as_string(),
            "urn:ietf:params:acme:error:incorrectResponse");
  EXPECT_EQ(ca_->stats().validations_failed, 1U);
  EXPECT_EQ(problem(signed_post(key_, std::string(ord.at("finalize").as_string()), kid,
                                R"({"csr":")" + csr_b64(impostor, {"DNS:example.test"}) + R"("})")),
            "orderNotReady");
}

TEST_F(CaHostile, ATlsAlpnCertificateWithoutTheAcmeExtensionIsNotBelieved) {
  // A TLS server that negotiates acme-tls/1 with an ordinary certificate for the name.
  const auto k = pki::private_key::generate(pki::key_type::ecdsa_p256);
  moat::tls::options to;
  to.cert = {pki::certificate_builder{.subject_alt_names = {"DNS:example.test"}}.self_sign(k)};
  to.key = k;
  to.alpn = {"acme-tls/1"};
  moat::server::listener_options lo;
  lo.addresses = {test::loopback(0)};
  lo.workers = 1;
  moat::server::listener liar(
      lo, to,
      moat::server::coroutine_handler(
          [](moat::server::connection&) -> net::awaitable<void> { co_return; }));
  liar.start();
  restart({.tls_alpn01_port = liar.local_endpoints().front().port()});
  const std::string kid = account(key_);
  auto [order_url, ord] = order(key_, kid);
  auto [chall, token] = challenge(key_, kid, ord, "tls-alpn-01");
  signed_post(key_, chall, kid, "{}");
  EXPECT_EQ(settle(key_, kid, order_url).at("status").as_string(), "invalid");
  auto c = body_of(signed_post(key_, chall, kid, ""));
  EXPECT_EQ(c.at("error").as_object().at("type").as_string(),
            "urn:ietf:params:acme:error:incorrectResponse");
  liar.stop();
}

TEST_F(CaHostile, BadIdentifiersAreRefusedWithASubproblemEach) {
  const std::string kid = account(key_);
  auto r = signed_post(
      key_, url("new-order"), kid,
      R"({"identifiers":[{"type":"dns","value":"bad_name!.test"},{"type":"email","value":"a@b"},)"
      R"({"type":"dns","value":"example.test"},{"type":"dns","value":"*.example.test"}]})");
  EXPECT_EQ(r.result_int(), 400U);
  EXPECT_EQ(problem(r), "rejectedIdentifier");
  const auto subs = body_of(r).at("subproblems").as_array();
  ASSERT_EQ(subs.size(), 3U) << r.body();  // the wildcard: no DNS-01 here
  EXPECT_EQ(std::string(body_of(r).at("detail").as_string()),
            "3 of the identifiers cannot be certified");
  EXPECT_EQ(subs[1].at("type").as_string(), "urn:ietf:params:acme:error:unsupportedIdentifier");
  EXPECT_EQ(subs[0].at("identifier").at("value").as_string(), "bad_name!.test");
  auto p = signed_post(key_, url("new-order"), kid,
                       R"({"identifiers":[{"type":"dns","value":"example.test"}],"profile":"x"})");
  EXPECT_EQ(problem(p), "invalidProfile");
  EXPECT_EQ(ca_->stats().orders, 0U);
}

TEST_F(CaHostile, RevocationWithABadReasonOrByAStrangerIsRefused) {
  const auto issued =
      ca_->issue({.common_name = "example.test", .subject_alt_names = {"DNS:example.test"}});
  const std::string kid = account(key_);
  const std::string payload =
      R"({"certificate":")" + pki::base64url_encode(issued.chain[0].der()) + R"(","reason":)";
  EXPECT_EQ(problem(signed_post(key_, url("revoke-cert"), kid, payload + "2}")),
            "badRevocationReason");
  EXPECT_EQ(problem(signed_post(key_, url("revoke-cert"), kid, payload + "1}")), "unauthorized");
  EXPECT_EQ(problem(signed_post(key_, url("revoke-cert"), "", payload + "1}")), "unauthorized");
  auto ok = signed_post(issued.key, url("revoke-cert"), "", payload + "1}");
  EXPECT_EQ(ok.result_int(), 200U) << ok.body();
  EXPECT_EQ(problem(signed_post(issued.key, url("revoke-cert"), "", payload + "1}")),
            "alreadyRevoked");
}

TEST_F(CaHostile, TermsOfServiceMustBeAgreedToAndContactsMustBeMailAddresses) {
  restart({.terms_of_service = "https://ca.test/terms"});
  auto r = signed_post(key_, url("new-account"), "", "{}");
  EXPECT_EQ(r.result_int(), 403U);
  EXPECT_EQ(problem(r), "userActionRequired");
  EXPECT_NE(std::string(r[bhttp::field::link]).find("rel=\"terms-of-service\""), std::string::npos);
  EXPECT_EQ(body_of(get(url("directory"))).at("meta").at("termsOfService").as_string(),
            "https://ca.test/terms");
  EXPECT_EQ(problem(signed_post(key_, url("new-account"), "",
                                R"({"termsOfServiceAgreed":true,"contact":["tel:+1555"]})")),
            "unsupportedContact");
  EXPECT_EQ(problem(signed_post(key_, url("new-account"), "",
                                R"({"termsOfServiceAgreed":true,"contact":["mailto:a@b@c"]})")),
            "invalidContact");
  EXPECT_EQ(problem(signed_post(key_, url("new-account"), "", R"({"onlyReturnExisting":true})")),
            "accountDoesNotExist");
  EXPECT_EQ(ca_->stats().accounts, 0U);
}

TEST_F(CaHostile, ExpiredOrdersAndAuthorizationsCannotBeFinalized) {
  auto offset = std::make_shared<std::atomic<long>>(0);
  restart({.http01_port = responder_.local_endpoints().front().port(), .clock = [offset] {
             return std::chrono::system_clock::now() + std::chrono::hours(offset->load());
           }});
  const std::string kid = account(key_);
  auto [order_url, ord] = order(key_, kid);
  const std::string authz(ord.at("authorizations").as_array()[0].as_string());
  offset->store(24 * 7 + 1);  // past the 7-day order lifetime (not yet collected: a day later)
  EXPECT_EQ(body_of(signed_post(key_, order_url, kid, "")).at("status").as_string(), "invalid");
  EXPECT_EQ(body_of(signed_post(key_, authz, kid, "")).at("status").as_string(), "expired");
  const auto cert_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
  EXPECT_EQ(problem(signed_post(key_, std::string(ord.at("finalize").as_string()), kid,
                                R"({"csr":")" + csr_b64(cert_key, {"DNS:example.test"}) + R"("})")),
            "orderNotReady");
}

// A validation under way ends within validation_timeout, most often within milliseconds. With
// a whole second of Retry-After, moat's own client -- which polls the authorization as soon
// as its challenge server sees the CA's request, sometimes just before the CA has the answer
// -- waited that second in about every other obtain.
TEST_F(CaHostile, RetryAfterIsLeftOutWhileAValidationIsUnderWay) {
  net::ip::tcp::acceptor silent(io_, test::loopback(0));  // takes connections, never answers
  restart({.http01_port = silent.local_endpoint().port()});
  const std::string kid = account(key_);
  auto [order_url, ord] = order(key_, kid);
  const std::string authz(ord.at("authorizations").as_array()[0].as_string());
  // Waiting on the client: Retry-After as configured.
  EXPECT_EQ(signed_post(key_, authz, kid, "")[bhttp::field::retry_after], "1");
  EXPECT_EQ(signed_post(key_, order_url, kid, "")[bhttp::field::retry_after], "1");

  auto [chall, token] = challenge(key_, kid, ord, "http-01");
  const auto started = signed_post(key_, chall, kid, "{}");
  EXPECT_EQ(body_of(started).at("status").as_string(), "processing");
  // The challenge keeps it: lego takes its polling interval from this answer (5 s without).
  EXPECT_EQ(started[bhttp::field::retry_after], "1");
  for (const auto& target : {authz, order_url}) {
    const auto r = signed_post(key_, target, kid, "");
    EXPECT_EQ(body_of(r).at("status").as_string(), "pending") << target << ": " << r.body();
    EXPECT_EQ(r.count(bhttp::field::retry_after), 0U) << target;
  }
}
