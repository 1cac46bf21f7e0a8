// ACME Renewal Information (RFC 9773) and profiles (draft-ietf-acme-profiles) against a CA
// that offers them. Debian's Pebble 2.4.0 has neither, so the CA here is a small real one:
// HTTPS, a directory with renewalInfo and meta.profiles, orders that are ready at once, and
// certificates signed from the CSR by a test CA. It records what the client sends.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <moat/acme/client.hpp>
#include <moat/http/server.hpp>
#include <moat/pki/pki.hpp>
#include <mutex>

#include "acme/scripted_ca.hpp"
#include "support/support.hpp"

namespace acme = moat::acme;
namespace http = moat::http;
namespace pki = moat::pki;
namespace net = boost::asio;
namespace json = boost::json;
namespace test = moat::test;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

/// The JSON payload of the JWS a request carries ("" for POST-as-GET).
std::string jws_payload(const std::string& body) {
  const auto o = json::parse(body).as_object();
  const auto p = pki::base64url_decode(o.at("payload").as_string());
  return p ? std::string(p->begin(), p->end()) : std::string("<not base64url>");
}

http::response answer(std::string body, bhttp::status st = bhttp::status::ok,
                      std::string_view type = "application/json") {
  auto r = http::make_response(st, std::move(body), type);
  r.set("Replay-Nonce", pki::base64url_encode(pki::random_bytes(16)));
  return r;
}

class RenewalInfoAndProfiles : public test::scripted_ca_test {
 protected:
  RenewalInfoAndProfiles() {
    http::router r;
    r.add(bhttp::verb::get, "/dir",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            co_return answer(R"({"newNonce":")" + base_ + R"(/nonce","newAccount":")" + base_ +
                             R"(/account","newOrder":")" + base_ + R"(/order","renewalInfo":")" +
                             base_ + R"(/ari","meta":{"profiles":{"classic":"90 days",)" +
                             R"("shortlived":"6 days"}}})");
          });
    r.add(bhttp::verb::head, "/nonce",
          [](const http::incoming&) -> net::awaitable<http::response> { co_return answer(""); });
    r.add(bhttp::verb::post, "/account",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            auto res = answer(R"({"status":"valid"})", bhttp::status::created);
            res.set(bhttp::field::location, base_ + "/account/1");
            co_return res;
          });
    r.add(bhttp::verb::post, "/order",
          [this](const http::incoming& in) -> net::awaitable<http::response> {
            const std::string payload = jws_payload(in.message.body());
            {
              std::lock_guard lock(mutex_);
              new_orders_.push_back(json::parse(payload).as_object());
            }
            auto res = answer(order_json("ready", ""), bhttp::status::created);
            res.set(bhttp::field::location, base_ + "/order/1");
            co_return res;
          });
    r.add(bhttp::verb::post, "/finalize",
          [this](const http::incoming& in) -> net::awaitable<http::response> {
            const auto csr_b64 = json::parse(jws_payload(in.message.body())).at("csr").as_string();
            const auto der = pki::base64url_decode(csr_b64);
            const auto csr = pki::parse_csr(
                std::string_view(reinterpret_cast<const char*>(der->data()), der->size()));
            const auto leaf = pki::certificate_builder{.common_name = csr.common_name,
                                                       .subject_alt_names = csr.subject_alt_names,
                                                       .validity = 6 * 24h}
                                  .sign(csr.public_key_der, ca_.cert(), ca_.key());
            {
              std::lock_guard lock(mutex_);
              issued_pem_ = leaf.pem() + ca_.cert().pem();
            }
            co_return answer(order_json("valid", base_ + "/cert/1"));
          });
    r.add(bhttp::verb::post, "/cert/1",
          [this](const http::incoming&) -> net::awaitable<http::response> {
            std::lock_guard lock(mutex_);
            co_return answer(issued_pem_, bhttp::status::ok, "application/pem-certificate-chain");
          });
    r.add_prefix("/ari/", [this](const http::incoming& in) -> net::awaitable<http::response> {
      {
        std::lock_guard lock(mutex_);
        ari_paths_.emplace_back(in.path);
      }
      auto res = answer(R"({"suggestedWindow":{"start":"2026-12-10T00:00:00Z",)"
                        R"("end":"2026-12-12T00:00:00Z"},"explanationURL":"https://ca.test/why"})");
      res.set(bhttp::field::retry_after, "21600");
      co_return res;
    });
    serve(std::move(r), "ari-ca");
  }

  std::string order_json(std::string_view status, const std::string& cert_url) const {
    std::string s = R"({"status":")" + std::string(status) +
                    R"(","identifiers":[{"type":"dns","value":"localhost"}],"authorizations":[],)" +
                    R"("finalize":")" + base_ + R"(/finalize")";
    if (!cert_url.empty()) s += R"(,"certificate":")" + cert_url + "\"";
    return s + "}";
  }

  std::mutex mutex_;
  std::vector<json::object> new_orders_;
  std::vector<std::string> ari_paths_;
  std::string issued_pem_;
  acme::http01_responder unused_solver_;
};

}  // namespace

TEST_F(RenewalInfoAndProfiles, TheDirectoryListsTheProfilesAndTheOrderAsksForOne) {
  acme::client c(io_.get_executor(), options());
  auto d = run(c.get_directory());
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->profiles.size(), 2U);
  auto r = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")},
                         .solvers = {&unused_solver_},
                         .profile = "shortlived"}));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(new_orders_.size(), 1U);
  EXPECT_EQ(new_orders_[0].at("profile"), "shortlived");
  EXPECT_FALSE(new_orders_[0].contains("replaces"));
}

TEST_F(RenewalInfoAndProfiles, AProfileTheDirectoryDoesNotOfferFailsBeforeAnyOrder) {
  acme::client c(io_.get_executor(), options());
  auto r = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")},
                         .solvers = {&unused_solver_},
                         .profile = "tlsserver"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::errc::invalid_profile);
  EXPECT_NE(r.error().message().find("classic, shortlived"), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(new_orders_.empty());
}

TEST_F(RenewalInfoAndProfiles,
       RenewalInfoIsFetchedByCertificateIdAndTheRenewalNamesWhatItReplaces) {
  acme::client c(io_.get_executor(), options());
  auto first = run(c.obtain(
      {.identifiers = {acme::identifier::dns("localhost")}, .solvers = {&unused_solver_}}));
  ASSERT_TRUE(first) << first.error().message();
  const pki::certificate& old = first->chain.front();

  auto info = run(c.get_renewal_info(old));
  ASSERT_TRUE(info) << info.error().message();
  const std::string id = acme::renewal_certificate_id(old);
  ASSERT_EQ(ari_paths_.size(), 1U);
  EXPECT_EQ(ari_paths_[0], "/ari/" + id);
  EXPECT_EQ(id, pki::base64url_encode(old.authority_key_id()) + "." +
                    pki::base64url_encode(old.serial_bytes()));
  EXPECT_EQ(info->retry_after, std::chrono::seconds(21600));
  EXPECT_EQ(info->explanation_url, "https://ca.test/why");
  EXPECT_LT(info->window_start, info->window_end);

  auto renewed = run(c.obtain({.identifiers = {acme::identifier::dns("localhost")},
                               .solvers = {&unused_solver_},
                               .replaces = old}));
  ASSERT_TRUE(renewed) << renewed.error().message();
  ASSERT_EQ(new_orders_.size(), 2U);
  EXPECT_EQ(std::string_view(new_orders_[1].at("replaces").as_string()), id);
}
