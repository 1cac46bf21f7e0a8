// tls::context: validates options once and builds the GnuTLS state behind them.
#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <moat/error.hpp>
#include <moat/log.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/errors.hpp>
#include <mutex>
#include <set>

#include "pki/native.hpp"
#include "tls/context_state.hpp"
#include "tls/gnutls_util.hpp"

namespace moat::tls {
namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

[[noreturn]] void fail(std::string subject, errc e, const std::string& detail = {}) {
  throw config_error(std::move(subject), make_error_code(e), detail);
}

struct cipher_entry {
  std::string_view iana;
  std::string_view cipher;  // GnuTLS keyword
  std::string_view kx;      // TLS 1.2 key exchange, empty for TLS 1.3 suites
};

constexpr std::array<cipher_entry, 9> kCiphers{{
    {"TLS_AES_128_GCM_SHA256", "AES-128-GCM", ""},
    {"TLS_AES_256_GCM_SHA384", "AES-256-GCM", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", ""},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "AES-128-GCM", "ECDHE-ECDSA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "AES-128-GCM", "ECDHE-RSA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "AES-256-GCM", "ECDHE-ECDSA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "AES-256-GCM", "ECDHE-RSA"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", "ECDHE-ECDSA"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", "ECDHE-RSA"},
}};

bool looks_insecure(std::string_view upper) {
  for (std::string_view bad :
       {"CBC", "RC4", "3DES", "DES", "NULL", "EXPORT", "MD5", "SHA1", "CCM_8", "ANON", "_RSA_WITH_",
        "PSK", "CAMELLIA", "ARIA", "SEED", "IDEA"}) {
    if (upper.find(bad) != std::string_view::npos) return true;
  }
  return false;
}

struct priority_parts {
  std::vector<std::string> ciphers;
  std::set<std::string> kx;
};

void add_unique(std::vector<std::string>& v, std::string_view s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.emplace_back(s);
}

priority_parts parse_ciphers(const std::vector<std::string>& names) {
  priority_parts p;
  if (names.empty()) {
    p.ciphers = {"AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305"};
    p.kx = {"ECDHE-ECDSA", "ECDHE-RSA"};
    return p;
  }
  for (const auto& name : names) {
    std::string up = name;
    std::transform(up.begin(), up.end(), up.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string dashed = up;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    bool found = false;
    for (const auto& c : kCiphers) {
      if (up == c.iana) {
        add_unique(p.ciphers, c.cipher);
        if (!c.kx.empty()) p.kx.insert(std::string(c.kx));
        found = true;
        break;
      }
    }
    if (!found) {
      for (std::string_view aead : {"AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305"}) {
        if (dashed == aead) {
          add_unique(p.ciphers, aead);
          found = true;
        }
      }
    }
    if (!found) {
      if (looks_insecure(up)) {
        fail(fmt::format("ciphers '{}'", name), errc::insecure_cipher,
             "moat offers forward-secret AEAD suites only: TLS_AES_128_GCM_SHA256, "
             "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 and their ECDHE forms");
      }
      fail(fmt::format("ciphers '{}'", name), errc::unknown_cipher,
           "see moat::tls::cipher_suites() for the names");
    }
  }
  if (p.kx.empty()) p.kx = {"ECDHE-ECDSA", "ECDHE-RSA"};
  return p;
}

std::string group_keyword(const std::string& name) {
  const std::string n = lower(name);
  static const std::array<std::pair<std::string_view, std::string_view>, 13> kGroups{{
      {"x25519", "GROUP-X25519"},
      {"x448", "GROUP-X448"},
      {"secp256r1", "GROUP-SECP256R1"},
      {"p-256", "GROUP-SECP256R1"},
      {"prime256v1", "GROUP-SECP256R1"},
      {"secp384r1", "GROUP-SECP384R1"},
      {"p-384", "GROUP-SECP384R1"},
      {"secp521r1", "GROUP-SECP521R1"},
      {"p-521", "GROUP-SECP521R1"},
      {"ffdhe2048", "GROUP-FFDHE2048"},
      {"ffdhe3072", "GROUP-FFDHE3072"},
      {"ffdhe4096", "GROUP-FFDHE4096"},
      {"ffdhe8192", "GROUP-FFDHE8192"},
  }};
  for (const auto& [k, v] : kGroups) {
    if (n == k) return std::string(v);
  }
  fail(fmt::format("groups '{}'", name), errc::unknown_group,
       "known groups: x25519, x448, secp256r1, secp384r1, secp521r1, ffdhe2048..ffdhe8192");
}

std::vector<std::string> sigalg_keywords(const std::string& name) {
  const std::string n = lower(name);
  static const std::array<std::pair<std::string_view, std::string_view>, 13> kSig{{
      {"ecdsa_secp256r1_sha256", "SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SHA256"},
      {"ecdsa_secp384r1_sha384", "SIGN-ECDSA-SECP384R1-SHA384:+SIGN-ECDSA-SHA384"},
      {"ecdsa_secp521r1_sha512", "SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA512"},
      {"ed25519", "SIGN-EDDSA-ED25519"},
      {"ed448", "SIGN-EDDSA-ED448"},
      {"rsa_pss_rsae_sha256", "SIGN-RSA-PSS-RSAE-SHA256"},
      {"rsa_pss_rsae_sha384", "SIGN-RSA-PSS-RSAE-SHA384"},
      {"rsa_pss_rsae_sha512", "SIGN-RSA-PSS-RSAE-SHA512"},
      {"rsa_pss_pss_sha256", "SIGN-RSA-PSS-SHA256"},
      {"rsa_pss_pss_sha384", "SIGN-RSA-PSS-SHA384"},
      {"rsa_pkcs1_sha256", "SIGN-RSA-SHA256"},
      {"rsa_pkcs1_sha384", "SIGN-RSA-SHA384"},
      {"rsa_pkcs1_sha512", "SIGN-RSA-SHA512"},
  }};
  for (const auto& [k, v] : kSig) {
    if (n == k) return {std::string(v)};
  }
  fail(fmt::format("signature_algs '{}'", name), errc::unknown_signature_algorithm,
       "use TLS 1.3 names such as ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, ed25519");
}

std::string build_priority(role r, const options& o, const std::vector<version>& vers) {
  // Highest first, however the options list them: a client offers its versions in this order,
  // and a server that takes the first it supports (OTP 25) would otherwise pick TLS 1.2 and
  // mark the ServerHello as a downgrade, which the client refuses (RFC 8446 4.1.3).
  std::string s = "NORMAL:-VERS-ALL";
  for (auto v : {version::tls1_3, version::tls1_2}) {
    if (std::find(vers.begin(), vers.end(), v) != vers.end())
      s += v == version::tls1_3 ? ":+VERS-TLS1.3" : ":+VERS-TLS1.2";
  }
  const auto parts = parse_ciphers(o.ciphers);
  s += ":-CIPHER-ALL";
  for (const auto& c : parts.ciphers) s += ":+" + c;
  s += ":-MAC-ALL:+AEAD:-KX-ALL";
  for (const auto& k : parts.kx) s += ":+" + k;
  if (!o.groups.empty()) {
    s += ":-GROUP-ALL";
    for (const auto& g : o.groups) s += ":+" + group_keyword(g);
  } else {
    s += ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-X448:+GROUP-SECP521R1";
  }
  if (!o.signature_algs.empty()) {
    s += ":-SIGN-ALL";
    for (const auto& a : o.signature_algs)
      for (const auto& k : sigalg_keywords(a)) s += ":+" + k;
  } else {
    // No SHA-1 signatures, even in TLS 1.2.
    s += ":-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-DSA-SHA1";
  }
  s += ":-COMP-ALL:+COMP-NULL:%SERVER_PRECEDENCE";
  // Safe renegotiation (RFC 5746) is a TLS 1.2 policy. GnuTLS applies %SAFE_RENEGOTIATION on a
  // server to every ClientHello, TLS 1.3 included (which has no renegotiation, RFC 8446), so a
  // server lets the library accept any initial handshake (%PARTIAL_RENEGOTIATION) and the
  // engine refuses a TLS 1.2 client that signals neither the extension nor the SCSV. A client
  // keeps %SAFE_RENEGOTIATION: GnuTLS checks it only in a TLS 1.2 ServerHello. moat never
  // renegotiates either way.
  s += r == role::server ? ":%PARTIAL_RENEGOTIATION" : ":%SAFE_RENEGOTIATION";
  // GnuTLS's only way to let a peer's certificate sign the handshake without digitalSignature
  // in its keyUsage (build_state allows it for a client that does not verify the peer).
  if (o.insecure_allow_key_usage_violation) s += ":%COMPAT";
  return s;
}

}  // namespace

std::string_view to_string(version v) noexcept {
  return v == version::tls1_3 ? "tlsv1.3" : "tlsv1.2";
}

version parse_version(std::string_view name) {
  std::string n = lower(name);
  if (n.rfind("tlsv", 0) == 0)
    n = n.substr(4);
  else if (n.rfind("tls", 0) == 0)
    n = n.substr(3);
  if (n == "1.3") return version::tls1_3;
  if (n == "1.2") return version::tls1_2;
  const std::string subject = fmt::format("versions '{}'", name);
  if (n == "1.0" || n == "1" || n == "1.1" || n == "sslv3" || n == "ssl3" || n == "3.0" ||
      n == "ssl3.0" || n == "sslv2") {
    fail(subject, errc::unsupported_version,
         "TLS 1.0 and 1.1 are deprecated by RFC 8996 and SSL 3.0 by RFC 7568; moat speaks "
         "TLS 1.2 and 1.3");
  }
  fail(subject, errc::unknown_version, "use tlsv1.2 or tlsv1.3");
}

std::vector<std::string> cipher_suites() {
  std::vector<std::string> r;
  for (const auto& c : kCiphers) r.emplace_back(c.iana);
  return r;
}

std::vector<version> versions() {
  return {version::tls1_3, version::tls1_2};
}

namespace detail {

credentials::credentials() {
  check_gnutls(gnutls_certificate_allocate_credentials(&cred));
}
credentials::~credentials() {
  if (cred != nullptr) gnutls_certificate_free_credentials(cred);
  for (auto& pc : pcerts) gnutls_pcert_deinit(&pc);
  if (privkey != nullptr) gnutls_privkey_deinit(privkey);
}

session_cache::session_cache(std::size_t capacity) : capacity_(capacity) {}

void session_cache::put(const std::string& key, std::vector<std::uint8_t> data, bool single_use) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front({key, std::move(data), single_use});
  index_.emplace(key, lru_.begin());
  trim();
}

std::vector<std::uint8_t> session_cache::take(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return {};
  auto e = it->second;
  if (e->single_use) {
    std::vector<std::uint8_t> data = std::move(e->data);
    lru_.erase(e);
    index_.erase(it);
    return data;
  }
  lru_.splice(lru_.begin(), lru_, e);
  return e->data;
}

void session_cache::set_capacity(std::size_t capacity) {
  std::lock_guard lock(mu_);
  capacity_ = capacity;
  trim();
}

std::size_t session_cache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

std::size_t session_cache::capacity() const {
  std::lock_guard lock(mu_);
  return capacity_;
}

void session_cache::trim() {
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

ticket_master_key::ticket_master_key() {
  check_gnutls(gnutls_session_ticket_key_generate(&key_));
}

ticket_master_key::~ticket_master_key() {
  if (key_.data != nullptr) {
    gnutls_memset(key_.data, 0, key_.size);
    gnutls_free(key_.data);
  }
}

lasting_state::lasting_state(role r, std::size_t session_cache_size)
    : sessions(session_cache_size),
      ticket_key(r == role::server ? std::make_unique<ticket_master_key>() : nullptr) {}

context_state::~context_state() {
  if (priority != nullptr) gnutls_priority_deinit(priority);
}

std::shared_ptr<credentials> context_state::credentials_for(std::string_view host) const {
  if (!host.empty()) {
    auto it = sni.find(lower(host));
    if (it != sni.end()) return it->second;
  }
  return main;
}

std::shared_ptr<spdlog::logger> context_state::logger() const {
  return opts.logger ? opts.logger : default_logger();
}

int verify_callback_trampoline(gnutls_session_t session);  // engine.cpp

namespace {

void install_key(credentials& c, const std::vector<pki::certificate>& chain,
                 const pki::private_key& key, const std::string& subject) {
  std::vector<gnutls_x509_crt_t> crts;
  crts.reserve(chain.size());
  for (const auto& cert : chain) crts.push_back(pki::native_handle(cert));
  const int rc = gnutls_certificate_set_x509_key(c.cred, crts.data(), static_cast<int>(crts.size()),
                                                 pki::native_handle(key));
  if (rc < 0) {
    throw config_error(subject, make_gnutls_error(rc), "the TLS library refused this key pair");
  }
  c.chain = chain;
  c.key = key;
}

int present_client_certificate(gnutls_session_t session, const gnutls_datum_t*, int,
                               const gnutls_pk_algorithm_t*, int, gnutls_pcert_st** pcert,
                               unsigned int* pcert_length, gnutls_privkey_t* privkey) {
  credentials* c = session_credentials(session);
  if (c == nullptr || c->pcerts.empty()) {
    *pcert_length = 0;
    return 0;
  }
  *pcert = c->pcerts.data();
  *pcert_length = static_cast<unsigned>(c->pcerts.size());
  *privkey = c->privkey;
  return 0;
}

// A client always presents its configured certificate (like OpenSSL and Erlang): the server
// decides, and says why when it refuses it.
void install_client_retrieve(credentials& c, const std::string& subject) {
  for (const auto& cert : c.chain) {
    gnutls_pcert_st pc{};
    const int rc = gnutls_pcert_import_x509(&pc, pki::native_handle(cert), 0);
    if (rc < 0) throw config_error(subject, make_gnutls_error(rc));
    c.pcerts.push_back(pc);
  }
  check_gnutls(gnutls_privkey_init(&c.privkey));
  const int rc =
      gnutls_privkey_import_x509(c.privkey, pki::native_handle(*c.key), GNUTLS_PRIVKEY_IMPORT_COPY);
  if (rc < 0) throw config_error(subject, make_gnutls_error(rc));
  gnutls_certificate_set_retrieve_function2(c.cred, &present_client_certificate);
}

void install_trust(credentials& c, const std::vector<pki::certificate>& cas) {
  if (cas.empty()) return;
  std::vector<gnutls_x509_crt_t> crts;
  for (const auto& ca : cas) crts.push_back(pki::native_handle(ca));
  const int rc =
      gnutls_certificate_set_x509_trust(c.cred, crts.data(), static_cast<int>(crts.size()));
  if (rc < 0) throw config_error("cacerts", make_gnutls_error(rc));
}

}  // namespace

// A configuration that could never complete a handshake is an error now, not a
// "no supported cipher suites" at every connection later.
void check_usable(const credentials& c, const options& o, const std::string& subject) {
  const auto& leaf = c.chain.front();
  const auto type = leaf.public_key_type();
  unsigned ku = 0;
  unsigned critical = 0;
  if (gnutls_x509_crt_get_key_usage(pki::native_handle(leaf), &ku, &critical) >= 0 &&
      (ku & GNUTLS_KEY_DIGITAL_SIGNATURE) == 0) {
    fail(subject, errc::invalid_option,
         fmt::format("the certificate '{}' has a keyUsage without digitalSignature, so it cannot "
                     "sign TLS handshakes",
                     leaf.subject()));
  }
  auto matches = [&](std::string_view alg) {
    const std::string a = lower(alg);
    switch (type) {
      case pki::key_type::ecdsa_p256:
        return a == "ecdsa_secp256r1_sha256";
      case pki::key_type::ecdsa_p384:
        return a == "ecdsa_secp384r1_sha384";
      case pki::key_type::ed25519:
        return a == "ed25519";
      case pki::key_type::rsa:
        return a.rfind("rsa_", 0) == 0;
    }
    return false;
  };
  if (!o.signature_algs.empty() &&
      std::none_of(o.signature_algs.begin(), o.signature_algs.end(), matches)) {
    fail("signature_algs", errc::invalid_option,
         fmt::format("none of them can sign with the {} key of {}", leaf.public_key_algorithm(),
                     subject));
  }
  const auto& vers = o.versions;
  const bool tls12_only = vers.size() == 1 && vers.front() == version::tls1_2;
  if (tls12_only && !o.ciphers.empty()) {
    const auto parts = parse_ciphers(o.ciphers);
    const char* needed = type == pki::key_type::rsa ? "ECDHE-RSA" : "ECDHE-ECDSA";
    if (parts.kx.count(needed) == 0) {
      fail("ciphers", errc::invalid_option,
           fmt::format("with TLS 1.2 only, a {} certificate needs an {} suite",
                       leaf.public_key_algorithm(), needed));
    }
  }
}

loaded_identity load_identity(const sni_credentials& src, const std::string& subject_prefix) {
  loaded_identity id;
  id.chain = src.cert;
  id.subject = subject_prefix + "cert";
  if (id.chain.empty() && !src.certfile.empty()) {
    const std::string opt = subject_prefix + "certfile";
    id.chain = pki::load_certificates(src.certfile, opt);
    id.subject = fmt::format("{} '{}'", opt, src.certfile.string());
  }
  if (!id.chain.empty()) {
    id.key = src.key;
    std::string key_subject = subject_prefix + "key";
    if (!id.key) {
      // Like Erlang: the key defaults to the certificate file.
      const auto& keyfile = src.keyfile.empty() ? src.certfile : src.keyfile;
      if (keyfile.empty()) {
        fail(subject_prefix + "keyfile", errc::missing_certificate,
             "a certificate was given without its private key");
      }
      if (src.keyfile.empty()) {
        try {
          id.key = pki::load_private_key(keyfile, src.password, subject_prefix + "certfile");
        } catch (const config_error& e) {
          throw config_error(
              subject_prefix + "keyfile", e.code(),
              fmt::format("no keyfile was given, so the key was looked for in {}", e.subject()));
        }
      } else {
        id.key = pki::load_private_key(keyfile, src.password, subject_prefix + "keyfile");
      }
      key_subject = fmt::format("{}keyfile '{}'", subject_prefix, keyfile.string());
    }
    pki::check_chain(id.chain, id.subject);
    pki::check_key_matches(id.chain.front(), *id.key, key_subject);
  } else if (src.key || !src.keyfile.empty()) {
    fail(subject_prefix + "certfile", errc::missing_certificate,
         "a private key was given without its certificate");
  }
  return id;
}

std::shared_ptr<credentials> build_credentials(const std::vector<pki::certificate>& chain,
                                               const std::optional<pki::private_key>& key,
                                               const context_state& st,
                                               const std::string& subject) {
  auto c = std::make_shared<credentials>();
  if (!chain.empty() && key) {
    install_key(*c, chain, *key, subject);
    if (st.side == role::client) install_client_retrieve(*c, subject);
  }
  install_trust(*c, st.trust);
  if (st.trust.empty() && st.side == role::client && st.verify == verify_mode::peer) {
    const int rc = gnutls_certificate_set_x509_system_trust(c->cred);
    if (rc < 0) {
      fail("cacertfile", errc::missing_ca,
           "verify_peer needs CA certificates and the system trust store could not be read");
    }
  }
  gnutls_certificate_set_verify_function(c->cred, &verify_callback_trampoline);
  return c;
}

std::shared_ptr<credentials> make_credentials(const sni_credentials& src, const context_state& st,
                                              const std::string& subject_prefix) {
  const auto id = load_identity(src, subject_prefix);
  return build_credentials(id.chain, id.key, st, id.subject);
}

std::shared_ptr<const context_state> build_state(role r, options opts,
                                                 std::shared_ptr<lasting_state> lasting) {
  auto st = std::make_shared<context_state>();
  st->side = r;
  st->lasting = std::move(lasting);
  st->verify = opts.verify.value_or(r == role::client ? verify_mode::peer : verify_mode::none);

  // Versions.
  if (opts.versions.empty()) opts.versions = {version::tls1_3, version::tls1_2};

  // Trust.
  st->trust = opts.cacerts;
  if (!opts.cacertfile.empty()) {
    auto cas = pki::load_ca_certificates(opts.cacertfile, "cacertfile");
    st->trust.insert(st->trust.end(), cas.begin(), cas.end());
  }
  if (r == role::server && st->verify == verify_mode::peer && st->trust.empty() &&
      !opts.verify_fun) {
    fail("verify", errc::missing_ca,
         "verify_peer on a server needs cacerts or cacertfile to check client certificates");
  }
  if (opts.fail_if_no_peer_cert && st->verify != verify_mode::peer) {
    fail("fail_if_no_peer_cert", errc::invalid_option, "it needs verify = peer");
  }
  if (opts.insecure_allow_key_usage_violation &&
      (r != role::client || st->verify != verify_mode::none)) {
    fail("insecure_allow_key_usage_violation", errc::invalid_option,
         "only for a client with verify = none");
  }
  if (opts.depth > 100) fail("depth", errc::invalid_option, "at most 100");
  if (opts.handshake_timeout.count() <= 0) {
    fail("handshake_timeout", errc::invalid_option, "must be positive");
  }

  // Own certificate.
  sni_credentials own{opts.certfile, opts.keyfile, opts.password, opts.cert, opts.key};
  st->main = make_credentials(own, *st, "");
  if (r == role::server && st->main->chain.empty()) {
    fail("certfile", errc::missing_certificate, "a server needs certfile/keyfile or cert/key");
  }
  for (const auto& [host, creds] : opts.sni_hosts) {
    st->sni[lower(host)] = make_credentials(creds, *st, fmt::format("sni_hosts[{}].", host));
  }

  // Priorities.
  st->priority_string = build_priority(r, opts, opts.versions);
  if (!st->main->chain.empty()) check_usable(*st->main, opts, "certfile");
  for (const auto& [host, creds] : st->sni) {
    check_usable(*creds, opts, fmt::format("sni_hosts[{}].certfile", host));
  }
  const char* err_pos = nullptr;
  const int rc = gnutls_priority_init(&st->priority, st->priority_string.c_str(), &err_pos);
  if (rc < 0) {
    fail("ciphers", errc::invalid_option,
         fmt::format("the TLS library rejected '{}' at '{}'", st->priority_string,
                     err_pos != nullptr ? err_pos : ""));
  }

  // ALPN.
  for (const auto& p : opts.alpn) {
    if (p.empty() || p.size() > 255) {
      fail(fmt::format("alpn '{}'", p), errc::invalid_option, "a protocol name is 1..255 bytes");
    }
  }
  st->alpn = opts.alpn;

  // Sessions. The ticket key and the session cache live in `lasting`, across reloads.
  if (opts.session_tickets > 10) fail("session_tickets", errc::invalid_option, "at most 10");
  if (opts.session_cache_size == 0) {
    fail("session_cache_size", errc::invalid_option,
         "at least 1 (reuse_sessions = false turns resumption off)");
  }

  // Key log file: fail now, not at the first handshake. It holds secrets: 0600.
  if (!opts.keylog_file.empty()) {
    const int fd =
        ::open(opts.keylog_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      fail(fmt::format("keylog_file '{}'", opts.keylog_file.string()), errc::invalid_option,
           fmt::format("cannot open it for appending: {}", std::strerror(errno)));
    }
    ::close(fd);
  }
  st->opts = std::move(opts);
  return st;
}

}  // namespace detail

struct context::shared {
  role side;
  mutable std::mutex mu;
  std::shared_ptr<const detail::context_state> state;
  // What outlives a reload (the rebuilt state points to it too).
  std::shared_ptr<detail::lasting_state> lasting;
};

context::context(role r, options opts) : shared_(std::make_shared<shared>()) {
  shared_->side = r;
  shared_->lasting = std::make_shared<detail::lasting_state>(r, opts.session_cache_size);
  shared_->state = detail::build_state(r, std::move(opts), shared_->lasting);
}

std::shared_ptr<spdlog::logger> context::logger() const {
  return state()->logger();
}

role context::side() const noexcept {
  return shared_->side;
}

options context::opts() const {
  std::lock_guard lock(shared_->mu);
  return shared_->state->opts;
}

std::shared_ptr<const detail::context_state> context::state() const {
  std::lock_guard lock(shared_->mu);
  return shared_->state;
}

void context::reload(options opts) {
  auto next = detail::build_state(shared_->side, std::move(opts), shared_->lasting);
  std::lock_guard lock(shared_->mu);
  shared_->lasting->sessions.set_capacity(next->opts.session_cache_size);
  shared_->state = std::move(next);
}

context_summary context::summary() const {
  auto st = state();
  context_summary s;
  s.versions = st->opts.versions;
  s.selects_certificate = st->opts.select_certificate || st->opts.sni_fun;
  if (!st->main->chain.empty()) {
    const auto& leaf = st->main->chain.front();
    s.certificate_subject = leaf.subject();
    s.certificate_sans = leaf.subject_alt_names();
    s.certificate_expiry =
        fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                    fmt::gmtime(std::chrono::system_clock::to_time_t(leaf.not_after())));
    s.certificate_not_after = leaf.not_after();
    s.certificate_fingerprint = leaf.sha256_fingerprint();
  }
  return s;
}

}  // namespace moat::tls
