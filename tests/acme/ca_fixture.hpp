#pragma once
// The in-process CA served over HTTPS on loopback (its own certificate, issued by its root),
// for the CA's tests: the CA's validations and the client run on the test's io_context.
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <moat/acme/ca.hpp>
#include <moat/acme/client.hpp>
#include <moat/http/server.hpp>
#include <moat/pki/pki.hpp>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace moat::test {

inline boost::asio::ip::tcp::endpoint loopback(unsigned short port) {
  return {boost::asio::ip::make_address("127.0.0.1"), port};
}

class ca_fixture {
 public:
  /// Starts the CA with `o` (data_dir defaults to a directory of the fixture; example.test and
  /// *.example.test resolve to 127.0.0.1).
  void start_ca(acme::ca_options o = {}) {
    if (o.data_dir.empty()) o.data_dir = dir_.path() / "ca";
    o.hosts.emplace("example.test", "127.0.0.1");
    o.hosts.emplace("www.example.test", "127.0.0.1");
    o.validation_timeout = scaled(std::chrono::milliseconds(5000));
    ca_ = std::make_unique<acme::ca>(io_.get_executor(), o);
    server_ = std::make_unique<acme::ca_server>(
        *ca_, acme::ca_server_options{.address = loopback(0), .workers = 2});
  }

  void stop_ca() {
    server_.reset();
    ca_.reset();
  }

  [[nodiscard]] acme::client_options client_options() const {
    acme::client_options o;
    o.directory_url = ca_->directory_url();
    o.http.tls.cacerts = {ca_->root_certificate()};
    o.contact = {"mailto:ops@example.test"};
    return o;
  }

  template <class T>
  T run(boost::asio::awaitable<T> aw,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) {
    return test::run(io_, std::move(aw), timeout);
  }

  /// leaf <- intermediate <- the CA's root.
  void expect_chain_to_root(const acme::issued_certificate& c) const {
    ASSERT_EQ(c.chain.size(), 2U);
    EXPECT_TRUE(c.chain[0].is_issued_by(c.chain[1]));
    EXPECT_TRUE(c.chain[1].is_issued_by(ca_->root_certificate()));
    EXPECT_EQ(c.chain[0].public_key_der(), c.key.public_key_der());
  }

  boost::asio::io_context io_;
  temp_dir dir_;
  std::unique_ptr<acme::ca> ca_;
  std::unique_ptr<acme::ca_server> server_;
};

}  // namespace moat::test
