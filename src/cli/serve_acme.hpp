#pragma once
// `moat serve --acme`: the certificate manager of the serve command -- its own io thread, the
// storage and the in-process CA under the data directory, and what the listeners need from it.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <memory>
#include <moat/acme/manager.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace moat::cli {

struct serve_acme_config {
  std::vector<std::string> domains;
  std::string directory;  // local | staging | production | URL
  std::vector<std::string> emails;
  std::string profile;
  std::string cacert;  // trust for a private CA's HTTPS
  std::filesystem::path data_dir;
  std::vector<boost::asio::ip::tcp::endpoint> tls_listen;
  std::optional<boost::asio::ip::tcp::endpoint> http_listen;
};

/// The manager, on a thread of its own. Construction checks the configuration (throws
/// moat::config_error); `start` begins obtaining; the destructor stops it.
class serve_acme {
 public:
  explicit serve_acme(const serve_acme_config& c);
  ~serve_acme();
  serve_acme(const serve_acme&) = delete;
  serve_acme& operator=(const serve_acme&) = delete;

  [[nodiscard]] acme::manager& manager() noexcept { return *manager_; }
  /// Starts the manager and its thread, and logs where the certificate comes from.
  void start();
  void stop();

 private:
  serve_acme_config config_;
  boost::asio::io_context io_;
  std::unique_ptr<acme::manager> manager_;
  std::thread thread_;
};

}  // namespace moat::cli
