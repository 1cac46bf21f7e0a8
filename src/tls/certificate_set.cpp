// tls::certificate_set: a server certificate loaded and checked once, with the TLS library's
// credentials for it built once per context state that presents it.
#include <algorithm>
#include <moat/error.hpp>
#include <moat/tls/errors.hpp>
#include <moat/tls/options.hpp>

#include "tls/context_state.hpp"

namespace moat::tls {

certificate_set::certificate_set(const sni_credentials& src)
    : state_(std::make_shared<detail::certificate_set_state>()) {
  auto id = detail::load_identity(src, "certificate_set.");
  if (id.chain.empty()) {
    throw config_error("certificate_set.certfile", make_error_code(errc::missing_certificate),
                       "a certificate set needs cert/key or certfile/keyfile");
  }
  state_->chain = std::move(id.chain);
  state_->key = std::move(*id.key);
  state_->subject = std::move(id.subject);
}

const std::vector<pki::certificate>& certificate_set::chain() const noexcept {
  return state_->chain;
}

namespace detail {

std::shared_ptr<credentials> certificate_set_state::credentials_for(
    const std::shared_ptr<const context_state>& st) {
  std::lock_guard lock(mu_);
  for (const auto& b : built_) {
    if (b.key == st.get() && !b.state.expired()) return b.creds;
  }
  // Built with the lock held: handshakes of one context wait for one build, not one each.
  auto creds = build_credentials(chain, key, *st, subject);
  check_usable(*creds, st->opts, subject);
  std::erase_if(built_, [](const built& b) { return b.state.expired(); });
  built_.push_back({st, st.get(), creds});
  return creds;
}

}  // namespace detail
}  // namespace moat::tls
