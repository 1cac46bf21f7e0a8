// The certificate manager's schedule, on its executor: restore and load at start, obtain
// what is missing, renew when due (ARI first), adopt what another process stored, retry
// failures with backoff. One coroutine; listeners only ever read the certificate in service.
#include <fmt/chrono.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <moat/acme/storage_backup.hpp>

#include "acme/manager_impl.hpp"
#include "acme/renewal_policy.hpp"

namespace moat::acme {

namespace net = boost::asio;
using namespace manager_detail;
using std::chrono::duration_cast;

namespace {

std::string names_of(const std::vector<identifier>& ids) {
  std::vector<std::string> v;
  for (const auto& id : ids) v.push_back(id.value);
  return fmt::format("{}", fmt::join(v, ", "));
}

std::string when(sys_time t, sys_time now) {
  const auto in = duration_cast<std::chrono::seconds>(t - now);
  return fmt::format("{} (in {} s)", pki::format_utc(t), std::max<long long>(in.count(), 0));
}

// A wait never longer than this: a clock that jumps (a suspended machine, a test's clock) is
// noticed within it.
constexpr auto kMaxWait = std::chrono::minutes(1);
// After a certificate that was due on arrival (a clock far ahead of the CA's), the schedule
// starts no renewal for this long (renew_now() aside).
constexpr auto kMinRenewalSpacing = std::chrono::minutes(1);

}  // namespace

bool manager::impl::adoptable(const bundle& b, sys_time t) const {
  if (!names_match(b.leaf(), ids_) || t >= b.leaf().not_after()) return false;
  const auto cur = served();
  if (!cur || cur->temporary) return true;
  return b.leaf().serial_hex() != cur->leaf.serial_hex() &&
         b.leaf().not_before() >= cur->leaf.not_before();
}

net::awaitable<void> manager::impl::run() {
  co_await prepare();
  while (!stopping_) {
    sys_time next{};
    try {
      next = co_await step();
    } catch (const std::exception& e) {
      log_->error("acme manager [{}]: unexpected failure: {}", names_of(ids_), e.what());
      next = now() + std::chrono::minutes(1);
    }
    update_stats([&](manager_stats& st) { st.next_check = next; });
    co_await sleep_until(next);
  }
  log_->debug("acme manager [{}]: stopped", names_of(ids_));
}

net::awaitable<void> manager::impl::prepare() {
  if (!backup_) co_return;
  std::error_code ec;
  if (!std::filesystem::exists(*backup_, ec)) co_return;
  auto keys = co_await storage_->list("", true);
  if (!keys) {
    log_->warn("acme manager: cannot list the storage to decide on restoring {}: {}",
               backup_->string(), keys.error().message());
    co_return;
  }
  if (!keys->empty()) co_return;
  auto n = co_await restore(*backup_, *storage_);
  if (n) {
    log_->info("acme manager: the storage was empty: restored {} keys from the backup {}", *n,
               backup_->string());
  } else {
    log_->error("acme manager: the storage is empty and the backup {} cannot be restored: {}",
                backup_->string(), n.error().message());
  }
}

net::awaitable<std::optional<bundle>> manager::impl::load_stored() {
  stored_values v;
  for (auto [key, out] : {std::pair{&layout_.cert, &v.cert}, std::pair{&layout_.key, &v.key},
                          std::pair{&layout_.meta, &v.meta}}) {
    auto r = co_await storage_->load(*key);
    if (r) {
      *out = std::move(*r);
      continue;
    }
    if (r.error().code() == storage_errc::not_found) {
      if (key == &layout_.meta) continue;  // optional
      if (key == &layout_.key && !v.cert.empty()) {
        log_->warn(
            "acme manager: the stored certificate '{}' has no key '{}'; a new one will "
            "be obtained",
            layout_.cert, layout_.key);
      }
      co_return std::nullopt;
    }
    log_->warn("acme manager: cannot read the stored certificate: {}", r.error().message());
    co_return std::nullopt;
  }
  try {
    co_return decode(v);
  } catch (const std::exception& e) {
    log_->warn(
        "acme manager: the stored certificate '{}' is unusable ({}); a new one will be "
        "obtained",
        layout_.cert, e.what());
    co_return std::nullopt;
  }
}

net::awaitable<std::optional<error>> manager::impl::persist(const bundle& b) {
  const auto v = encode(b, ids_, directory_url_, now());
  // The key before the chain: a chain is never stored without its key. A crash between the
  // two leaves a key that does not match the old chain, which loading detects.
  for (auto [key, value] : {std::pair{&layout_.key, &v.key}, std::pair{&layout_.cert, &v.cert},
                            std::pair{&layout_.meta, &v.meta}}) {
    auto r = co_await storage_->store(*key, *value);
    if (!r) co_return r.error();
    log_->debug("acme manager: stored '{}'", *key);
  }
  if (backup_) {
    auto n = co_await backup(*storage_, *backup_);
    if (!n) {
      log_->warn("acme manager: the certificate is stored but the backup {} failed: {}",
                 backup_->string(), n.error().message());
    } else {
      log_->debug("acme manager: wrote the backup {} ({} keys)", backup_->string(), *n);
    }
  }
  co_return std::nullopt;
}

net::awaitable<std::optional<error>> manager::impl::ensure_client(bool create) {
  if (client_) co_return std::nullopt;
  pki::private_key key;
  auto stored = co_await storage_->load(layout_.account_key);
  if (stored) {
    try {
      key = pki::parse_private_key(*stored, {}, "account key");
    } catch (const std::exception& e) {
      co_return error(make_error_code(storage_errc::io_failed),
                      fmt::format("load '{}'", layout_.account_key),
                      fmt::format("the stored account key does not parse ({}); move it away to "
                                  "register a new account",
                                  e.what()));
    }
  } else if (stored.error().code() != storage_errc::not_found) {
    co_return stored.error();
  } else if (!create) {
    co_return std::nullopt;
  } else {
    key = pki::private_key::generate(pki::key_type::ecdsa_p256);
    auto r = co_await storage_->store(layout_.account_key, key.pem());
    if (!r) co_return r.error();
    log_->info("acme manager: made a new account key '{}'", layout_.account_key);
  }
  client_options co = opts_.client;
  co.directory_url = directory_url_;
  co.account_key = key;
  co.contact.clear();
  for (const auto& e : opts_.emails) co.contact.push_back("mailto:" + e);
  if (!co.logger) co.logger = log_;
  try {
    client_ = std::make_unique<client>(ex_, std::move(co));
  } catch (const std::exception& e) {
    co_return error(make_error_code(errc::invalid_request), "client", e.what());
  }
  co_return std::nullopt;
}

net::awaitable<std::optional<renewal_info>> manager::impl::fetch_renewal_info(
    pki::certificate leaf) {
  if (auto e = co_await ensure_client(false)) {
    log_->warn(
        "acme manager [{}]: cannot ask for renewal information ({}); the lifetime rule "
        "plans the renewal",
        names_of(ids_), e->message());
    co_return std::nullopt;
  }
  if (!client_) co_return std::nullopt;  // no account key yet: nothing was obtained here
  auto r = co_await client_->get_renewal_info(std::move(leaf));
  if (r) co_return *r;
  if (r.error().code() != errc::not_supported_by_ca) {
    log_->warn(
        "acme manager [{}]: no renewal information ({}); the lifetime rule plans the "
        "renewal",
        names_of(ids_), r.error().message());
  }
  co_return std::nullopt;
}

net::awaitable<sys_time> manager::impl::step() {
  const auto t = now();
  if (unsaved_) {  // the last certificate could not be stored: try again first
    if (auto e = co_await persist(*unsaved_)) co_return failed(*e, true);
    log_->info("acme manager [{}]: the certificate in service is now stored", names_of(ids_));
    unsaved_.reset();
  }
  // What the storage holds: at start the certificate of the last run; later, one another
  // process sharing the storage obtained.
  if (auto stored = co_await load_stored(); stored && adoptable(*stored, t)) {
    const auto before = served();
    const bool had = before && !before->temporary;
    install(*stored, false);
    if (had) {
      log_->info("acme manager [{}]: adopted the certificate another process renewed (serial {})",
                 names_of(ids_), stored->leaf().serial_hex());
      update_stats([](manager_stats& st) { ++st.renewed; });
      emit({.kind = manager_event_kind::renewed, .identifiers = ids_, .leaf = stored->leaf()});
    } else {
      log_->info("acme manager [{}]: serving the stored certificate (serial {}, valid until {})",
                 names_of(ids_), stored->leaf().serial_hex(),
                 pki::format_utc(stored->leaf().not_after()));
    }
  }
  const auto cur = served();
  const bool have =
      cur && !cur->temporary && names_match(cur->leaf, ids_) && t < cur->leaf.not_after();
  if (have) {
    const detail::validity v{cur->leaf.not_before(), cur->leaf.not_after()};
    const auto ari = co_await fetch_renewal_info(cur->leaf);
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    const double r_window = u01(rng_);
    const double r_jitter = u01(rng_);
    const auto plan = detail::plan_renewal(v, ari, t, r_window, r_jitter);
    update_stats([&](manager_stats& st) {
      st.renew_at = plan.renew_at;
      st.renew_from_ari = plan.from_ari;
    });
    if (detail::expiring_soon(v, t) && expiring_announced_ != cur->leaf.serial_hex()) {
      expiring_announced_ = cur->leaf.serial_hex();
      log_->warn("acme manager [{}]: the certificate expires soon: {}", names_of(ids_),
                 when(v.not_after, t));
      emit({.kind = manager_event_kind::expiring_soon, .identifiers = ids_, .leaf = cur->leaf});
    }
    const bool profile_changed = cur->profile && *cur->profile != opts_.profile;
    if (!renew_requested_ && !profile_changed && plan.renew_at > t) {
      co_return std::min(plan.check_at, plan.renew_at);
    }
    if (!renew_requested_ && hold_renewals_until_ &&
        std::chrono::steady_clock::now() < *hold_renewals_until_) {
      // A certificate just obtained is due already: this clock is far ahead of the CA's, or
      // the CA issues for less than it says. Do not hammer it.
      log_->warn(
          "acme manager [{}]: the certificate obtained a moment ago is due for renewal "
          "already (renewal at {}, now {}): is this machine's clock ahead of the CA's?",
          names_of(ids_), pki::format_utc(plan.renew_at), pki::format_utc(t));
      co_return t + kMinRenewalSpacing;
    }
    if (profile_changed) {
      log_->info(
          "acme manager [{}]: the certificate was obtained with profile '{}', '{}' is "
          "asked for: renewing",
          names_of(ids_), cur->profile.value_or(""), opts_.profile);
    }
  }
  const bool renewal = cur && !cur->temporary;
  if (auto e = co_await obtain_locked(renewal)) co_return failed(*e, renewal);
  failures_ = 0;
  renew_requested_ = false;
  co_return now();  // plan the next renewal of the new certificate at once
}

net::awaitable<std::optional<error>> manager::impl::obtain_locked(bool renewal) {
  std::optional<error> out;
  auto r = co_await with_lock(*storage_, layout_.lock, opts_.lock_timeout,
                              [&]() -> net::awaitable<void> { out = co_await obtain(renewal); });
  if (!r) {
    if (!out && r.error().code() == storage_errc::lock_lost) {
      log_->warn("acme manager [{}]: the storage lock was taken over while obtaining: {}",
                 names_of(ids_), r.error().message());
      co_return std::nullopt;
    }
    if (!out) co_return r.error();
  }
  co_return out;
}

net::awaitable<std::optional<error>> manager::impl::obtain(bool renewal) {
  const auto before = served();
  // Under the lock: another process may have done the work while this one waited for it.
  if (auto stored = co_await load_stored(); stored && adoptable(*stored, now())) {
    const auto due = detail::renewal_due({stored->leaf().not_before(), stored->leaf().not_after()});
    if ((!renewal || !renew_requested_) && due > now() &&
        stored->profile.value_or(opts_.profile) == opts_.profile) {
      install(*stored, false);
      log_->info(
          "acme manager [{}]: another process obtained the certificate meanwhile (serial "
          "{}): using it",
          names_of(ids_), stored->leaf().serial_hex());
      update_stats([&](manager_stats& st) { st.renewed += renewal ? 1 : 0; });
      emit({.kind = renewal ? manager_event_kind::renewed : manager_event_kind::obtained,
            .identifiers = ids_,
            .leaf = stored->leaf()});
      co_return std::nullopt;
    }
  }
  if (auto e = co_await ensure_client(true)) co_return e;

  const unsigned attempt = failures_ + 1;
  log_->info("acme manager [{}]: {} a certificate from {} (attempt {})", names_of(ids_),
             renewal ? "renewing" : "obtaining", directory_url_, attempt);
  emit({.kind = manager_event_kind::obtaining,
        .identifiers = ids_,
        .renewal = renewal,
        .attempt = attempt});

  order_request req;
  req.identifiers = ids_;
  req.solvers = solvers_for_attempt();
  req.key_type = opts_.key_type;
  req.profile = opts_.profile;
  req.deadline = opts_.order_timeout;
  if (renewal && before && !before->temporary && names_match(before->leaf, ids_)) {
    // RFC 9773 `replaces`, only where the CA offers ARI (the client refuses it otherwise).
    auto d = co_await client_->get_directory();
    if (d && !d->renewal_info.empty()) req.replaces = before->leaf;
  }
  const auto started = std::chrono::steady_clock::now();
  auto r = co_await client_->obtain(req);
  if (!r && req.replaces && r.error().code() == errc::already_replaced) {
    // RFC 9773: the certificate was replaced already (by another client of the account).
    req.replaces.reset();
    r = co_await client_->obtain(req);
  }
  if (!r) co_return r.error();

  bundle b{r->chain, r->key, opts_.profile};
  const auto t = now();
  const auto plan = detail::plan_renewal({b.leaf().not_before(), b.leaf().not_after()},
                                         std::nullopt, t, 0.5, 0.0);
  hold_renewals_until_.reset();
  if (plan.renew_at <= t)
    hold_renewals_until_ = std::chrono::steady_clock::now() + kMinRenewalSpacing;
  install(b, false);
  update_stats([&](manager_stats& st) {
    ++st.obtained;
    if (renewal) ++st.renewed;
    st.consecutive_failures = 0;
    st.next_attempt.reset();
    st.renew_at = plan.renew_at;
  });
  log_->info(
      "acme manager [{}]: {} a certificate in {} ms (serial {}, valid until {}); renewal "
      "planned at {}",
      names_of(ids_), renewal ? "renewed" : "obtained",
      duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count(),
      b.leaf().serial_hex(), pki::format_utc(b.leaf().not_after()), pki::format_utc(plan.renew_at));
  emit({.kind = renewal ? manager_event_kind::renewed : manager_event_kind::obtained,
        .identifiers = ids_,
        .renewal = renewal,
        .attempt = attempt,
        .leaf = b.leaf(),
        .renew_at = plan.renew_at});
  if (auto e = co_await persist(b)) {
    // In service but not stored: a restart would obtain again. Retried at the next step.
    log_->error(
        "acme manager [{}]: the new certificate is in service but could not be stored: "
        "{}",
        names_of(ids_), e->message());
    unsaved_ = b;
    co_return e;
  }
  co_return std::nullopt;
}

sys_time manager::impl::failed(const error& e, bool renewal) {
  ++failures_;
  renew_requested_ = false;  // a forced renewal is tried once; then the schedule decides
  auto delay = detail::retry_delay(failures_);
  if (e.retry_after() && *e.retry_after() > delay) delay = *e.retry_after();
  const auto t = now();
  const auto next = t + delay;
  update_stats([&](manager_stats& st) {
    ++st.failures;
    st.consecutive_failures = failures_;
    st.last_error = e;
    st.next_attempt = next;
  });
  log_->error("acme manager [{}]: {} failed (attempt {}): {}; next attempt at {}", names_of(ids_),
              renewal ? "renewing" : "obtaining", failures_, e.message(), when(next, t));
  emit({.kind = manager_event_kind::failed,
        .identifiers = ids_,
        .renewal = renewal,
        .attempt = failures_,
        .error = e,
        .next_attempt = next});
  wake_waiters();
  return next;
}

net::awaitable<void> manager::impl::sleep_until(sys_time t) {
  // check_schedule() cancels the timer: the loop then measures again against the clock.
  while (!stopping_ && !renew_requested_) {
    const auto left = t - now();
    if (left <= sys_time::duration::zero()) co_return;
    const auto d = std::min(duration_cast<std::chrono::steady_clock::duration>(left),
                            duration_cast<std::chrono::steady_clock::duration>(kMaxWait));
    wake_.expires_after(d);
    boost::system::error_code ec;
    co_await wake_.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

}  // namespace moat::acme
