#include "pki/common.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <moat/detail/atomic_file.hpp>

namespace moat::pki::detail {

namespace {

template <typename Ptr, typename Init>
Ptr make_object(Init init) {
  typename Ptr::pointer p = nullptr;
  const int rc = init(&p);
  if (rc < 0) fail("gnutls", errc::generation_failed, reason(rc));
  return Ptr(p);
}

std::string errno_text(int e) {
  return std::generic_category().message(e);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Returns an empty string if `name` is an acceptable DNS name, else why not.
std::string check_dns_name(std::string_view name) {
  if (name.empty()) return "empty DNS name";
  if (name.size() > 253) return "DNS name longer than 253 characters";
  std::size_t start = 0;
  bool first = true;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return "empty label in DNS name";
    if (label.size() > 63) return "DNS label longer than 63 characters";
    if (label == "*") {
      if (!first) return "a wildcard is allowed only as the leftmost label";
    } else {
      for (const char c : label) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return "character not allowed in a DNS name (use the punycode form for IDNs)";
      }
      if (label.front() == '-' || label.back() == '-')
        return "a DNS label cannot start or end with '-'";
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
    first = false;
  }
  return {};
}

}  // namespace

crt_ptr new_crt() {
  return make_object<crt_ptr>([](auto* p) { return gnutls_x509_crt_init(p); });
}
x509_key_ptr new_x509_key() {
  return make_object<x509_key_ptr>([](auto* p) { return gnutls_x509_privkey_init(p); });
}
privkey_ptr new_privkey() {
  return make_object<privkey_ptr>([](auto* p) { return gnutls_privkey_init(p); });
}
pubkey_ptr new_pubkey() {
  return make_object<pubkey_ptr>([](auto* p) { return gnutls_pubkey_init(p); });
}
crq_ptr new_crq() {
  return make_object<crq_ptr>([](auto* p) { return gnutls_x509_crq_init(p); });
}

owned_datum::~owned_datum() {
  if (d_.data != nullptr) {
    if (secret_) gnutls_memset(d_.data, 0, d_.size);
    gnutls_free(d_.data);
  }
}

gnutls_datum_t as_datum(std::string_view s) noexcept {
  // GnuTLS's datum is non-const but the import functions only read it.
  return {const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(s.data())),
          static_cast<unsigned>(s.size())};
}

gnutls_datum_t as_datum(std::span<const std::uint8_t> s) noexcept {
  return {const_cast<unsigned char*>(s.data()), static_cast<unsigned>(s.size())};
}

private_key make_key(x509_key_ptr key, std::string_view subject) {
  auto impl = std::make_shared<key_impl>();
  impl->x509 = std::move(key);
  impl->abstract = new_privkey();
  int rc = gnutls_privkey_import_x509(impl->abstract.get(), impl->x509.get(), 0);
  if (rc < 0) fail(subject, errc::malformed, reason(rc));
  impl->pub = new_pubkey();
  rc = gnutls_pubkey_import_privkey(impl->pub.get(), impl->abstract.get(), 0, 0);
  if (rc < 0) fail(subject, errc::malformed, reason(rc));
  const pubkey_info info = describe(impl->pub.get());
  if (!info.supported) fail(subject, errc::unsupported_key_type, "the key is " + info.name);
  impl->type = info.type;
  impl->bits = info.bits;
  owned_datum spki;
  rc = gnutls_pubkey_export2(impl->pub.get(), GNUTLS_X509_FMT_DER, &spki);
  if (rc < 0) fail(subject, errc::malformed, reason(rc));
  impl->spki = spki.vec();
  return private_key(std::shared_ptr<const key_impl>(std::move(impl)));
}

certificate make_certificate(crt_ptr crt) {
  auto impl = std::make_shared<cert_impl>();
  owned_datum der;
  int rc = gnutls_x509_crt_export2(crt.get(), GNUTLS_X509_FMT_DER, &der);
  if (rc < 0) fail("certificate", errc::malformed, reason(rc));
  impl->der = der.vec();
  // Re-import: a certificate GnuTLS has just built or signed does not answer every query
  // (e.g. its subjectAltNames) until it is parsed from DER.
  impl->crt = new_crt();
  const gnutls_datum_t d = as_datum(std::span<const std::uint8_t>(impl->der));
  rc = gnutls_x509_crt_import(impl->crt.get(), &d, GNUTLS_X509_FMT_DER);
  if (rc < 0) fail("certificate", errc::malformed, reason(rc));
  return certificate(std::shared_ptr<const cert_impl>(std::move(impl)));
}

void fail(std::string_view subject, errc code, const std::string& detail) {
  throw config_error(std::string(subject), make_error_code(code), detail);
}

std::string reason(int gnutls_rc) {
  const char* s = gnutls_strerror(gnutls_rc);
  return s != nullptr ? std::string(s) : "GnuTLS error " + std::to_string(gnutls_rc);
}

std::string file_subject(std::string_view option, const std::filesystem::path& path) {
  std::string s(option.empty() ? std::string_view("file") : option);
  s += " '";
  s += path.string();
  s += "'";
  return s;
}

std::string read_file(const std::filesystem::path& path, std::string_view subject) {
  constexpr std::size_t max_size = std::size_t{64} << 20;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) fail(subject, errc::file_missing);
    if (e == EISDIR) fail(subject, errc::is_directory);
    fail(subject, errc::file_unreadable, errno_text(e));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_on_exit{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(subject, errc::file_unreadable, errno_text(errno));
  if (S_ISDIR(st.st_mode)) fail(subject, errc::is_directory);
  std::string out;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      if (e == EISDIR) fail(subject, errc::is_directory);
      fail(subject, errc::file_unreadable, errno_text(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_size) fail(subject, errc::file_unreadable, "larger than 64 MiB");
  }
  gnutls_memset(buf, 0, sizeof buf);
  return out;
}

void atomic_write(const std::filesystem::path& path, std::string_view contents, unsigned mode,
                  std::string_view subject) {
  const auto failure = moat::detail::write_file_atomically(path, contents, mode);
  // A failed fsync of the directory after the rename leaves the new file in place: written.
  if (failure && !failure->renamed) {
    fail(subject, errc::write_failed, failure->step + ": " + errno_text(failure->code.value()));
  }
}

void wipe(std::string& s) noexcept {
  if (!s.empty()) gnutls_memset(s.data(), 0, s.size());
  s.clear();
}

std::vector<pem_block> pem_blocks(std::string_view data) {
  std::vector<pem_block> out;
  constexpr std::string_view begin_tag = "-----BEGIN ";
  std::size_t pos = 0;
  while ((pos = data.find(begin_tag, pos)) != std::string_view::npos) {
    const std::size_t label_start = pos + begin_tag.size();
    const std::size_t label_end = data.find("-----", label_start);
    if (label_end == std::string_view::npos) break;
    pem_block b;
    b.label = std::string(data.substr(label_start, label_end - label_start));
    const std::string end_tag = "-----END " + b.label + "-----";
    const std::size_t end = data.find(end_tag, label_end + 5);
    if (end == std::string_view::npos) {
      b.text = data.substr(pos);
      b.complete = false;
      out.push_back(std::move(b));
      break;
    }
    b.text = data.substr(pos, end + end_tag.size() - pos);
    b.complete = true;
    out.push_back(std::move(b));
    pos = end + end_tag.size();
  }
  return out;
}

std::string describe_pem_contents(const std::vector<pem_block>& blocks, std::string_view what) {
  if (blocks.empty()) return {};
  bool key = false, cert = false, csr = false;
  std::string labels;
  for (const auto& b : blocks) {
    if (b.label.size() >= 11 && b.label.ends_with("PRIVATE KEY")) key = true;
    if (b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE" ||
        b.label == "TRUSTED CERTIFICATE") {
      cert = true;
    }
    if (b.label == "CERTIFICATE REQUEST" || b.label == "NEW CERTIFICATE REQUEST") csr = true;
    if (labels.find(b.label) == std::string::npos) {
      if (!labels.empty()) labels += ", ";
      labels += b.label;
    }
  }
  const std::string prefix = "the " + std::string(what) + " holds ";
  if (key && !cert) return prefix + "a private key";
  if (cert && !key) return prefix + "a certificate";
  if (csr) return prefix + "a certificate request";
  return prefix + "only PEM blocks " + labels;
}

bool is_blank(std::string_view data) noexcept {
  return data.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

san_entry parse_san(std::string_view entry) {
  const std::string subject = "subject_alt_names '" + std::string(entry) + "'";
  const std::size_t colon = entry.find(':');
  if (colon == std::string_view::npos) {
    fail(subject, errc::invalid_san, "expected a prefix DNS:, IP:, URI: or email:");
  }
  const std::string kind = lower(entry.substr(0, colon));
  const std::string_view value = entry.substr(colon + 1);
  if (kind == "dns") {
    const std::string why = check_dns_name(value);
    if (!why.empty()) fail(subject, errc::invalid_san, why);
    return {GNUTLS_SAN_DNSNAME, std::string(value)};
  }
  if (kind == "ip") {
    const std::string text(value);
    unsigned char raw[16];
    if (::inet_pton(AF_INET, text.c_str(), raw) == 1) {
      return {GNUTLS_SAN_IPADDRESS, std::string(reinterpret_cast<const char*>(raw), 4)};
    }
    if (::inet_pton(AF_INET6, text.c_str(), raw) == 1) {
      return {GNUTLS_SAN_IPADDRESS, std::string(reinterpret_cast<const char*>(raw), 16)};
    }
    fail(subject, errc::invalid_san, "not an IPv4 or IPv6 address");
  }
  if (kind == "uri") {
    const std::size_t scheme = value.find(':');
    if (value.empty() || scheme == 0 || scheme == std::string_view::npos) {
      fail(subject, errc::invalid_san, "a URI needs a scheme, e.g. URI:spiffe://example.org/x");
    }
    return {GNUTLS_SAN_URI, std::string(value)};
  }
  if (kind == "email") {
    const std::size_t at = value.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == value.size()) {
      fail(subject, errc::invalid_san, "not an e-mail address");
    }
    return {GNUTLS_SAN_RFC822NAME, std::string(value)};
  }
  fail(subject, errc::invalid_san,
       "unknown kind '" + std::string(entry.substr(0, colon)) +
           "', expected DNS:, IP:, URI: or email:");
}

std::string format_san(unsigned type, std::string_view value) {
  switch (type) {
    case GNUTLS_SAN_DNSNAME:
      return "DNS:" + std::string(value);
    case GNUTLS_SAN_RFC822NAME:
      return "email:" + std::string(value);
    case GNUTLS_SAN_URI:
      return "URI:" + std::string(value);
    case GNUTLS_SAN_IPADDRESS: {
      char text[INET6_ADDRSTRLEN] = {};
      if (value.size() == 4 && ::inet_ntop(AF_INET, value.data(), text, sizeof text) != nullptr) {
        return "IP:" + std::string(text);
      }
      if (value.size() == 16 && ::inet_ntop(AF_INET6, value.data(), text, sizeof text) != nullptr) {
        return "IP:" + std::string(text);
      }
      return "IP:" +
             to_hex({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()}, false);
    }
    case GNUTLS_SAN_REGISTERED_ID:
      return "RID:" + std::string(value);
    case GNUTLS_SAN_DN:
      return "dirname";
    case GNUTLS_SAN_OTHERNAME:
      return "othername";
    default:
      return "unknown";
  }
}

pubkey_info describe(gnutls_pubkey_t pub) {
  pubkey_info info;
  unsigned bits = 0;
  const int algo = gnutls_pubkey_get_pk_algorithm(pub, &bits);
  info.bits = bits;
  switch (algo) {
    case GNUTLS_PK_RSA:
      info.supported = true;
      info.type = key_type::rsa;
      info.name = "RSA " + std::to_string(bits);
      return info;
    case GNUTLS_PK_EDDSA_ED25519:
      info.supported = true;
      info.type = key_type::ed25519;
      info.bits = 256;
      info.name = "Ed25519";
      return info;
    case GNUTLS_PK_ECDSA: {
      gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
      owned_datum x, y;
      if (gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, &y, 0) < 0) {
        info.name = "ECDSA (unknown curve)";
        return info;
      }
      if (curve == GNUTLS_ECC_CURVE_SECP256R1) {
        info.supported = true;
        info.type = key_type::ecdsa_p256;
        info.bits = 256;
        info.name = "ECDSA P-256";
      } else if (curve == GNUTLS_ECC_CURVE_SECP384R1) {
        info.supported = true;
        info.type = key_type::ecdsa_p384;
        info.bits = 384;
        info.name = "ECDSA P-384";
      } else {
        const char* n = gnutls_ecc_curve_get_name(curve);
        info.name = std::string("ECDSA ") + (n != nullptr ? n : "(unknown curve)");
      }
      return info;
    }
    default: {
      const char* n = gnutls_pk_algorithm_get_name(static_cast<gnutls_pk_algorithm_t>(algo));
      info.name = n != nullptr ? n : "unknown algorithm";
      if (algo == GNUTLS_PK_RSA_PSS || algo == GNUTLS_PK_DSA)
        info.name += " " + std::to_string(bits);
      return info;
    }
  }
}

gnutls_digest_algorithm_t sign_digest(key_type t) {
  return t == key_type::ed25519 ? GNUTLS_DIG_SHA512 : GNUTLS_DIG_SHA256;
}

std::string to_hex(std::span<const std::uint8_t> bytes, bool colons) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (colons && i != 0) out += ':';
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace moat::pki::detail
