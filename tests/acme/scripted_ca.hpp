#pragma once
// A scripted ACME server for tests: moat's own HTTPS server on 127.0.0.1 with a certificate
// for localhost from a test CA, whose routes each test writes, and a client trusting it.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <moat/acme/client.hpp>
#include <moat/http/server.hpp>
#include <string>

#include "support/support.hpp"

namespace moat::test {

class scripted_ca_test : public ::testing::Test {
 protected:
  scripted_ca_test() : ca_(dir_.path()), leaf_(ca_.issue("localhost")) {}

  /// Serves `routes` over HTTPS; sets base_ ("https://localhost:<port>").
  void serve(http::router routes, std::string name) {
    http::server_options o;
    o.listener.name = std::move(name);
    o.listener.addresses = {{boost::asio::ip::make_address("127.0.0.1"), 0}};
    o.listener.workers = 1;
    o.tls = tls::options{};
    o.tls->certfile = leaf_.certfile;
    o.tls->keyfile = leaf_.keyfile;
    server_ = std::make_unique<http::server>(std::move(o), std::move(routes));
    server_->start();
    base_ = "https://localhost:" + std::to_string(server_->local_endpoints().at(0).port());
  }

  /// Client options for the directory at `path` on this server, trusting its CA.
  [[nodiscard]] acme::client_options options(const std::string& path = "/dir") const {
    acme::client_options o;
    o.directory_url = base_ + path;
    o.http.tls.cacertfile = ca_.certfile();
    return o;
  }

  template <class T>
  T run(boost::asio::awaitable<T> aw) {
    return test::run(io_, std::move(aw), std::chrono::seconds(30));
  }

  temp_dir dir_;
  test_ca ca_;
  issued leaf_;
  boost::asio::io_context io_;
  std::unique_ptr<http::server> server_;
  std::string base_;
};

}  // namespace moat::test
