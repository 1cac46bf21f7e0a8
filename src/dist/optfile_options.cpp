#include "dist/optfile_options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <moat/error.hpp>
#include <moat/tls/context.hpp>

namespace moat::dist::detail {
namespace {

template <class T>
T take(option_value&& v) {
  return std::get<T>(std::move(v));
}

constexpr std::string_view kNamesBound =
    "a node sends the host of the peer's node name as SNI and checks that the peer's "
    "certificate names that host itself";

void set_certfile(tls::options& o, option_value&& v) {
  o.certfile = take<std::string>(std::move(v));
}
void set_keyfile(tls::options& o, option_value&& v) {
  o.keyfile = take<std::string>(std::move(v));
}
void set_password(tls::options& o, option_value&& v) {
  o.password = take<std::string>(std::move(v));
}
void set_cacertfile(tls::options& o, option_value&& v) {
  o.cacertfile = take<std::string>(std::move(v));
}
void set_verify(tls::options& o, option_value&& v) {
  o.verify = take<tls::verify_mode>(std::move(v));
}
void set_fail_if_no_peer_cert(tls::options& o, option_value&& v) {
  o.fail_if_no_peer_cert = take<bool>(std::move(v));
}
void set_depth(tls::options& o, option_value&& v) {
  o.depth = static_cast<unsigned>(take<std::int64_t>(std::move(v)));
}
// Versions are a set, as Erlang takes them: the newest goes first, so that the client offers
// it first (an OTP 25 server refuses a supported_versions list of 1.2 before 1.3 with
// illegal_parameter).
void set_versions(tls::options& o, option_value&& v) {
  o.versions.clear();
  for (const auto& n : take<std::vector<std::string>>(std::move(v))) {
    const auto ver = tls::parse_version(n);
    if (std::find(o.versions.begin(), o.versions.end(), ver) == o.versions.end())
      o.versions.push_back(ver);
  }
  std::sort(o.versions.begin(), o.versions.end(),
            [](tls::version a, tls::version b) { return a == tls::version::tls1_3 && b != a; });
}
void set_ciphers(tls::options& o, option_value&& v) {
  o.ciphers = take<std::vector<std::string>>(std::move(v));
}
// supported_groups and eccs both add to groups.
void add_groups(tls::options& o, option_value&& v) {
  for (auto& g : take<std::vector<std::string>>(std::move(v)))
    if (std::find(o.groups.begin(), o.groups.end(), g) == o.groups.end())
      o.groups.push_back(std::move(g));
}
void set_signature_algs(tls::options& o, option_value&& v) {
  o.signature_algs = take<std::vector<std::string>>(std::move(v));
}
void set_reuse_sessions(tls::options& o, option_value&& v) {
  o.reuse_sessions = take<bool>(std::move(v));
}

using k = option_kind;

const std::array<option_spec, 22> kOptions{{
    {.erlang = "certfile", .toml = "certfile", .kind = k::path, .set = set_certfile},
    {.erlang = "keyfile", .toml = "keyfile", .kind = k::path, .set = set_keyfile},
    {.erlang = "password", .toml = "password", .kind = k::secret, .set = set_password},
    {.erlang = "cacertfile", .toml = "cacertfile", .kind = k::path, .set = set_cacertfile},
    {.erlang = "verify", .toml = "verify", .kind = k::verify, .set = set_verify},
    {.erlang = "fail_if_no_peer_cert",
     .toml = "fail_if_no_peer_cert",
     .kind = k::boolean,
     .server_only = true,
     .set = set_fail_if_no_peer_cert},
    {.erlang = "depth", .toml = "depth", .kind = k::count, .min = 0, .max = 100, .set = set_depth},
    {.erlang = "versions", .toml = "versions", .kind = k::versions, .set = set_versions},
    {.erlang = "ciphers", .toml = "ciphers", .kind = k::ciphers, .set = set_ciphers},
    {.erlang = "supported_groups", .toml = "groups", .kind = k::names, .set = add_groups},
    {.erlang = "eccs", .kind = k::names, .set = add_groups},
    {.erlang = "signature_algs",
     .toml = "signature_algs",
     .kind = k::names,
     .set = set_signature_algs},
    {.erlang = "reuse_sessions",
     .toml = "reuse_sessions",
     .kind = k::boolean,
     .set = set_reuse_sessions},
    {.erlang = "secure_renegotiate",
     .kind = k::ignored_boolean,
     .why = "moat never renegotiates and requires RFC 5746 safe renegotiation from TLS 1.2 "
            "peers"},
    {.erlang = "honor_cipher_order",
     .kind = k::ignored_boolean,
     .server_only = true,
     .why = "a moat server always chooses by its own order of ciphers"},
    {.erlang = "server_name_indication",
     .kind = k::ignored_name,
     .client_only = true,
     .why = kNamesBound},
    {.erlang = "customize_hostname_check",
     .kind = k::ignored_list,
     .client_only = true,
     .why = kNamesBound},
    {.erlang = "log_level", .kind = k::ignored_name, .why = "moat logs through the node's logger"},
    {.erlang = "verify_fun",
     .kind = k::unsupported,
     .why = "moat cannot run an Erlang fun; a node verifies the chain against cacertfile and "
            "binds the peer's node name to its certificate itself"},
    {.erlang = "cert",
     .kind = k::unsupported,
     .why = "give the certificate chain as a PEM file with certfile"},
    {.erlang = "key", .kind = k::unsupported, .why = "give the key as a PEM file with keyfile"},
    {.erlang = "cacerts",
     .kind = k::unsupported,
     .why = "give the CA certificates as a PEM file with cacertfile"},
}};

std::string upper(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return r;
}

constexpr std::string_view kOffered =
    "moat offers the forward-secret AEAD suites only: TLS_AES_128_GCM_SHA256, "
    "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 and their "
    "TLS_ECDHE_ECDSA_WITH_ / TLS_ECDHE_RSA_WITH_ forms";

}  // namespace

std::string_view side_name(tls_side s) noexcept {
  return s == tls_side::server ? "server" : "client";
}

const option_spec* find_erlang_option(std::string_view name) noexcept {
  for (const auto& o : kOptions)
    if (o.erlang == name) return &o;
  return nullptr;
}

const option_spec* find_toml_option(std::string_view key) noexcept {
  for (const auto& o : kOptions)
    if (!o.toml.empty() && o.toml == key) return &o;
  return nullptr;
}

std::string known_erlang_options() {
  std::vector<std::string_view> names;
  for (const auto& o : kOptions)
    if (o.kind != option_kind::unsupported) names.push_back(o.erlang);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string known_toml_options() {
  std::vector<std::string_view> names;
  for (const auto& o : kOptions)
    if (!o.toml.empty()) names.push_back(o.toml);
  return fmt::format("{}", fmt::join(names, ", "));
}

void refuse(const std::string& subject, std::errc code, const std::string& why) {
  throw config_error(subject, std::make_error_code(code), why);
}

void apply_option(tls::options& o, tls_side side, const option_spec& spec, option_value value,
                  const std::string& subject) {
  if (spec.kind == option_kind::unsupported)
    refuse(subject, std::errc::not_supported, std::string(spec.why));
  if (spec.server_only && side == tls_side::client)
    refuse(subject, std::errc::invalid_argument, "a server option: put it in the server section");
  if (spec.client_only && side == tls_side::server)
    refuse(subject, std::errc::invalid_argument, "a client option: put it in the client section");
  switch (spec.kind) {
    case option_kind::path:
      if (std::get<std::string>(value).empty())
        refuse(subject, std::errc::invalid_argument, "an empty file name");
      break;
    case option_kind::count: {
      const auto n = std::get<std::int64_t>(value);
      if (n < spec.min || n > spec.max)
        refuse(subject, std::errc::result_out_of_range,
               fmt::format("must be a whole number from {} to {}, got {}", spec.min, spec.max, n));
      break;
    }
    case option_kind::versions:
    case option_kind::ciphers:
    case option_kind::names: {
      const auto& list = std::get<std::vector<std::string>>(value);
      if (list.empty())
        refuse(subject, std::errc::invalid_argument,
               "an empty list: leave the option out for moat's defaults");
      for (const auto& n : list)
        if (n.empty()) refuse(subject, std::errc::invalid_argument, "an empty name in the list");
      if (spec.kind == option_kind::versions) {
        for (const auto& n : list) {
          try {
            (void)tls::parse_version(n);
          } catch (const config_error& e) {
            throw config_error(subject + " '" + n + "'", e.code(),
                               "moat speaks tlsv1.2 and tlsv1.3; SSL 3.0, TLS 1.0 and TLS 1.1 are "
                               "refused (RFC 8996)");
          }
        }
      }
      break;
    }
    default:
      break;
  }
  if (spec.set != nullptr) spec.set(o, std::move(value));
}

std::string cipher_name(std::string_view given, const std::string& subject) {
  const std::string up = upper(given);
  const std::string item = fmt::format("{} '{}'", subject, given);
  for (const auto& iana : tls::cipher_suites())
    if (up == iana) return iana;
  for (std::string_view aead : {"AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305"})
    if (up == aead) return std::string(aead);
  // OpenSSL's names of the TLS 1.2 suites (its TLS 1.3 names are the IANA ones).
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kOpenssl{{
      {"ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
      {"ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
      {"ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
      {"ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
      {"ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
      {"ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
  }};
  for (const auto& [openssl, iana] : kOpenssl)
    if (up == openssl) return std::string(iana);
  refuse(item, std::errc::not_supported, std::string(kOffered));
}

std::string cipher_from_parts(std::string_view kx, std::string_view cipher, std::string_view mac,
                              std::string_view prf, const std::string& subject) {
  const std::string item =
      fmt::format("{} {}/{}/{}{}{}", subject, kx, cipher, mac, prf.empty() ? "" : "/", prf);
  std::string_view name;
  std::string_view hash;
  if (cipher == "aes_128_gcm") {
    name = "AES_128_GCM";
    hash = "sha256";
  } else if (cipher == "aes_256_gcm") {
    name = "AES_256_GCM";
    hash = "sha384";
  } else if (cipher == "chacha20_poly1305") {
    name = "CHACHA20_POLY1305";
    hash = "sha256";
  } else {
    refuse(item, std::errc::not_supported, fmt::format("cipher {}: {}", cipher, kOffered));
  }
  if (mac != "aead")
    refuse(item, std::errc::not_supported, fmt::format("mac {}: {}", mac, kOffered));
  if (!prf.empty() && prf != hash && prf != "default_prf")
    refuse(item, std::errc::invalid_argument,
           fmt::format("prf {} does not go with {} (it takes {})", prf, cipher, hash));
  const std::string tail = fmt::format("{}_{}", name, upper(hash));
  if (kx == "any") return "TLS_" + tail;
  if (kx == "ecdhe_ecdsa") return "TLS_ECDHE_ECDSA_WITH_" + tail;
  if (kx == "ecdhe_rsa") return "TLS_ECDHE_RSA_WITH_" + tail;
  refuse(item, std::errc::not_supported,
         fmt::format("key exchange {}: {} (key exchange any, ecdhe_ecdsa or ecdhe_rsa)", kx,
                     kOffered));
}

}  // namespace moat::dist::detail
