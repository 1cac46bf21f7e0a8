// The CA's state: construction (keys, records), nonces, the status machine.
#include "acme/ca_state.hpp"

#include <sys/stat.h>

#include <moat/error.hpp>
#include <moat/log.hpp>
#include <moat/pki/digest.hpp>
#include <moat/pki/encoding.hpp>

#include "acme/ca_problem.hpp"

namespace moat::acme {

namespace fs = std::filesystem;

namespace detail {

std::string nonce_store::issue() {
  std::string n = pki::base64url_encode(pki::random_bytes(16));
  live_.insert(n);
  order_.push_back(n);
  while (order_.size() > max_) {
    live_.erase(order_.front());
    order_.pop_front();
  }
  return n;
}

bool nonce_store::consume(const std::string& nonce) {
  // The deque keeps the forgotten ones' slots until they reach the front: bounded by max_.
  return live_.erase(nonce) == 1;
}

std::string random_id() {
  return pki::base64url_encode(pki::random_bytes(12));
}

bool valid_dns_name(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253 || name.back() == '.') return false;
  std::size_t labels = 0;
  std::string_view last;
  while (!name.empty()) {
    const auto dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char c : label) {
      const bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
    if (name.empty()) return false;
  }
  bool numeric = true;
  for (const char c : last) numeric = numeric && c >= '0' && c <= '9';
  return !numeric;
}

}  // namespace detail

ca::state::state(boost::asio::any_io_executor e, ca_options o)
    : opts(std::move(o)),
      ex(std::move(e)),
      log(opts.logger ? opts.logger : moat::default_logger()),
      nonces(opts.max_nonces) {
  if (opts.data_dir.empty()) {
    throw moat::config_error("data_dir", pki::errc::invalid_argument,
                             "the CA needs a data directory");
  }
  if (opts.profiles.empty()) {
    opts.profiles = {
        {.name = "default",
         .description = "90 days, DNS names (serverAuth)",
         .lifetime = std::chrono::days(90),
         .allow_ip = false},
        {.name = "shortlived",
         .description = "6 days, DNS names and IP addresses (serverAuth)",
         .lifetime = std::chrono::days(6),
         .allow_ip = true},
    };
  }
  for (const auto& p : opts.profiles) {
    if (p.name.empty() || p.lifetime <= std::chrono::seconds(0)) {
      throw moat::config_error("profiles", pki::errc::invalid_argument,
                               "a profile needs a name and a positive lifetime");
    }
  }
  if (opts.default_profile.empty()) opts.default_profile = opts.profiles.front().name;
  if (find_profile(opts.default_profile) == nullptr) {
    throw moat::config_error("default_profile '" + opts.default_profile + "'",
                             pki::errc::invalid_argument, "no profile of that name");
  }
  if (opts.nonce_reject_rate < 0.0 || opts.nonce_reject_rate > 1.0) {
    throw moat::config_error("nonce_reject_rate", pki::errc::invalid_argument,
                             "a fraction between 0 and 1");
  }
  for (const auto& k : opts.eab_keys) {
    if (k.key_id.empty() || k.mac_key.empty()) {
      throw moat::config_error("eab_keys", pki::errc::invalid_argument,
                               "every key needs a key id and a MAC key");
    }
  }
  if (opts.external_account_required && opts.eab_keys.empty()) {
    throw moat::config_error("external_account_required", pki::errc::invalid_argument,
                             "no eab_keys are configured");
  }
  base_url = opts.base_url;
  while (base_url.ends_with('/')) base_url.pop_back();
  std::error_code ec;
  fs::create_directories(opts.data_dir, ec);
  if (ec) {
    throw moat::config_error("data_dir '" + opts.data_dir.string() + "'", pki::errc::write_failed,
                             ec.message());
  }
  ::chmod(opts.data_dir.c_str(), 0700);
  accounts_dir = opts.data_dir / "accounts";
  certs_dir = opts.data_dir / "certs";
  fs::create_directories(accounts_dir, ec);
  fs::create_directories(certs_dir, ec);
  if (ec) {
    throw moat::config_error("data_dir '" + opts.data_dir.string() + "'", pki::errc::write_failed,
                             ec.message());
  }
  keys = detail::load_or_create_keys(opts.data_dir, now());
  load_records();
}

sys_time ca::state::now() const {
  return opts.clock ? opts.clock() : std::chrono::system_clock::now();
}

const ca_profile* ca::state::find_profile(std::string_view name) const {
  for (const auto& p : opts.profiles) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

void ca::state::refresh(detail::authz_rec& a, sys_time t) {
  if ((a.status == object_status::pending || a.status == object_status::valid) && t >= a.expires) {
    a.status = object_status::expired;
  }
}

void ca::state::refresh(detail::order_rec& o, sys_time t) {
  if (o.status != object_status::pending && o.status != object_status::ready) return;
  if (t >= o.expires) {
    o.status = object_status::invalid;
    o.error = detail::make_problem(errc::malformed, "the order expired");
    return;
  }
  bool all_valid = true;
  for (const auto& id : o.authzs) {
    auto it = authzs.find(id);
    if (it == authzs.end()) {
      o.status = object_status::invalid;
      return;
    }
    refresh(it->second, t);
    const auto s = it->second.status;
    if (s == object_status::invalid || s == object_status::expired ||
        s == object_status::deactivated || s == object_status::revoked) {
      o.status = object_status::invalid;
      for (const auto& cid : it->second.challenges) {
        auto c = challenges.find(cid);
        if (c != challenges.end() && c->second.error) o.error = c->second.error;
      }
      if (!o.error) {
        o.error = detail::make_problem(
            errc::unauthorized,
            "the authorization for " + it->second.ident.value + " is " + std::string(to_string(s)));
      }
      return;
    }
    all_valid = all_valid && s == object_status::valid;
  }
  o.status = all_valid ? object_status::ready : object_status::pending;
}

void ca::state::collect_garbage(sys_time t) {
  if (t - last_collection < std::chrono::minutes(1) && t >= last_collection) return;
  last_collection = t;
  const auto old = t - std::chrono::days(1);
  for (auto it = orders.begin(); it != orders.end();) {
    if (it->second.expires < old) {
      it = orders.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = authzs.begin(); it != authzs.end();) {
    if (it->second.expires < old) {
      for (const auto& c : it->second.challenges) challenges.erase(c);
      it = authzs.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace moat::acme
