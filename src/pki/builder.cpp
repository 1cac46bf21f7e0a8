#include <gnutls/crypto.h>

#include <moat/pki/builder.hpp>
#include <moat/pki/load.hpp>

#include "pki/common.hpp"

namespace moat::pki {

using detail::fail;
using detail::reason;
using sys_clock = std::chrono::system_clock;

namespace {

constexpr std::string_view builder_subject = "certificate_builder";

unsigned gnutls_usage(key_usage_flags f) {
  const auto has = [f](key_usage_flags bit) {
    return (f & bit) != key_usage_flags::none;
  };
  unsigned u = 0;
  if (has(key_usage_flags::digital_signature)) u |= GNUTLS_KEY_DIGITAL_SIGNATURE;
  if (has(key_usage_flags::content_commitment)) u |= GNUTLS_KEY_NON_REPUDIATION;
  if (has(key_usage_flags::key_encipherment)) u |= GNUTLS_KEY_KEY_ENCIPHERMENT;
  if (has(key_usage_flags::data_encipherment)) u |= GNUTLS_KEY_DATA_ENCIPHERMENT;
  if (has(key_usage_flags::key_agreement)) u |= GNUTLS_KEY_KEY_AGREEMENT;
  if (has(key_usage_flags::key_cert_sign)) u |= GNUTLS_KEY_KEY_CERT_SIGN;
  if (has(key_usage_flags::crl_sign)) u |= GNUTLS_KEY_CRL_SIGN;
  return u;
}

std::vector<const char*> purpose_oids(ext_key_usage_flags f) {
  const auto has = [f](ext_key_usage_flags bit) {
    return (f & bit) != ext_key_usage_flags::none;
  };
  std::vector<const char*> out;
  if (has(ext_key_usage_flags::server_auth)) out.push_back(GNUTLS_KP_TLS_WWW_SERVER);
  if (has(ext_key_usage_flags::client_auth)) out.push_back(GNUTLS_KP_TLS_WWW_CLIENT);
  if (has(ext_key_usage_flags::code_signing)) out.push_back(GNUTLS_KP_CODE_SIGNING);
  if (has(ext_key_usage_flags::email_protection)) out.push_back(GNUTLS_KP_EMAIL_PROTECTION);
  if (has(ext_key_usage_flags::ocsp_signing)) out.push_back(GNUTLS_KP_OCSP_SIGNING);
  return out;
}

void check(int rc, const char* what) {
  if (rc < 0) fail(builder_subject, errc::generation_failed, std::string(what) + ": " + reason(rc));
}

std::vector<unsigned char> key_id(gnutls_pubkey_t pub) {
  std::vector<unsigned char> id(64);
  std::size_t size = id.size();
  check(gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1, id.data(), &size), "key id");
  id.resize(size);
  return id;
}

// Makes and signs the certificate. `issuer` is null for a self-signed certificate.
certificate build(const certificate_builder& b, gnutls_pubkey_t pub, gnutls_x509_crt_t issuer,
                  const detail::key_impl& signer) {
  if (b.common_name.empty() && b.subject_alt_names.empty()) {
    fail(builder_subject, errc::invalid_argument,
         "a certificate needs a common name or a subject alternative name");
  }
  std::vector<detail::san_entry> sans;
  sans.reserve(b.subject_alt_names.size());
  for (const auto& s : b.subject_alt_names) sans.push_back(detail::parse_san(s));

  const auto not_before = b.not_before.value_or(
      std::chrono::floor<std::chrono::seconds>(sys_clock::now()) - std::chrono::minutes(5));
  const auto not_after = b.not_after.value_or(not_before + b.validity);
  if (not_after <= not_before) {
    fail(builder_subject, errc::invalid_argument, "not_after must be later than not_before");
  }
  std::vector<std::uint8_t> serial = b.serial;
  if (serial.empty()) {
    serial.resize(16);
    check(gnutls_rnd(GNUTLS_RND_NONCE, serial.data(), serial.size()), "random serial");
    serial[0] = static_cast<std::uint8_t>((serial[0] & 0x7fU) | 0x40U);  // positive, 16 bytes
  } else if (serial.size() > 20) {
    fail(builder_subject, errc::invalid_argument, "a serial number has at most 20 bytes");
  }

  const detail::pubkey_info info = detail::describe(pub);
  auto crt = detail::new_crt();
  gnutls_x509_crt_t c = crt.get();
  check(gnutls_x509_crt_set_version(c, 3), "version");
  check(gnutls_x509_crt_set_serial(c, serial.data(), serial.size()), "serial");
  check(gnutls_x509_crt_set_activation_time(c, sys_clock::to_time_t(not_before)), "notBefore");
  check(gnutls_x509_crt_set_expiration_time(c, not_after == sys_clock::time_point::max()
                                                   ? static_cast<time_t>(-1)
                                                   : sys_clock::to_time_t(not_after)),
        "notAfter");
  // O before CN, the conventional order (RFC 4514 strings list CN first).
  if (!b.organisation.empty()) {
    check(gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
                                        b.organisation.data(),
                                        static_cast<unsigned>(b.organisation.size())),
          "organisation");
  }
  if (!b.common_name.empty()) {
    check(gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, b.common_name.data(),
                                        static_cast<unsigned>(b.common_name.size())),
          "common name");
  }
  check(gnutls_x509_crt_set_pubkey(c, pub), "public key");
  for (const auto& s : sans) {
    check(gnutls_x509_crt_set_subject_alt_name(
              c, s.type, s.value.data(), static_cast<unsigned>(s.value.size()), GNUTLS_FSAN_APPEND),
          "subject alternative name");
  }
  if (b.include_basic_constraints) {
    const int path_len =
        b.is_ca && b.path_len_constraint ? static_cast<int>(*b.path_len_constraint) : -1;
    check(gnutls_x509_crt_set_basic_constraints(c, b.is_ca ? 1U : 0U, path_len),
          "basicConstraints");
  }
  key_usage_flags usage = key_usage_flags::digital_signature;
  if (b.is_ca) {
    usage = key_usage_flags::key_cert_sign | key_usage_flags::crl_sign |
            key_usage_flags::digital_signature;
  } else if (info.supported && info.type == key_type::rsa) {
    usage = usage | key_usage_flags::key_encipherment;
  }
  usage = b.key_usage.value_or(usage);
  if (usage != key_usage_flags::none) {
    check(gnutls_x509_crt_set_key_usage(c, gnutls_usage(usage)), "keyUsage");
  }
  const auto purposes = b.ext_key_usage.value_or(b.is_ca ? ext_key_usage_flags::none
                                                         : ext_key_usage_flags::server_auth |
                                                               ext_key_usage_flags::client_auth);
  for (const char* oid : purpose_oids(purposes)) {
    check(gnutls_x509_crt_set_key_purpose_oid(c, oid, 0), "extendedKeyUsage");
  }
  if (b.include_key_identifiers) {
    const auto ski = key_id(pub);
    check(gnutls_x509_crt_set_subject_key_id(c, ski.data(), ski.size()), "subjectKeyIdentifier");
    std::vector<unsigned char> aki(64);
    std::size_t size = aki.size();
    unsigned critical = 0;
    if (issuer != nullptr &&
        gnutls_x509_crt_get_subject_key_id(issuer, aki.data(), &size, &critical) >= 0) {
      aki.resize(size);
    } else {
      aki = key_id(signer.pub.get());
    }
    check(gnutls_x509_crt_set_authority_key_id(c, aki.data(), aki.size()),
          "authorityKeyIdentifier");
  }
  for (const auto& ext : b.extensions) {
    static constexpr std::string_view reserved[] = {"2.5.29.14", "2.5.29.15", "2.5.29.17",
                                                    "2.5.29.19", "2.5.29.35", "2.5.29.37"};
    for (const auto r : reserved) {
      if (ext.oid == r) {
        fail(builder_subject, errc::invalid_argument,
             "extension " + ext.oid + " is set by its own field of certificate_builder");
      }
    }
    const gnutls_datum_t v = detail::as_datum(std::span<const std::uint8_t>(ext.der));
    const int rc = gnutls_x509_crt_set_extension_by_oid(c, ext.oid.c_str(), v.data, v.size,
                                                        ext.critical ? 1U : 0U);
    if (rc < 0) {
      fail(builder_subject, errc::invalid_argument,
           "extension " + ext.oid + ": " + detail::reason(rc));
    }
  }
  check(gnutls_x509_crt_privkey_sign(c, issuer != nullptr ? issuer : c, signer.abstract.get(),
                                     detail::sign_digest(signer.type), 0),
        "signing");
  return detail::make_certificate(std::move(crt));
}

const detail::key_impl& key_of(const private_key& k, std::string_view what) {
  if (k.empty()) fail(what, errc::invalid_argument, "the key is empty");
  return detail::impl_of(k);
}

}  // namespace

certificate certificate_builder::self_sign(const private_key& key) const {
  const auto& k = key_of(key, "key");
  return build(*this, k.pub.get(), nullptr, k);
}

certificate certificate_builder::sign(const private_key& subject_key, const certificate& issuer,
                                      const private_key& issuer_key) const {
  const auto& k = key_of(subject_key, "subject_key");
  return sign(std::span<const std::uint8_t>(k.spki), issuer, issuer_key);
}

certificate certificate_builder::sign(std::span<const std::uint8_t> subject_public_key_der,
                                      const certificate& issuer,
                                      const private_key& issuer_key) const {
  const auto& ik = key_of(issuer_key, "issuer_key");
  if (issuer.empty()) fail("issuer", errc::invalid_argument, "the certificate is empty");
  if (issuer.public_key_der() != ik.spki) {
    fail("issuer_key", errc::key_mismatch,
         "the issuer key is not the key of the issuer certificate");
  }
  auto pub = detail::new_pubkey();
  const gnutls_datum_t d = detail::as_datum(subject_public_key_der);
  const int rc = gnutls_pubkey_import(pub.get(), &d, GNUTLS_X509_FMT_DER);
  if (rc < 0) fail("subject_public_key", errc::malformed, reason(rc));
  return build(*this, pub.get(), detail::impl_of(issuer).crt.get(), ik);
}

// ---- CSR ---------------------------------------------------------------------------------

std::vector<std::uint8_t> make_csr_der(const private_key& key, std::string_view common_name,
                                       const std::vector<std::string>& sans) {
  constexpr std::string_view subject = "csr";
  const auto& k = key_of(key, "key");
  if (common_name.empty() && sans.empty()) {
    fail(subject, errc::invalid_argument,
         "a CSR needs a common name or a subject alternative name");
  }
  std::vector<detail::san_entry> entries;
  for (const auto& s : sans) entries.push_back(detail::parse_san(s));
  auto crq = detail::new_crq();
  auto ok = [&](int rc, const char* what) {
    if (rc < 0) fail(subject, errc::generation_failed, std::string(what) + ": " + reason(rc));
  };
  ok(gnutls_x509_crq_set_version(crq.get(), 1), "version");
  if (!common_name.empty()) {
    ok(gnutls_x509_crq_set_dn_by_oid(crq.get(), GNUTLS_OID_X520_COMMON_NAME, 0, common_name.data(),
                                     static_cast<unsigned>(common_name.size())),
       "common name");
  }
  for (const auto& e : entries) {
    ok(gnutls_x509_crq_set_subject_alt_name(crq.get(), e.type, e.value.data(),
                                            static_cast<unsigned>(e.value.size()),
                                            GNUTLS_FSAN_APPEND),
       "subject alternative name");
  }
  ok(gnutls_x509_crq_set_pubkey(crq.get(), k.pub.get()), "public key");
  ok(gnutls_x509_crq_privkey_sign(crq.get(), k.abstract.get(), detail::sign_digest(k.type), 0),
     "signing");
  detail::owned_datum der;
  ok(gnutls_x509_crq_export2(crq.get(), GNUTLS_X509_FMT_DER, &der), "export");
  return der.vec();
}

std::string make_csr_pem(const private_key& key, std::string_view common_name,
                         const std::vector<std::string>& sans) {
  return pem_encode("CERTIFICATE REQUEST", make_csr_der(key, common_name, sans));
}

csr_info parse_csr(std::string_view pem_or_der, std::string_view option) {
  if (detail::is_blank(pem_or_der)) fail(option, errc::file_empty);
  const bool pem = pem_or_der.find("-----BEGIN ") != std::string_view::npos;
  if (!pem && static_cast<unsigned char>(pem_or_der.front()) != 0x30) {
    fail(option, errc::not_pem_or_der,
         "no '-----BEGIN CERTIFICATE REQUEST-----' line and not DER-encoded either");
  }
  auto crq = detail::new_crq();
  const gnutls_datum_t d = detail::as_datum(pem_or_der);
  int rc = gnutls_x509_crq_import(crq.get(), &d, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
  if (rc < 0) fail(option, errc::malformed, reason(rc));
  rc = gnutls_x509_crq_verify(crq.get(), 0);
  if (rc < 0) fail(option, errc::malformed, "the request's signature does not verify");
  csr_info info;
  std::size_t size = 0;
  rc = gnutls_x509_crq_get_dn_by_oid(crq.get(), GNUTLS_OID_X520_COMMON_NAME, 0, 0, nullptr, &size);
  if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER) {
    info.common_name.resize(size);
    if (gnutls_x509_crq_get_dn_by_oid(crq.get(), GNUTLS_OID_X520_COMMON_NAME, 0, 0,
                                      info.common_name.data(), &size) >= 0) {
      info.common_name.resize(size);
      while (!info.common_name.empty() && info.common_name.back() == '\0') {
        info.common_name.pop_back();
      }
    } else {
      info.common_name.clear();
    }
  }
  for (unsigned seq = 0;; ++seq) {
    size = 0;
    unsigned type = 0;
    rc = gnutls_x509_crq_get_subject_alt_name(crq.get(), seq, nullptr, &size, &type, nullptr);
    if (rc != GNUTLS_E_SHORT_MEMORY_BUFFER) break;
    std::string value(size, '\0');
    rc = gnutls_x509_crq_get_subject_alt_name(crq.get(), seq, value.data(), &size, &type, nullptr);
    if (rc < 0) break;
    value.resize(size);
    if (type != GNUTLS_SAN_IPADDRESS) {
      while (!value.empty() && value.back() == '\0') value.pop_back();
    }
    info.subject_alt_names.push_back(detail::format_san(type, value));
  }
  auto pub = detail::new_pubkey();
  rc = gnutls_pubkey_import_x509_crq(pub.get(), crq.get(), 0);
  if (rc < 0) fail(option, errc::malformed, reason(rc));
  detail::owned_datum spki;
  rc = gnutls_pubkey_export2(pub.get(), GNUTLS_X509_FMT_DER, &spki);
  if (rc < 0) fail(option, errc::malformed, reason(rc));
  info.public_key_der = spki.vec();
  return info;
}

}  // namespace moat::pki
