// acme::manager: the object, its options' checks, the selector and the HTTP-01 route
// listeners use, the state they read, events and statistics. The schedule is in
// manager_loop.cpp, the storage's contents in manager_store.cpp.
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <moat/acme/file_storage.hpp>
#include <moat/error.hpp>
#include <moat/log.hpp>
#include <stdexcept>

#include "acme/manager_impl.hpp"
#include "acme/renewal_policy.hpp"

namespace moat::acme {

namespace net = boost::asio;
using namespace manager_detail;

std::string_view to_string(manager_event_kind k) noexcept {
  switch (k) {
    case manager_event_kind::obtaining:
      return "obtaining";
    case manager_event_kind::obtained:
      return "obtained";
    case manager_event_kind::renewed:
      return "renewed";
    case manager_event_kind::failed:
      return "failed";
    case manager_event_kind::expiring_soon:
      return "expiring_soon";
  }
  return "unknown";
}

namespace {

[[noreturn]] void bad(const std::string& option, const std::string& why) {
  throw config_error(option, std::make_error_code(std::errc::invalid_argument), why);
}

std::string resolve_directory(const std::string& d) {
  if (d == "production") return std::string(letsencrypt_production);
  if (d == "staging") return std::string(letsencrypt_staging);
  if (d == "local") return "local";
  if (d.starts_with("https://") || d.starts_with("http://")) return d;
  bad(fmt::format("directory '{}'", d),
      "must be production, staging, local or the CA's directory URL (https://...)");
}

manager_options checked(manager_options o) {
  o.directory = resolve_directory(o.directory);
  if (!o.storage && o.storage_dir.empty()) {
    bad("storage_dir", "a storage directory (or a storage object) is required");
  }
  if (!o.backup_file && !o.storage && !o.storage_dir.empty()) {
    auto dir = o.storage_dir.lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();
    o.backup_file = std::filesystem::path(dir.string() + ".backup.tar");
  }
  for (const auto& e : o.emails) {
    if (e.empty() || e.find('@') == std::string::npos || e.find_first_of(" ,\r\n") != e.npos) {
      bad(fmt::format("emails '{}'", e), "not an e-mail address");
    }
  }
  for (const auto& c : o.challenges) {
    if (c != "http-01" && c != "tls-alpn-01") {
      bad(fmt::format("challenges '{}'", c),
          "the manager answers http-01 and tls-alpn-01 itself; add other types as solvers");
    }
  }
  if (o.challenges.empty() && o.solvers.empty()) {
    bad("challenges", "no challenge type to answer: name one or give a solver");
  }
  if (std::any_of(o.solvers.begin(), o.solvers.end(), [](solver* s) { return s == nullptr; })) {
    bad("solvers", "holds a null solver");
  }
  if (o.directory == "local" && o.local_ca.data_dir.empty()) {
    bad("local_ca.data_dir", "the in-process CA (directory local) needs a data directory");
  }
  if (o.order_timeout <= std::chrono::milliseconds::zero())
    bad("order_timeout", "must be positive");
  if (o.temporary_lifetime < std::chrono::minutes(1)) {
    bad("temporary_lifetime", "must be at least a minute");
  }
  return o;
}

std::string account_segment(const manager_options& o) {
  return o.emails.empty() ? std::string("default") : name_segment(o.emails.front());
}

}  // namespace

// ---- impl ---------------------------------------------------------------------------------

manager::impl::impl(net::any_io_executor ex, manager_options o)
    : ex_(std::move(ex)),
      opts_(checked(std::move(o))),
      ids_(parse_domains(opts_.domains)),
      log_(opts_.logger ? opts_.logger : moat::default_logger()),
      storage_(opts_.storage),
      backup_(opts_.backup_file),
      directory_url_(opts_.directory == "local" ? std::string() : opts_.directory),
      layout_(make_layout(issuer_segment(opts_.directory), account_segment(opts_),
                          name_segment(ids_.front().value))),
      http01_(std::make_unique<http01_responder>()),
      alpn_(std::make_unique<tls_alpn01_responder>()),
      wake_(ex_),
      rng_(std::random_device{}()) {
  const bool wildcard = std::any_of(
      ids_.begin(), ids_.end(), [](const identifier& id) { return id.value.starts_with("*."); });
  const bool dns01 = std::any_of(opts_.solvers.begin(), opts_.solvers.end(),
                                 [](solver* s) { return s->challenge_type() == "dns-01"; });
  if (wildcard && !dns01) {
    bad("domains", "a wildcard name can only be proven with DNS-01: add a dns01_solver to solvers");
  }
  stats_.identifiers = ids_;
  temporary_ = temporary_bundle(ids_, opts_.temporary_lifetime);
  install(temporary_, true);
}

manager::impl::~impl() = default;

sys_time manager::impl::now() const {
  return opts_.clock ? opts_.clock() : std::chrono::system_clock::now();
}

void manager::impl::start_local_ca() {
  auto o = opts_.local_ca;
  if (!o.logger) o.logger = log_;
  local_ca_ = std::make_unique<acme::ca>(ex_, o);
  local_server_ = std::make_unique<ca_server>(
      *local_ca_, ca_server_options{.name = "acme-local-ca", .logger = log_});
  directory_url_ = local_ca_->directory_url();
  opts_.client.http.tls.cacerts.push_back(local_ca_->root_certificate());
  log_->info("acme manager: the in-process CA serves {} (root {})", directory_url_,
             local_ca_->root_certificate_path().string());
}

std::vector<solver*> manager::impl::solvers_for_attempt() const {
  std::vector<solver*> own;
  for (const auto& c : opts_.challenges) {
    if (c == "http-01") own.push_back(http01_.get());
    if (c == "tls-alpn-01") own.push_back(alpn_.get());
  }
  // After a failure, another challenge type goes first: the port one needs may not be
  // reachable (Caddy does the same).
  if (!own.empty()) {
    std::rotate(own.begin(), own.begin() + static_cast<std::ptrdiff_t>(failures_ % own.size()),
                own.end());
  }
  std::vector<solver*> all = opts_.solvers;
  all.insert(all.end(), own.begin(), own.end());
  return all;
}

std::shared_ptr<const manager_served> manager::impl::served() const {
  const std::lock_guard lock(mu_);
  return served_;
}

void manager::impl::install(const bundle& b, bool temporary) {
  tls::sni_credentials creds;
  creds.cert = b.chain;
  creds.key = b.key;
  auto next = std::make_shared<const manager_served>(
      manager_served{tls::certificate_set(creds), b.leaf(), temporary, b.profile});
  {
    const std::lock_guard lock(mu_);
    served_ = std::move(next);
  }
  wake_waiters();
}

manager_stats manager::impl::stats() const {
  const std::lock_guard lock(mu_);
  return stats_;
}

void manager::impl::wake_waiters() {
  for (auto* w : waiters_) w->cancel();
}

void manager::impl::emit(manager_event e) {
  if (!opts_.on_event) return;
  try {
    opts_.on_event(e);
  } catch (const std::exception& ex) {
    log_->warn("acme manager: the event callback threw on '{}': {}", to_string(e.kind), ex.what());
  }
}

// ---- manager ------------------------------------------------------------------------------

namespace {

net::awaitable<void> run_manager(std::shared_ptr<manager::impl> s) {
  co_await s->run();
}

net::awaitable<std::optional<tls::certificate_set>> select_for(std::shared_ptr<manager::impl> s,
                                                               tls::certificate_selector next,
                                                               tls::client_hello hello) {
  if (next && !hello.server_name.empty() && !covers(s->ids_, hello.server_name)) {
    co_return co_await next(hello);
  }
  co_return s->served()->set;
}

}  // namespace

manager::manager(net::any_io_executor ex, manager_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(opts))) {}

manager::~manager() {
  stop();
}

void manager::start() {
  auto& s = *impl_;
  if (s.started_.exchange(true)) throw std::logic_error("acme::manager::start called twice");
  if (!s.storage_) {
    file_storage_options fo;
    fo.root = s.opts_.storage_dir;
    fo.logger = s.log_;
    s.storage_ = std::make_shared<file_storage>(s.ex_, fo);
  }
  if (s.opts_.directory == "local") s.start_local_ca();
  net::co_spawn(s.ex_, run_manager(impl_), net::detached);
}

void manager::stop() {
  net::post(impl_->ex_, [s = impl_] {
    s->stopping_ = true;
    s->wake_.cancel();
    s->wake_waiters();
  });
}

void manager::renew_now() {
  net::post(impl_->ex_, [s = impl_] {
    s->renew_requested_ = true;
    s->wake_.cancel();
  });
}

void manager::check_schedule() {
  net::post(impl_->ex_, [s = impl_] { s->wake_.cancel(); });
}

net::awaitable<result<pki::certificate>> manager::wait_certificate(
    std::chrono::milliseconds timeout) {
  auto s = impl_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto failures_before = s->stats().failures;
  for (;;) {
    if (auto cur = s->served(); cur && !cur->temporary) co_return cur->leaf;
    if (s->stopping_ || std::chrono::steady_clock::now() >= deadline) break;
    if (s->stats().failures != failures_before) break;  // an attempt failed meanwhile
    net::steady_timer t(s->ex_, deadline);
    s->waiters_.push_back(&t);
    boost::system::error_code ec;
    co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
    s->waiters_.remove(&t);
  }
  const auto st = s->stats();
  if (st.last_error) co_return *st.last_error;
  co_return error(make_error_code(errc::deadline_exceeded), "wait for the certificate",
                  s->stopping_ ? "the manager was stopped" : "no certificate yet");
}

tls::certificate_selector manager::selector(tls::certificate_selector next) {
  auto s = impl_;
  tls::certificate_selector own = [s, next](const tls::client_hello& hello) {
    return select_for(s, next, hello);
  };
  return s->alpn_->selector(std::move(own));
}

tls::options manager::tls_options(tls::options base) {
  const auto& ch = impl_->opts_.challenges;
  const std::string alpn(tls_alpn01_responder::alpn_protocol);
  if (std::find(ch.begin(), ch.end(), "tls-alpn-01") != ch.end() &&
      std::find(base.alpn.begin(), base.alpn.end(), alpn) == base.alpn.end()) {
    base.alpn.push_back(alpn);
  }
  base.select_certificate = selector(std::move(base.select_certificate));
  if (base.cert.empty() && base.certfile.empty()) {
    base.cert = impl_->temporary_.chain;
    base.key = impl_->temporary_.key;
  }
  return base;
}

http::route_handler manager::http01_handler() {
  return impl_->http01_->handler();
}

tls::certificate_set manager::current() const {
  return impl_->served()->set;
}

manager_stats manager::stats() const {
  const auto cur = impl_->served();
  const std::lock_guard lock(impl_->mu_);
  manager_stats st = impl_->stats_;
  if (cur) {
    st.temporary = cur->temporary;
    if (!cur->temporary) {
      st.leaf = cur->leaf;
      st.not_after = cur->leaf.not_after();
      st.expiring_soon =
          detail::expiring_soon({cur->leaf.not_before(), cur->leaf.not_after()}, impl_->now());
    }
  }
  return st;
}

pki::certificate manager::local_root() const {
  return impl_->local_ca_ ? impl_->local_ca_->root_certificate() : pki::certificate{};
}

std::string manager::directory_url() const {
  return impl_->directory_url_;
}

}  // namespace moat::acme
