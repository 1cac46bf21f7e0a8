#include <ctime>
#include <moat/pki/certificate.hpp>
#include <moat/pki/load.hpp>

#include "pki/common.hpp"
#include "pki/native.hpp"

namespace moat::pki {

using detail::fail;
using detail::owned_datum;
using detail::reason;
using sys_clock = std::chrono::system_clock;

namespace detail {
const cert_impl& impl_of(const certificate& c) noexcept {
  return *c.impl_;
}
}  // namespace detail

namespace {

// The extent (header + content) of the DER element starting at `pos`, or 0 if malformed.
std::size_t der_element_size(std::span<const std::uint8_t> der, std::size_t pos) {
  if (pos + 2 > der.size()) return 0;
  std::size_t len = der[pos + 1];
  std::size_t header = 2;
  if (len & 0x80) {
    const std::size_t octets = len & 0x7f;
    if (octets == 0 || octets > 4 || pos + 2 + octets > der.size()) return 0;
    len = 0;
    for (std::size_t i = 0; i < octets; ++i) len = (len << 8) | der[pos + 2 + i];
    header += octets;
  }
  if (pos + header + len > der.size()) return 0;
  return header + len;
}

// The tbsCertificate element of a DER certificate.
std::span<const std::uint8_t> tbs_of(std::span<const std::uint8_t> der) {
  if (der.size() < 4 || der[0] != 0x30 || der_element_size(der, 0) == 0) return {};
  const std::size_t header = (der[1] & 0x80) ? 2 + (der[1] & 0x7fU) : 2;
  const std::size_t size = der_element_size(der, header);
  if (size == 0 || der[header] != 0x30) return {};
  return der.subspan(header, size);
}

std::string get_string(int (*fn)(gnutls_x509_crt_t, gnutls_datum_t*, unsigned),
                       gnutls_x509_crt_t crt) {
  owned_datum d;
  if (fn(crt, &d, 0) < 0) return {};
  return std::string(d.text());
}

sys_clock::time_point from_time_t(time_t t, bool is_end) {
  if (t == static_cast<time_t>(-1)) {
    return is_end ? sys_clock::time_point::max() : sys_clock::time_point::min();
  }
  // system_clock cannot represent every X.509 date (libstdc++: up to year 2262); clamp.
  const auto limit = std::chrono::duration_cast<std::chrono::seconds>(
      sys_clock::time_point::max().time_since_epoch());
  if (std::chrono::seconds(t) >= limit) return sys_clock::time_point::max();
  if (std::chrono::seconds(t) <= -limit) return sys_clock::time_point::min();
  return sys_clock::from_time_t(t);
}

// The public key, or null when the library cannot read it (an algorithm it does not know:
// the certificate itself parsed, so its key is unsupported rather than malformed).
detail::pubkey_ptr pubkey_of(gnutls_x509_crt_t crt) {
  auto pub = detail::new_pubkey();
  if (gnutls_pubkey_import_x509(pub.get(), crt, 0) < 0) return nullptr;
  return pub;
}

// The name of a key the library cannot read, from the certificate's algorithm identifier.
std::string unreadable_key_name(gnutls_x509_crt_t crt) {
  char oid[128] = {};
  std::size_t size = sizeof oid;
  if (gnutls_x509_crt_get_pk_oid(crt, oid, &size) < 0) return "unknown";
  return "unknown (OID " + std::string(oid) + ")";
}

detail::pubkey_ptr supported_pubkey_of(gnutls_x509_crt_t crt) {
  auto pub = pubkey_of(crt);
  if (!pub) {
    fail("certificate", errc::unsupported_key_type,
         "the certificate's key is " + unreadable_key_name(crt));
  }
  return pub;
}

std::string key_usage_text(unsigned usage) {
  static constexpr std::pair<unsigned, const char*> names[] = {
      {GNUTLS_KEY_DIGITAL_SIGNATURE, "digitalSignature"},
      {GNUTLS_KEY_NON_REPUDIATION, "contentCommitment"},
      {GNUTLS_KEY_KEY_ENCIPHERMENT, "keyEncipherment"},
      {GNUTLS_KEY_DATA_ENCIPHERMENT, "dataEncipherment"},
      {GNUTLS_KEY_KEY_AGREEMENT, "keyAgreement"},
      {GNUTLS_KEY_KEY_CERT_SIGN, "keyCertSign"},
      {GNUTLS_KEY_CRL_SIGN, "cRLSign"},
      {GNUTLS_KEY_ENCIPHER_ONLY, "encipherOnly"},
      {GNUTLS_KEY_DECIPHER_ONLY, "decipherOnly"},
  };
  std::string out;
  for (const auto& [bit, name] : names) {
    if (usage & bit) {
      if (!out.empty()) out += ", ";
      out += name;
    }
  }
  return out;
}

std::string purpose_name(std::string_view oid) {
  if (oid == GNUTLS_KP_TLS_WWW_SERVER) return "serverAuth";
  if (oid == GNUTLS_KP_TLS_WWW_CLIENT) return "clientAuth";
  if (oid == GNUTLS_KP_CODE_SIGNING) return "codeSigning";
  if (oid == GNUTLS_KP_EMAIL_PROTECTION) return "emailProtection";
  if (oid == GNUTLS_KP_OCSP_SIGNING) return "OCSPSigning";
  if (oid == GNUTLS_KP_ANY) return "anyExtendedKeyUsage";
  return std::string(oid);
}

}  // namespace

// ---- certificate -------------------------------------------------------------------------

const detail::cert_impl& certificate::get() const {
  if (!impl_) fail("certificate", errc::invalid_argument, "the certificate is empty");
  return *impl_;
}

certificate certificate::from_der(std::span<const std::uint8_t> der) {
  if (der.empty()) fail("certificate", errc::malformed, "no data");
  auto crt = detail::new_crt();
  const gnutls_datum_t d = detail::as_datum(der);
  const int rc = gnutls_x509_crt_import(crt.get(), &d, GNUTLS_X509_FMT_DER);
  if (rc < 0) fail("certificate", errc::malformed, reason(rc));
  return detail::make_certificate(std::move(crt));
}

certificate certificate::from_pem(std::string_view pem) {
  return parse_certificates(pem, "certificate").front();
}

std::vector<std::uint8_t> certificate::der() const {
  return get().der;
}

std::string certificate::pem() const {
  return pem_encode("CERTIFICATE", get().der);
}

std::string certificate::subject() const {
  return get_string(&gnutls_x509_crt_get_dn3, get().crt.get());
}

std::string certificate::issuer() const {
  return get_string(&gnutls_x509_crt_get_issuer_dn3, get().crt.get());
}

std::string certificate::common_name() const {
  gnutls_x509_crt_t crt = get().crt.get();
  std::size_t size = 0;
  int rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, nullptr, &size);
  if (rc != GNUTLS_E_SHORT_MEMORY_BUFFER) return {};
  std::string out(size, '\0');
  rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, out.data(), &size);
  if (rc < 0) return {};
  out.resize(size);
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

std::vector<std::string> certificate::subject_alt_names() const {
  gnutls_x509_crt_t crt = get().crt.get();
  std::vector<std::string> out;
  for (unsigned seq = 0;; ++seq) {
    std::string value(256, '\0');
    std::size_t size = value.size();
    unsigned type = 0;
    int rc = gnutls_x509_crt_get_subject_alt_name2(crt, seq, value.data(), &size, &type, nullptr);
    if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER) {
      value.resize(size);
      rc = gnutls_x509_crt_get_subject_alt_name2(crt, seq, value.data(), &size, &type, nullptr);
    }
    if (rc < 0) break;  // GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE: no more names
    value.resize(size);
    if (type != GNUTLS_SAN_IPADDRESS) {
      while (!value.empty() && value.back() == '\0') value.pop_back();
    }
    out.push_back(detail::format_san(type, value));
  }
  return out;
}

sys_clock::time_point certificate::not_before() const {
  return from_time_t(gnutls_x509_crt_get_activation_time(get().crt.get()), false);
}

sys_clock::time_point certificate::not_after() const {
  return from_time_t(gnutls_x509_crt_get_expiration_time(get().crt.get()), true);
}

std::string certificate::serial_hex() const {
  unsigned char buf[64];
  std::size_t size = sizeof buf;
  if (gnutls_x509_crt_get_serial(get().crt.get(), buf, &size) < 0) return {};
  std::span<const std::uint8_t> bytes(buf, size);
  // Like OpenSSL: no leading zero octet (it is only there to keep the INTEGER positive).
  while (bytes.size() > 1 && bytes.front() == 0) bytes = bytes.subspan(1);
  return detail::to_hex(bytes, false);
}

std::vector<std::uint8_t> certificate::serial_bytes() const {
  std::vector<std::uint8_t> buf(64);
  std::size_t size = buf.size();
  const int rc = gnutls_x509_crt_get_serial(get().crt.get(), buf.data(), &size);
  if (rc < 0) fail("certificate", errc::malformed, "serial number: " + detail::reason(rc));
  buf.resize(size);
  return buf;
}

std::vector<std::uint8_t> certificate::authority_key_id() const {
  std::vector<std::uint8_t> buf(128);
  std::size_t size = buf.size();
  unsigned critical = 0;
  if (gnutls_x509_crt_get_authority_key_id(get().crt.get(), buf.data(), &size, &critical) < 0) {
    return {};
  }
  buf.resize(size);
  return buf;
}

std::optional<certificate::extension_value> certificate::extension(std::string_view oid) const {
  const std::string wanted(oid);
  for (unsigned i = 0;; ++i) {
    char name[128];
    std::size_t name_size = sizeof name;
    unsigned critical = 0;
    const int rc =
        gnutls_x509_crt_get_extension_info(get().crt.get(), i, name, &name_size, &critical);
    if (rc < 0) return std::nullopt;  // GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE: no more
    if (wanted != name) continue;
    gnutls_datum_t data{};
    if (gnutls_x509_crt_get_extension_data2(get().crt.get(), i, &data) < 0) return std::nullopt;
    extension_value v{.der = std::vector<std::uint8_t>(data.data, data.data + data.size),
                      .critical = critical != 0};
    gnutls_free(data.data);
    return v;
  }
}

std::string certificate::sha256_fingerprint() const {
  unsigned char buf[32];
  std::size_t size = sizeof buf;
  const gnutls_datum_t d = detail::as_datum(get().der);
  if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &d, buf, &size) < 0) return {};
  return detail::to_hex({buf, size}, true);
}

key_type certificate::public_key_type() const {
  const auto pub = supported_pubkey_of(get().crt.get());
  const auto info = detail::describe(pub.get());
  if (!info.supported) {
    fail("certificate", errc::unsupported_key_type, "the certificate's key is " + info.name);
  }
  return info.type;
}

std::string certificate::public_key_algorithm() const {
  const auto pub = pubkey_of(get().crt.get());
  return pub ? detail::describe(pub.get()).name : unreadable_key_name(get().crt.get());
}

unsigned certificate::public_key_bits() const {
  const auto pub = pubkey_of(get().crt.get());
  return pub ? detail::describe(pub.get()).bits : 0;
}

std::vector<std::uint8_t> certificate::public_key_der() const {
  const auto pub = supported_pubkey_of(get().crt.get());
  owned_datum d;
  const int rc = gnutls_pubkey_export2(pub.get(), GNUTLS_X509_FMT_DER, &d);
  if (rc < 0) fail("certificate", errc::malformed, reason(rc));
  return d.vec();
}

std::string certificate::signature_algorithm() const {
  const int algo = gnutls_x509_crt_get_signature_algorithm(get().crt.get());
  const char* name =
      algo > 0 ? gnutls_sign_get_name(static_cast<gnutls_sign_algorithm_t>(algo)) : nullptr;
  return name != nullptr ? name : "unknown";
}

bool certificate::is_ca() const {
  unsigned critical = 0;
  return gnutls_x509_crt_get_basic_constraints(get().crt.get(), &critical, nullptr, nullptr) > 0;
}

int certificate::path_len_constraint() const {
  unsigned critical = 0, ca = 0;
  int path_len = -1;
  if (gnutls_x509_crt_get_basic_constraints(get().crt.get(), &critical, &ca, &path_len) < 0 ||
      ca == 0) {
    return -1;
  }
  return path_len;
}

bool certificate::is_self_signed() const {
  return is_issued_by(*this);
}

bool certificate::is_issued_by(const certificate& issuer) const {
  const auto& self = get();
  const auto& by = issuer.get();
  if (gnutls_x509_crt_check_issuer(self.crt.get(), by.crt.get()) != 1) return false;
  const auto tbs = tbs_of(self.der);
  if (tbs.empty()) return false;
  const int algo = gnutls_x509_crt_get_signature_algorithm(self.crt.get());
  if (algo <= 0) return false;
  std::size_t size = 0;
  if (gnutls_x509_crt_get_signature(self.crt.get(), nullptr, &size) !=
      GNUTLS_E_SHORT_MEMORY_BUFFER) {
    return false;
  }
  std::vector<char> sig(size);
  if (gnutls_x509_crt_get_signature(self.crt.get(), sig.data(), &size) < 0) return false;
  auto pub = detail::new_pubkey();
  if (gnutls_pubkey_import_x509(pub.get(), by.crt.get(), 0) < 0) return false;
  const gnutls_datum_t tbs_d = detail::as_datum(tbs);
  const gnutls_datum_t sig_d{reinterpret_cast<unsigned char*>(sig.data()),
                             static_cast<unsigned>(size)};
  return gnutls_pubkey_verify_data2(pub.get(), static_cast<gnutls_sign_algorithm_t>(algo),
                                    GNUTLS_VERIFY_ALLOW_BROKEN, &tbs_d, &sig_d) >= 0;
}

bool certificate::is_valid_at(sys_clock::time_point now) const {
  return now >= not_before() && now <= not_after();
}

std::string certificate::summary() const {
  gnutls_x509_crt_t crt = get().crt.get();
  std::string s;
  auto line = [&s](std::string_view label, const std::string& value) {
    s += label;
    s.append(label.size() < 15 ? 15 - label.size() : 1, ' ');
    s += value;
    s += '\n';
  };
  line("Subject:", subject());
  line("Issuer:", issuer());
  line("Serial:", serial_hex());
  const auto now = sys_clock::now();
  const auto nb = not_before();
  const auto na = not_after();
  line("Not before:", format_utc(nb) + (now < nb ? "  (NOT YET VALID)" : ""));
  std::string until = format_utc(na);
  if (na != sys_clock::time_point::max()) {
    if (now > na) {
      until += "  (EXPIRED " +
               std::to_string(std::chrono::duration_cast<std::chrono::days>(now - na).count()) +
               " days ago)";
    } else {
      until += "  (expires in " +
               std::to_string(std::chrono::duration_cast<std::chrono::days>(na - now).count()) +
               " days)";
    }
  }
  line("Not after:", until);
  line("Public key:", public_key_algorithm());
  line("Signature:", signature_algorithm());
  const auto sans = subject_alt_names();
  std::string san_text;
  for (const auto& n : sans) san_text += (san_text.empty() ? "" : ", ") + n;
  line("Alt names:", sans.empty() ? "(none)" : san_text);
  unsigned critical = 0, ca = 0;
  int path_len = -1;
  const int bc = gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, &path_len);
  if (bc < 0) {
    line("CA:", "no (no basicConstraints)");
  } else if (ca != 0) {
    line("CA:", path_len >= 0 ? "yes, path length " + std::to_string(path_len) : "yes");
  } else {
    line("CA:", "no");
  }
  unsigned usage = 0;
  if (gnutls_x509_crt_get_key_usage(crt, &usage, &critical) >= 0) {
    line("Key usage:", key_usage_text(usage));
  }
  std::string purposes;
  for (unsigned i = 0;; ++i) {
    char oid[128];
    std::size_t size = sizeof oid;
    if (gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &size, nullptr) < 0) break;
    purposes += (purposes.empty() ? "" : ", ") + purpose_name(oid);
  }
  if (!purposes.empty()) line("Ext key usage:", purposes);
  line("Self-signed:", is_self_signed() ? "yes" : "no");
  line("SHA-256:", sha256_fingerprint());
  return s;
}

bool operator==(const certificate& a, const certificate& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  return a.get().der == b.get().der;
}

std::string format_utc(sys_clock::time_point t) {
  if (t == sys_clock::time_point::max()) return "9999-12-31 23:59:59 UTC";
  const time_t tt = sys_clock::to_time_t(t);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr) return "(invalid time)";
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(buf, n);
}

gnutls_x509_crt_t native_handle(const certificate& c) {
  if (c.empty()) fail("certificate", errc::invalid_argument, "the certificate is empty");
  return detail::impl_of(c).crt.get();
}

certificate certificate_from_native(gnutls_x509_crt_t owned) {
  return detail::make_certificate(detail::crt_ptr(owned));
}

}  // namespace moat::pki
