// Certificate revocation lists (RFC 5280 section 5) and the cRLDistributionPoints extension.
#include <moat/pki/builder.hpp>

#include "pki/common.hpp"

namespace moat::pki {

using detail::fail;
using detail::owned_datum;

namespace {

constexpr std::string_view subject = "crl_builder";

struct crl_deleter {
  void operator()(gnutls_x509_crl_t p) const noexcept { gnutls_x509_crl_deinit(p); }
};

void check(int rc, std::string_view what) {
  if (rc < 0) fail(subject, errc::generation_failed, std::string(what) + ": " + detail::reason(rc));
}

time_t to_time_t(std::chrono::system_clock::time_point t) {
  return std::chrono::system_clock::to_time_t(t);
}

/// A DER length (definite form).
void put_length(std::vector<std::uint8_t>& out, std::size_t n) {
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
    return;
  }
  std::vector<std::uint8_t> bytes;
  while (n > 0) {
    bytes.insert(bytes.begin(), static_cast<std::uint8_t>(n & 0xFFU));
    n >>= 8U;
  }
  out.push_back(static_cast<std::uint8_t>(0x80U | bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

std::vector<std::uint8_t> wrap(std::uint8_t tag, const std::vector<std::uint8_t>& content) {
  std::vector<std::uint8_t> out{tag};
  put_length(out, content.size());
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

}  // namespace

std::vector<std::uint8_t> crl_builder::sign(const certificate& issuer,
                                            const private_key& issuer_key) const {
  if (issuer.empty() || issuer_key.empty()) {
    fail(subject, errc::invalid_argument, "the issuer or its key is empty");
  }
  if (issuer.public_key_der() != issuer_key.public_key_der()) {
    fail(subject, errc::key_mismatch, "the issuer key is not the key of the issuer certificate");
  }
  gnutls_x509_crl_t raw = nullptr;
  check(gnutls_x509_crl_init(&raw), "init");
  std::unique_ptr<std::remove_pointer_t<gnutls_x509_crl_t>, crl_deleter> crl(raw);
  check(gnutls_x509_crl_set_version(raw, 2), "version");
  check(gnutls_x509_crl_set_this_update(raw, to_time_t(this_update)), "thisUpdate");
  check(gnutls_x509_crl_set_next_update(raw, to_time_t(next_update)), "nextUpdate");
  for (const auto& e : entries) {
    if (e.serial.empty() || e.serial.size() > 21) {
      fail(subject, errc::invalid_argument, "a serial number has 1 to 21 octets");
    }
    check(gnutls_x509_crl_set_crt_serial(raw, e.serial.data(), e.serial.size(),
                                         to_time_t(e.revoked_at)),
          "entry");
  }
  const auto aki_source = issuer.extension("2.5.29.14");  // the issuer's subjectKeyIdentifier
  if (aki_source && aki_source->der.size() > 2 && aki_source->der[0] == 0x04) {
    check(gnutls_x509_crl_set_authority_key_id(raw, aki_source->der.data() + 2,
                                               aki_source->der.size() - 2),
          "authorityKeyIdentifier");
  }
  std::vector<std::uint8_t> num;
  for (std::uint64_t n = number; n > 0; n >>= 8U) {
    num.insert(num.begin(), static_cast<std::uint8_t>(n & 0xFFU));
  }
  if (num.empty() || (num.front() & 0x80U) != 0) num.insert(num.begin(), 0);
  check(gnutls_x509_crl_set_number(raw, num.data(), num.size()), "cRLNumber");
  const auto& k = detail::impl_of(issuer_key);
  check(gnutls_x509_crl_privkey_sign(raw, detail::impl_of(issuer).crt.get(), k.abstract.get(),
                                     detail::sign_digest(k.type), 0),
        "signing");
  owned_datum der;
  check(gnutls_x509_crl_export2(raw, GNUTLS_X509_FMT_DER, &der), "export");
  return der.vec();
}

std::vector<std::uint8_t> crl_distribution_point_der(std::string_view url) {
  if (url.empty()) fail("crl_distribution_point", errc::invalid_argument, "the URL is empty");
  const std::vector<std::uint8_t> uri(url.begin(), url.end());
  // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
  return wrap(0x30, wrap(0x30, wrap(0xA0, wrap(0xA0, wrap(0x86, uri)))));
}

}  // namespace moat::pki
