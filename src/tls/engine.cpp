// The I/O-free TLS engine over a GnuTLS session: GnuTLS reads from and writes to the
// engine's own buffers through its pull/push callbacks; the caller moves bytes.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <moat/tls/detail/client_hello_reader.hpp>
#include <moat/tls/detail/engine.hpp>
#include <moat/tls/errors.hpp>

#include "pki/native.hpp"
#include "tls/context_state.hpp"
#include "tls/gnutls_util.hpp"

namespace moat::tls::detail {
namespace {

constexpr std::size_t kMaxRecordPlaintext = 16384;

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// The DNS name a client asked for with SNI (server side), empty when none.
std::string requested_server_name(gnutls_session_t s) {
  char name[256];
  std::size_t len = sizeof(name);
  unsigned type = 0;
  if (gnutls_server_name_get(s, name, &len, &type, 0) != 0 || type != GNUTLS_NAME_DNS) return {};
  return std::string(name, len);
}

std::string hex(const unsigned char* p, std::size_t n) {
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) fmt::format_to(std::back_inserter(s), "{:02x}", p[i]);
  return s;
}

// Reasons that GnuTLS's own verification and moat's per-certificate attribution may name
// differently; a user override of one excuses the other.
errc excuse_class(errc e) {
  switch (e) {
    case errc::self_signed_peer:
      return errc::unknown_ca;
    case errc::invalid_key_usage:
      return errc::missing_basic_constraint;
    default:
      return e;
  }
}

}  // namespace

/// Where a server's asynchronous certificate selection stands.
enum class selection {
  off,      ///< no selector, or the selector said nullopt: sni_fun / sni_hosts / main
  reading,  ///< the ClientHello has not all arrived yet
  waiting,  ///< the selector runs (handshake() wants `certificate`)
  chosen,   ///< the selector's certificate is set
  failed,   ///< the selector failed: the ClientHello is refused with unrecognized_name
};

struct engine::impl {
  engine* owner;
  gnutls_session_t session = nullptr;
  std::shared_ptr<const context_state> state;
  std::shared_ptr<credentials> creds;
  std::shared_ptr<credentials> sni_creds;  // chosen by sni_fun, kept alive
  std::string server_name;                 // client: SNI + name to verify
  std::string session_key;                 // client: session cache key
  std::error_code verify_error;            // why the verify callback failed the handshake
  bool peer_verified = false;
  std::unique_ptr<std::ofstream> keylog_file;  // only when asked for (an ofstream is ~0.5 KiB)
  selection select = selection::off;
  client_hello_reader hello_reader;  // server with a selector: reads the ClientHello first

  impl(engine* o, const context& ctx, std::string name, std::string key)
      : owner(o), state(ctx.state()), server_name(std::move(name)), session_key(std::move(key)) {
    const context_state& st = *state;
    const bool server = st.side == role::server;
    unsigned flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL |
                     GNUTLS_NO_AUTO_SEND_TICKET;
    if (!st.opts.reuse_sessions) flags |= GNUTLS_NO_TICKETS;
    check_gnutls(gnutls_init(&session, flags));
    gnutls_session_set_ptr(session, this);
    gnutls_transport_set_ptr(session, this);
    gnutls_transport_set_push_function(session, &impl::push);
    gnutls_transport_set_pull_function(session, &impl::pull);
    gnutls_transport_set_pull_timeout_function(session, &impl::pull_timeout);
    gnutls_handshake_set_timeout(session, 0);  // the stream owns timeouts
    check_gnutls(gnutls_priority_set(session, st.priority));
    creds = st.main;
    check_gnutls(gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, creds->cred));

    if (server) {
      gnutls_certificate_server_set_request(
          session, st.verify == verify_mode::peer
                       ? (st.opts.fail_if_no_peer_cert ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST)
                       : GNUTLS_CERT_IGNORE);
      if (st.opts.reuse_sessions) {
        check_gnutls(
            gnutls_session_ticket_enable_server(session, &st.lasting->ticket_key->datum()));
      }
      gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                         &impl::on_client_hello_parsed);
      if (st.opts.select_certificate) select = selection::reading;
      if (!st.sni.empty() || st.opts.sni_fun || st.opts.select_certificate) {
        gnutls_handshake_set_post_client_hello_function(session, &impl::on_client_hello);
      }
    } else {
      if (!server_name.empty() && !st.opts.disable_sni && !is_ip_literal(server_name)) {
        check_gnutls(gnutls_server_name_set(session, GNUTLS_NAME_DNS, server_name.data(),
                                            server_name.size()));
      }
      if (st.opts.reuse_sessions && !session_key.empty()) {
        // A TLS 1.3 ticket leaves the cache here: it is used once (RFC 8446 appendix C.4).
        auto data = st.lasting->sessions.take(session_key);
        if (!data.empty()) gnutls_session_set_data(session, data.data(), data.size());
        gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
                                           GNUTLS_HOOK_POST, &impl::on_new_ticket);
      }
    }
    if (!st.alpn.empty()) {
      std::vector<gnutls_datum_t> protos;
      for (const auto& p : st.alpn) {
        protos.push_back({reinterpret_cast<unsigned char*>(const_cast<char*>(p.data())),
                          static_cast<unsigned>(p.size())});
      }
      check_gnutls(gnutls_alpn_set_protocols(
          session, protos.data(), static_cast<unsigned>(protos.size()),
          server ? (GNUTLS_ALPN_SERVER_PRECEDENCE | GNUTLS_ALPN_MANDATORY) : 0U));
    }
    if (st.opts.keylog || !st.opts.keylog_file.empty()) {
      if (!st.opts.keylog_file.empty()) {
        keylog_file = std::make_unique<std::ofstream>(st.opts.keylog_file, std::ios::app);
      }
      gnutls_session_set_keylog_function(session, &impl::on_keylog);
    }
  }

  ~impl() {
    if (session != nullptr) gnutls_deinit(session);
  }

  static impl* self(gnutls_session_t s) { return static_cast<impl*>(gnutls_session_get_ptr(s)); }

  static ssize_t push(gnutls_transport_ptr_t p, const void* data, std::size_t n) {
    auto* e = static_cast<impl*>(p)->owner;
    const auto* b = static_cast<const std::uint8_t*>(data);
    e->out_.insert(e->out_.end(), b, b + n);
    return static_cast<ssize_t>(n);
  }

  static ssize_t pull(gnutls_transport_ptr_t p, void* data, std::size_t n) {
    auto* i = static_cast<impl*>(p);
    auto* e = i->owner;
    const std::size_t avail = e->in_.size() - e->in_begin_;
    if (avail > 0) {
      const std::size_t k = std::min(avail, n);
      std::memcpy(data, e->in_.data() + e->in_begin_, k);
      e->in_begin_ += k;
      if (e->in_begin_ == e->in_.size()) {
        e->in_.clear();
        e->in_begin_ = 0;
      }
      return static_cast<ssize_t>(k);
    }
    if (e->lent_size_ > 0) {
      const std::size_t k = std::min(e->lent_size_, n);
      std::memcpy(data, e->lent_, k);
      e->lent_ += k;
      e->lent_size_ -= k;
      return static_cast<ssize_t>(k);
    }
    if (e->eof_) return 0;
    gnutls_transport_set_errno(i->session, EAGAIN);
    return -1;
  }

  static int pull_timeout(gnutls_transport_ptr_t p, unsigned int /*ms*/) {
    auto* e = static_cast<impl*>(p)->owner;
    return (e->in_.size() > e->in_begin_ || e->lent_size_ > 0 || e->eof_) ? 1 : 0;
  }

  static int on_client_hello(gnutls_session_t s) {
    impl* i = self(s);
    if (i->select == selection::failed) {
      i->verify_error = make_error_code(errc::unrecognized_name);
      return GNUTLS_E_UNRECOGNIZED_NAME;
    }
    if (i->select == selection::chosen) return 0;
    const std::string host = requested_server_name(s);
    if (host.empty()) return 0;
    const auto& st = *i->state;
    std::shared_ptr<credentials> chosen;
    if (st.opts.sni_fun) {
      try {
        if (auto creds = st.opts.sni_fun(host)) {
          chosen = make_credentials(*creds, st, fmt::format("sni_fun({}).", host));
        }
      } catch (const std::exception&) {
        i->verify_error = make_error_code(errc::unrecognized_name);
        return GNUTLS_E_UNRECOGNIZED_NAME;
      }
    }
    if (!chosen) chosen = st.credentials_for(host);
    if (chosen != i->creds) {
      i->sni_creds = chosen;
      if (gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, chosen->cred) < 0) {
        return GNUTLS_E_INTERNAL_ERROR;
      }
    }
    return 0;
  }

  /// Server: a TLS 1.2 client must signal safe renegotiation (RFC 5746), with the
  /// renegotiation_info extension or the SCSV (both are parsed by now); TLS 1.3 has no
  /// renegotiation, so the policy does not apply to it.
  static int on_client_hello_parsed(gnutls_session_t s, unsigned, unsigned, unsigned,
                                    const gnutls_datum_t*) {
    if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_3 &&
        gnutls_safe_renegotiation_status(s) == 0) {
      return GNUTLS_E_SAFE_RENEGOTIATION_FAILED;
    }
    return 0;
  }

  static int on_new_ticket(gnutls_session_t s, unsigned, unsigned, unsigned,
                           const gnutls_datum_t*) {
    self(s)->store_session();
    return 0;
  }

  static int on_keylog(gnutls_session_t s, const char* label, const gnutls_datum_t* secret) {
    impl* i = self(s);
    gnutls_datum_t client_random{}, server_random{};
    gnutls_session_get_random(s, &client_random, &server_random);
    const std::string line =
        fmt::format("{} {} {}", label, hex(client_random.data, client_random.size),
                    hex(secret->data, secret->size));
    if (i->state->opts.keylog) i->state->opts.keylog(line);
    if (i->keylog_file && i->keylog_file->is_open()) *i->keylog_file << line << '\n' << std::flush;
    return 0;
  }

  void store_session() {
    gnutls_datum_t data{};
    if (gnutls_session_get_data2(session, &data) == 0) {
      state->lasting->sessions.put(session_key,
                                   std::vector<std::uint8_t>(data.data, data.data + data.size),
                                   gnutls_protocol_get_version(session) == GNUTLS_TLS1_3);
      gnutls_free(data.data);
    }
  }

  // ---- Verification -------------------------------------------------------------------
  //
  // GnuTLS builds the path and decides (it sorts what the peer sent, leaves out certificates
  // that belong to no path and follows cross-signs to a trusted certificate). moat then walks
  // the same path from the anchor down to the peer's own certificate, only to name each
  // reason on the certificate it concerns and to drive the user's verify_fun: it never
  // refuses what GnuTLS accepts, except for moat's own `depth` limit.

  /// A path from the peer's certificate (first) towards the trust anchor.
  struct peer_path {
    std::vector<const pki::certificate*> certs;
    bool ends_with_anchor = false;  ///< the last one is the trusted certificate itself
  };

  [[nodiscard]] gnutls_x509_trust_list_t trust_list() const {
    gnutls_x509_trust_list_t tl = nullptr;
    credentials* c = sni_creds ? sni_creds.get() : creds.get();
    gnutls_certificate_get_trust_list(c->cred, &tl);
    return tl;
  }

  /// The path as GnuTLS builds it (gnutls_x509_trust_list_verify_crt2): from the peer's own
  /// certificate, each next one is a received certificate that issued the one before, until
  /// one is issued by a trusted certificate or none is found. When the peer also sent that
  /// trusted certificate, it ends the path. What the peer sent beyond the path is left out.
  [[nodiscard]] peer_path build_path(const std::vector<pki::certificate>& received) const {
    gnutls_x509_trust_list_t tl = trust_list();
    peer_path p;
    std::vector<bool> used(received.size(), false);
    p.certs.push_back(&received[0]);
    used[0] = true;
    while (p.certs.size() < received.size()) {
      gnutls_x509_crt_t cur = pki::native_handle(*p.certs.back());
      gnutls_x509_crt_t anchor = nullptr;
      if (tl != nullptr &&
          gnutls_x509_trust_list_get_issuer(tl, cur, &anchor, GNUTLS_TL_GET_COPY) == 0) {
        for (std::size_t j = 0; j < received.size(); ++j) {
          if (!used[j] && gnutls_x509_crt_equals(pki::native_handle(received[j]), anchor) != 0) {
            p.certs.push_back(&received[j]);
            p.ends_with_anchor = true;
            break;
          }
        }
        gnutls_x509_crt_deinit(anchor);
        break;
      }
      if (gnutls_x509_crt_check_issuer(cur, cur) != 0) break;  // self-signed, not trusted
      bool found = false;
      for (std::size_t j = 0; j < received.size() && !found; ++j) {
        if (!used[j] && gnutls_x509_crt_check_issuer(cur, pki::native_handle(received[j])) != 0) {
          p.certs.push_back(&received[j]);
          used[j] = true;
          found = true;
        }
      }
      if (!found) break;
    }
    return p;
  }

  /// What moat's walk finds wrong with each certificate of the path (index = depth).
  [[nodiscard]] std::vector<std::vector<errc>> path_reasons(const peer_path& path) const {
    const context_state& st = *state;
    const auto& certs = path.certs;
    const std::size_t top = certs.size() - 1;
    const bool top_self_signed = gnutls_x509_crt_check_issuer(pki::native_handle(*certs[top]),
                                                              pki::native_handle(*certs[top])) != 0;
    // Certificates between the peer's and the anchor (or an untrusted root): the ones moat's
    // `depth` limits.
    const std::size_t intermediates =
        top - (path.ends_with_anchor || (top > 0 && top_self_signed) ? 1 : 0);
    const auto now = std::chrono::system_clock::now();
    std::vector<std::vector<errc>> reasons(certs.size());
    for (std::size_t idx = 0; idx < certs.size(); ++idx) {
      const auto& cert = *certs[idx];
      gnutls_x509_crt_t crt = pki::native_handle(cert);
      auto& r = reasons[idx];
      if (idx == top) {
        if (auto a = anchor_reason(crt, certs.size() == 1 && top_self_signed)) r.push_back(*a);
      }
      if (idx > 0 && idx == intermediates && intermediates > st.opts.depth) {
        r.push_back(errc::path_too_long);
      }
      if (now > cert.not_after()) r.push_back(errc::cert_expired);
      if (now < cert.not_before()) r.push_back(errc::cert_not_yet_valid);
      if (idx < top) {
        gnutls_x509_crt_t issuer = pki::native_handle(*certs[idx + 1]);
        unsigned status = 0;
        const int rc = gnutls_x509_crt_verify(crt, &issuer, 1,
                                              GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                                                  GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS |
                                                  GNUTLS_VERIFY_ALLOW_UNSORTED_CHAIN,
                                              &status);
        if (rc < 0 || (status & GNUTLS_CERT_SIGNATURE_FAILURE) != 0) {
          r.push_back(errc::invalid_signature);
        } else if ((status & GNUTLS_CERT_INSECURE_ALGORITHM) != 0) {
          r.push_back(errc::insecure_algorithm);
        }
      }
      if (idx > 0) {
        // This certificate issues the one below it: it must be a CA allowed to sign.
        unsigned critical = 0;
        if (gnutls_x509_crt_get_ca_status(crt, &critical) <= 0) {
          r.push_back(errc::missing_basic_constraint);
        }
        unsigned ku = 0;
        if (gnutls_x509_crt_get_key_usage(crt, &ku, &critical) >= 0 &&
            (ku & GNUTLS_KEY_KEY_CERT_SIGN) == 0) {
          r.push_back(errc::invalid_key_usage);
        }
      } else {
        leaf_reasons(crt, r);
      }
    }
    return reasons;
  }

  /// Which of GnuTLS's verdicts a reason of moat's walk at `depth` names: a verify_fun that
  /// accepts the reason excuses that verdict. moat's own `depth` limit and the peer key's
  /// missing digitalSignature (GnuTLS refuses it when it checks the handshake signature, not
  /// in path validation) excuse nothing else.
  static bool moats_own(errc r, std::size_t depth) {
    return r == errc::path_too_long || (r == errc::invalid_key_usage && depth == 0);
  }
  static errc verdict_of(errc r, std::size_t depth) {
    return moats_own(r, depth) ? r : excuse_class(r);
  }

  /// Called by GnuTLS when the peer's certificates have arrived. 0 = go on.
  int verify() {
    const context_state& st = *state;
    if (st.verify != verify_mode::peer) return 0;
    unsigned n = 0;
    const gnutls_datum_t* raw = gnutls_certificate_get_peers(session, &n);
    if (raw == nullptr || n == 0) {
      if (st.side == role::client || st.opts.fail_if_no_peer_cert) {
        verify_error = make_error_code(errc::no_peer_certificate);
        return -1;
      }
      return 0;
    }
    std::vector<pki::certificate> received;
    try {
      for (unsigned k = 0; k < n; ++k) {
        received.push_back(
            pki::certificate::from_der(std::span<const std::uint8_t>(raw[k].data, raw[k].size)));
      }
    } catch (const std::exception&) {
      verify_error = make_error_code(errc::bad_certificate);
      return -1;
    }

    // GnuTLS's verdict on the path it builds.
    unsigned status = 0;
    std::vector<gnutls_typed_vdata_st> data;
    const bool check_name =
        st.side == role::client && !server_name.empty() && !st.opts.insecure_skip_hostname_check;
    if (check_name) {
      data.push_back(
          {GNUTLS_DT_DNS_HOSTNAME, reinterpret_cast<unsigned char*>(server_name.data()), 0});
    }
    data.push_back(
        {GNUTLS_DT_KEY_PURPOSE_OID,
         reinterpret_cast<unsigned char*>(const_cast<char*>(
             st.side == role::client ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT)),
         0});
    const int rc = gnutls_certificate_verify_peers(session, data.data(),
                                                   static_cast<unsigned>(data.size()), &status);
    if (rc < 0) {
      verify_error = make_error_code(errc::bad_certificate);
      return -1;
    }
    const std::vector<errc> verdicts = status_reasons(status);

    // moat's walk along that path names the reasons: those GnuTLS also found (never
    // stricter), plus moat's own depth limit and the key usage GnuTLS checks later.
    const peer_path path = build_path(received);
    auto reasons = path_reasons(path);
    for (std::size_t d = 0; d < reasons.size(); ++d) {
      auto& r = reasons[d];
      r.erase(std::remove_if(r.begin(), r.end(),
                             [&](errc e) {
                               if (moats_own(e, d)) return false;
                               return std::none_of(verdicts.begin(), verdicts.end(), [&](errc v) {
                                 return excuse_class(v) == verdict_of(e, d);
                               });
                             }),
              r.end());
    }
    // A verdict the walk could not place goes to the peer's certificate when it is about the
    // peer (its name, its purpose), else to the top of the path.
    for (errc v : verdicts) {
      bool placed = false;
      for (std::size_t d = 0; d < reasons.size() && !placed; ++d) {
        for (errc e : reasons[d]) placed = placed || verdict_of(e, d) == excuse_class(v);
      }
      if (placed) continue;
      const bool about_peer = v == errc::hostname_mismatch || v == errc::invalid_ext_key_usage;
      reasons[about_peer ? 0 : reasons.size() - 1].push_back(v);
    }

    std::vector<errc> overridden;
    auto decide = [&](verify_info vi, std::size_t depth) -> bool {
      if (!st.opts.verify_fun) {
        if (vi.event == verify_event::bad_cert) {
          verify_error = vi.reason;
          return false;
        }
        return true;
      }
      verify_result r = verify_result::fail;
      try {
        r = st.opts.verify_fun(vi);
      } catch (const std::exception&) {
        r = verify_result::fail;
      }
      if (vi.event == verify_event::bad_cert) {
        if (r == verify_result::valid) {
          overridden.push_back(verdict_of(static_cast<errc>(vi.reason.value()), depth));
          return true;
        }
        verify_error = vi.reason;
        return false;
      }
      if (r == verify_result::fail) {
        verify_error = make_error_code(errc::rejected_by_verify_fun);
        return false;
      }
      return true;
    };

    for (std::size_t d = path.certs.size(); d-- > 0;) {
      const pki::certificate* cert = path.certs[d];
      const auto depth = static_cast<unsigned>(d);
      for (errc r : reasons[d]) {
        if (!decide({verify_event::bad_cert, make_error_code(r), {}, cert, depth}, d)) return -1;
      }
      if (!decide({d == 0 ? verify_event::valid_peer : verify_event::valid, {}, {}, cert, depth},
                  d)) {
        return -1;
      }
    }

    // Every verdict of GnuTLS stands unless the user's callback accepted it.
    for (errc v : verdicts) {
      if (std::find(overridden.begin(), overridden.end(), excuse_class(v)) == overridden.end()) {
        verify_error = make_error_code(v);
        return -1;
      }
    }
    peer_verified = true;
    return 0;
  }

  std::optional<errc> anchor_reason(gnutls_x509_crt_t top, bool lone_self_signed) const {
    gnutls_x509_trust_list_t tl = trust_list();
    unsigned status = 0;
    gnutls_x509_crt_t list[1] = {top};
    const int rc = gnutls_x509_trust_list_verify_crt(
        tl, list, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
        &status, nullptr);
    if (rc < 0 || (status & GNUTLS_CERT_SIGNER_NOT_FOUND) != 0) {
      return lone_self_signed ? errc::self_signed_peer : errc::unknown_ca;
    }
    if ((status & GNUTLS_CERT_SIGNATURE_FAILURE) != 0) return errc::invalid_signature;
    if ((status & (GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE | GNUTLS_CERT_SIGNER_NOT_CA)) != 0) {
      return errc::missing_basic_constraint;
    }
    if ((status & GNUTLS_CERT_INSECURE_ALGORITHM) != 0) return errc::insecure_algorithm;
    return std::nullopt;
  }

  void leaf_reasons(gnutls_x509_crt_t crt, std::vector<errc>& reasons) const {
    const context_state& st = *state;
    if (st.side == role::client && !server_name.empty() && !st.opts.insecure_skip_hostname_check &&
        gnutls_x509_crt_check_hostname2(crt, server_name.c_str(), 0) == 0) {
      reasons.push_back(errc::hostname_mismatch);
    }
    unsigned critical = 0;
    unsigned ku = 0;
    if (gnutls_x509_crt_get_key_usage(crt, &ku, &critical) >= 0 &&
        (ku & GNUTLS_KEY_DIGITAL_SIGNATURE) == 0) {
      // Every suite moat offers is ECDHE: the peer's key signs the handshake.
      reasons.push_back(errc::invalid_key_usage);
    }
    const char* purpose =
        st.side == role::client ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT;
    if (gnutls_x509_crt_check_key_purpose(crt, purpose, 0) == 0) {
      reasons.push_back(errc::invalid_ext_key_usage);
    }
  }

  static std::vector<errc> status_reasons(unsigned status) {
    std::vector<errc> r;
    if (status == 0) return r;
    if ((status & GNUTLS_CERT_EXPIRED) != 0) r.push_back(errc::cert_expired);
    if ((status & GNUTLS_CERT_NOT_ACTIVATED) != 0) r.push_back(errc::cert_not_yet_valid);
    if ((status & GNUTLS_CERT_SIGNER_NOT_FOUND) != 0) r.push_back(errc::unknown_ca);
    if ((status & GNUTLS_CERT_SIGNATURE_FAILURE) != 0) r.push_back(errc::invalid_signature);
    if ((status & GNUTLS_CERT_UNEXPECTED_OWNER) != 0) r.push_back(errc::hostname_mismatch);
    if ((status & (GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE | GNUTLS_CERT_SIGNER_NOT_CA)) != 0) {
      r.push_back(errc::missing_basic_constraint);
    }
    if ((status & GNUTLS_CERT_PURPOSE_MISMATCH) != 0) r.push_back(errc::invalid_ext_key_usage);
    if ((status & GNUTLS_CERT_REVOKED) != 0) r.push_back(errc::revoked);
    if ((status & GNUTLS_CERT_INSECURE_ALGORITHM) != 0) r.push_back(errc::insecure_algorithm);
    if (r.empty()) r.push_back(errc::bad_certificate);
    return r;
  }
};

credentials* session_credentials(gnutls_session_t session) noexcept {
  auto* i = static_cast<engine::impl*>(gnutls_session_get_ptr(session));
  if (i == nullptr) return nullptr;
  return i->sni_creds ? i->sni_creds.get() : i->creds.get();
}

int verify_callback_trampoline(gnutls_session_t session) {
  auto* i = static_cast<engine::impl*>(gnutls_session_get_ptr(session));
  return i != nullptr ? i->verify() : -1;
}

engine::engine(const context& ctx, std::string server_name, std::string session_key)
    : impl_(std::make_unique<impl>(this, ctx, std::move(server_name), std::move(session_key))) {}

engine::~engine() = default;

std::span<std::uint8_t> engine::prepare_input(std::size_t n) {
  if (in_begin_ > 0 && in_begin_ * 2 >= in_.size()) {
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_begin_));
    in_begin_ = 0;
  }
  pending_ = in_.size();
  in_.resize(pending_ + n);
  return {in_.data() + pending_, n};
}

void engine::commit_input(std::size_t n) {
  in_.resize(pending_ + n);
  remember_tail({in_.data() + pending_, n});
}

void engine::remember_tail(std::span<const std::uint8_t> bytes) noexcept {
  // Keep the last few bytes: a peer that rejects our certificate in TLS 1.3 may send its
  // alert in plaintext, which the library then fails to decrypt (see handshake()).
  if (handshake_done_) return;
  const std::size_t keep = std::min(bytes.size(), tail_.size());
  const std::size_t shift = std::min(tail_len_, tail_.size() - keep);
  std::memmove(tail_.data(), tail_.data() + (tail_len_ - shift), shift);
  std::memcpy(tail_.data() + shift, bytes.data() + bytes.size() - keep, keep);
  tail_len_ = shift + keep;
}

void engine::lend_input(std::span<const std::uint8_t> bytes) noexcept {
  lent_ = bytes.data();
  lent_size_ = bytes.size();
  remember_tail(bytes);
}

void engine::keep_input() {
  if (lent_size_ > 0) in_.insert(in_.end(), lent_, lent_ + lent_size_);
  lent_ = nullptr;
  lent_size_ = 0;
}

void engine::swap_output_storage(std::vector<std::uint8_t>& spare) noexcept {
  if (out_begin_ != out_.size()) return;  // output pending: it stays where it is
  out_.clear();
  out_begin_ = 0;
  spare.clear();
  out_.swap(spare);
}

std::optional<std::uint8_t> engine::plaintext_alert() const noexcept {
  // A TLSPlaintext alert record: type 21, version 3.x, length 2, level, description.
  for (std::size_t i = 0; i + 7 <= tail_len_; ++i) {
    const auto* r = tail_.data() + i;
    if (r[0] == 21 && r[1] == 3 && r[2] >= 1 && r[2] <= 4 && r[3] == 0 && r[4] == 2 &&
        (r[5] == 1 || r[5] == 2)) {
      return r[6];
    }
  }
  return std::nullopt;
}

std::span<const std::uint8_t> engine::output() const noexcept {
  return {out_.data() + out_begin_, out_.size() - out_begin_};
}

void engine::consume_output(std::size_t n) noexcept {
  out_begin_ += n;
  if (out_begin_ >= out_.size()) {
    out_.clear();
    out_begin_ = 0;
  }
}

void engine::take_output(std::vector<std::uint8_t>& out) {
  out.clear();
  if (out_begin_ == 0) {
    out.swap(out_);
  } else {
    out.assign(out_.begin() + static_cast<std::ptrdiff_t>(out_begin_), out_.end());
    out_.clear();
    out_begin_ = 0;
  }
}

bool engine::has_pending_input() const noexcept {
  return buffered_input() > 0 || gnutls_record_check_pending(impl_->session) > 0;
}

want engine::finish(int rc, std::error_code& ec) {
  const bool have_output = out_.size() > out_begin_;
  if (rc >= 0) {
    ec.clear();
    return have_output ? want::output : want::nothing;
  }
  if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
    ec.clear();
    return have_output ? want::output_and_retry : want::input_and_retry;
  }
  ec = make_gnutls_error(rc, impl_->session, eof_);
  return have_output ? want::output : want::nothing;
}

want engine::handshake(std::error_code& ec) {
  if (impl_->select == selection::reading) {
    // The ClientHello stays in the input, for the library to read once the certificate is
    // chosen: the library chooses its certificate while it reads the hello.
    switch (impl_->hello_reader.read({in_.data() + in_begin_, in_.size() - in_begin_})) {
      case client_hello_reader::status::incomplete:
        if (!eof_) {
          ec.clear();
          return want::input_and_retry;
        }
        impl_->select = selection::off;  // the library reports the truncated hello
        break;
      case client_hello_reader::status::complete:
        impl_->select = selection::waiting;
        break;
      case client_hello_reader::status::unreadable:
        impl_->select = selection::off;  // the library refuses what is malformed
        break;
    }
  }
  if (impl_->select == selection::waiting) {
    ec.clear();
    return want::certificate;
  }
  gnutls_session_t s = impl_->session;
  int rc = gnutls_handshake(s);
  // GnuTLS takes one record per call and then says "again", even when the rest of a handshake
  // message split over records is already here (found by fuzz/tls_server_engine): go on while
  // it consumes buffered input, rather than wait for bytes that have arrived.
  while ((rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) && buffered_input() > 0) {
    const std::size_t buffered = buffered_input();
    rc = gnutls_handshake(s);
    if (buffered_input() >= buffered) break;  // nothing taken: it needs more than this
  }
  if (rc == 0) {
    handshake_done_ = true;
    const context_state& st = *impl_->state;
    const bool tls13 = gnutls_protocol_get_version(s) == GNUTLS_TLS1_3;
    if (st.side == role::server && tls13 && st.opts.reuse_sessions && st.opts.session_tickets > 0) {
      if (const int trc = gnutls_session_ticket_send(s, st.opts.session_tickets, 0); trc < 0) {
        // Not fatal: this client just cannot resume; say why.
        st.logger()->warn("tls: could not send session tickets: {}", gnutls_strerror(trc));
      }
    }
    if (st.side == role::client && !tls13 && st.opts.reuse_sessions &&
        !impl_->session_key.empty()) {
      impl_->store_session();
    }
    if (st.verify == verify_mode::none && st.side == role::client) impl_->peer_verified = false;
    return finish(0, ec);
  }
  if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) return finish(rc, ec);
  // A failed handshake: send the alert that says why (once), then report the reason.
  std::error_code reason =
      impl_->verify_error ? impl_->verify_error : make_gnutls_error(rc, s, eof_);
  if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) reason = make_gnutls_error(rc, s);
  if (rc == GNUTLS_E_DECRYPTION_FAILED) {
    if (auto alert = plaintext_alert()) {
      // The peer rejected us with an unencrypted alert (OpenSSL does so in TLS 1.3 when it
      // fails our certificate): report what it said.
      finish(rc, ec);
      ec = received_alert_error(*alert);
      return out_.size() > out_begin_ ? want::output : want::nothing;
    }
  }
  if (rc != GNUTLS_E_FATAL_ALERT_RECEIVED && rc != GNUTLS_E_PREMATURE_TERMINATION &&
      alert_sent_ == 0) {
    if (reason.category() == category() && alert_for(static_cast<errc>(reason.value())) != 0) {
      alert_sent_ = alert_for(static_cast<errc>(reason.value()));
      // certificate_required exists only in TLS 1.3; TLS 1.2 says handshake_failure.
      if (alert_sent_ == 116 && gnutls_protocol_get_version(s) != GNUTLS_TLS1_3) alert_sent_ = 40;
      gnutls_alert_send(s, GNUTLS_AL_FATAL, static_cast<gnutls_alert_description_t>(alert_sent_));
    } else {
      const int alert = gnutls_error_to_alert(rc, nullptr);
      if (alert >= 0) {
        alert_sent_ = static_cast<std::uint8_t>(alert);
        gnutls_alert_send_appropriate(s, rc);
      }
    }
  }
  finish(rc, ec);
  ec = reason;
  return out_.size() > out_begin_ ? want::output : want::nothing;
}

const client_hello& engine::hello() const noexcept {
  return impl_->hello_reader.hello();
}

const certificate_selector& engine::selector() const noexcept {
  return impl_->state->opts.select_certificate;
}

void engine::use_certificate(std::optional<certificate_set> chosen) {
  if (impl_->select != selection::waiting) return;
  if (!chosen) {
    impl_->select = selection::off;
    return;
  }
  try {
    auto creds = chosen->state()->credentials_for(impl_->state);
    check_gnutls(gnutls_credentials_set(impl_->session, GNUTLS_CRD_CERTIFICATE, creds->cred));
    impl_->sni_creds = std::move(creds);
    impl_->select = selection::chosen;
  } catch (...) {
    fail_certificate(std::current_exception());
  }
}

void engine::fail_certificate(std::exception_ptr why) {
  if (impl_->select != selection::waiting) return;
  impl_->select = selection::failed;
  std::string what = "unknown exception";
  try {
    if (why) std::rethrow_exception(why);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {  // NOLINT(bugprone-empty-catch): described as "unknown exception"
  }
  const auto& st = *impl_->state;
  const auto& h = impl_->hello_reader.hello();
  st.lasting->selection_failures.log(*st.logger(), spdlog::level::warn, [&](std::uint64_t dropped) {
    // The protocol names are the peer's bytes: escaped, so that they cannot forge log lines.
    std::string alpn;
    for (const auto& p : h.alpn) {
      if (!alpn.empty()) alpn += ',';
      for (const char c : p) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
          alpn += c;
        } else {
          alpn += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        }
      }
    }
    return fmt::format(
        "tls: the certificate selector failed for server name '{}' (ALPN offered: {}): {}; "
        "handshake refused (alert sent: unrecognized_name){}",
        h.server_name, alpn.empty() ? std::string("none") : alpn, what,
        dropped > 0 ? fmt::format(" ({} more such lines suppressed)", dropped) : std::string());
  });
}

want engine::read(std::span<std::uint8_t> buf, std::size_t& n, std::error_code& ec) {
  n = 0;
  gnutls_session_t s = impl_->session;
  for (;;) {
    const auto rc = gnutls_record_recv(s, buf.data(), buf.size());
    if (rc > 0) {
      n = static_cast<std::size_t>(rc);
      return finish(0, ec);
    }
    if (rc == 0) {
      finish(0, ec);
      ec = make_error_code(errc::closed);
      return out_.size() > out_begin_ ? want::output : want::nothing;
    }
    if (rc == GNUTLS_E_REHANDSHAKE) {
      // A TLS 1.2 peer asks to renegotiate: moat never does (RFC 7457 attacks, and TLS 1.3
      // has no renegotiation); the peer is told so and the connection goes on.
      gnutls_alert_send(s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
      continue;
    }
    if (rc == GNUTLS_E_WARNING_ALERT_RECEIVED) {
      const auto alert = gnutls_alert_get(s);
      if (alert == GNUTLS_A_CLOSE_NOTIFY) {
        finish(0, ec);
        ec = make_error_code(errc::closed);
        return out_.size() > out_begin_ ? want::output : want::nothing;
      }
      continue;  // warnings (e.g. user_canceled) do not end the connection
    }
    if ((rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) &&
        (buffered_input() > 0 || gnutls_record_check_pending(s) > 0)) {
      continue;  // a post-handshake message (e.g. a ticket) was consumed; more is buffered
    }
    if (rc == GNUTLS_E_PREMATURE_TERMINATION && !handshake_done_) {
      finish(0, ec);
      ec = make_error_code(errc::closed);
      return want::nothing;
    }
    return finish(static_cast<int>(rc), ec);
  }
}

want engine::write(std::span<const std::uint8_t> buf, std::size_t& n, std::error_code& ec) {
  n = 0;
  const std::size_t chunk = std::min(buf.size(), kMaxRecordPlaintext);
  const auto rc = gnutls_record_send(impl_->session, buf.data(), chunk);
  if (rc > 0) n = static_cast<std::size_t>(rc);
  return finish(rc < 0 ? static_cast<int>(rc) : 0, ec);
}

want engine::shutdown(std::error_code& ec) {
  return finish(gnutls_bye(impl_->session, GNUTLS_SHUT_WR), ec);
}

want engine::abort(std::error_code reason) {
  std::error_code ec;
  if (alert_sent_ == 0 && reason.category() == category()) {
    const auto alert = alert_for(static_cast<errc>(reason.value()));
    if (alert != 0) {
      alert_sent_ = alert;
      gnutls_alert_send(impl_->session, GNUTLS_AL_FATAL,
                        static_cast<gnutls_alert_description_t>(alert));
    }
  }
  return out_.size() > out_begin_ ? want::output : want::nothing;
}

want engine::key_update(bool request_peer, std::error_code& ec) {
  return finish(gnutls_session_key_update(impl_->session, request_peer ? GNUTLS_KU_PEER : 0U), ec);
}

connection_info engine::info() const {
  gnutls_session_t s = impl_->session;
  connection_info ci;
  ci.protocol = gnutls_protocol_get_version(s) == GNUTLS_TLS1_3 ? version::tls1_3 : version::tls1_2;
  if (const char* cs = gnutls_ciphersuite_get(s)) ci.cipher_suite = cs;
  if (const char* g = gnutls_group_get_name(gnutls_group_get(s))) ci.group = g;
  if (impl_->state->side == role::client) {
    ci.sni = impl_->server_name;
  } else {
    ci.sni = requested_server_name(s);
  }
  gnutls_datum_t proto{};
  if (gnutls_alpn_get_selected_protocol(s, &proto) == 0) {
    ci.alpn.assign(reinterpret_cast<const char*>(proto.data), proto.size);
  }
  ci.resumed = gnutls_session_is_resumed(s) != 0;
  ci.peer_verified = impl_->peer_verified;
  return ci;
}

std::vector<pki::certificate> engine::peer_certificates() const {
  std::vector<pki::certificate> r;
  unsigned n = 0;
  const gnutls_datum_t* raw = gnutls_certificate_get_peers(impl_->session, &n);
  for (unsigned k = 0; raw != nullptr && k < n; ++k) {
    r.push_back(
        pki::certificate::from_der(std::span<const std::uint8_t>(raw[k].data, raw[k].size)));
  }
  return r;
}

void engine::shrink() noexcept {
  if (in_begin_ == in_.size()) {
    std::vector<std::uint8_t>().swap(in_);
    in_begin_ = 0;
  }
  if (out_begin_ == out_.size()) {
    std::vector<std::uint8_t>().swap(out_);
    out_begin_ = 0;
  }
}

}  // namespace moat::tls::detail
