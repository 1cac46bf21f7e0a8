#include <moat/error.hpp>
#include <moat/pki/errors.hpp>

#include "acme/client_impl.hpp"

namespace moat::acme {

namespace {

client_options checked(client_options o) {
  if (o.directory_url.rfind("https://", 0) != 0) {
    throw moat::config_error("directory_url '" + o.directory_url + "'",
                             make_error_code(errc::invalid_request),
                             "an ACME directory is an https:// URL (RFC 8555 section 6.1)");
  }
  if (o.external_account &&
      (o.external_account->key_id.empty() || o.external_account->mac_key.empty())) {
    throw moat::config_error("external_account", make_error_code(errc::invalid_request),
                             "an external account binding needs a key id and a MAC key");
  }
  if (o.max_poll_interval <= std::chrono::milliseconds(0)) {
    throw moat::config_error("max_poll_interval", make_error_code(errc::invalid_request),
                             "must be positive");
  }
  return o;
}

}  // namespace

client::client(net::any_io_executor ex, client_options opts)
    : impl_(std::make_unique<impl>(ex, checked(std::move(opts)))) {}

client::~client() = default;

const pki::private_key& client::account_key() const noexcept {
  return impl_->key;
}
const std::string& client::account_url() const noexcept {
  return impl_->kid;
}
net::any_io_executor client::get_executor() const noexcept {
  return impl_->ex;
}

net::awaitable<result<directory>> client::get_directory() {
  const operation_scope scope(*impl_);
  co_return co_await impl_->get_directory();
}

}  // namespace moat::acme
