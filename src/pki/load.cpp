#include <moat/pki/load.hpp>

#include "pki/common.hpp"

namespace moat::pki {

using detail::fail;
using detail::reason;

namespace {

bool is_cert_label(std::string_view label) {
  return label == "CERTIFICATE" || label == "X509 CERTIFICATE";
}

std::vector<certificate> parse_certs(std::string_view data, std::string_view subject,
                                     std::string_view what) {
  if (detail::is_blank(data)) fail(subject, errc::file_empty);
  std::vector<certificate> out;
  if (data.find("-----BEGIN ") != std::string_view::npos) {
    const auto blocks = detail::pem_blocks(data);
    std::size_t count = 0;
    for (const auto& b : blocks) {
      if (is_cert_label(b.label)) ++count;
    }
    if (count == 0) {
      fail(subject, errc::no_certificate, detail::describe_pem_contents(blocks, what));
    }
    std::size_t index = 0;
    for (const auto& b : blocks) {
      if (!is_cert_label(b.label)) continue;
      ++index;
      const std::string which =
          "certificate " + std::to_string(index) + " of " + std::to_string(count);
      if (!b.complete) fail(subject, errc::malformed, which + ": no '-----END' line");
      auto crt = detail::new_crt();
      const gnutls_datum_t d = detail::as_datum(b.text);
      const int rc = gnutls_x509_crt_import(crt.get(), &d, GNUTLS_X509_FMT_PEM);
      if (rc < 0) fail(subject, errc::malformed, which + ": " + reason(rc));
      out.push_back(detail::make_certificate(std::move(crt)));
    }
    return out;
  }
  if (static_cast<unsigned char>(data.front()) != 0x30) {
    fail(subject, errc::not_pem_or_der,
         "no '-----BEGIN CERTIFICATE-----' line and not DER-encoded either");
  }
  auto crt = detail::new_crt();
  const gnutls_datum_t d = detail::as_datum(data);
  const int rc = gnutls_x509_crt_import(crt.get(), &d, GNUTLS_X509_FMT_DER);
  if (rc >= 0) {
    out.push_back(detail::make_certificate(std::move(crt)));
    return out;
  }
  auto key = detail::new_x509_key();
  if (gnutls_x509_privkey_import2(key.get(), &d, GNUTLS_X509_FMT_DER, nullptr, GNUTLS_PKCS_PLAIN) >=
      0) {
    fail(subject, errc::no_certificate, "the " + std::string(what) + " holds a DER private key");
  }
  fail(subject, errc::malformed, "not a DER certificate: " + reason(rc));
}

}  // namespace

std::vector<certificate> parse_certificates(std::string_view pem_or_der, std::string_view option) {
  return parse_certs(pem_or_der, option, "data");
}

std::vector<certificate> load_certificates(const std::filesystem::path& path,
                                           std::string_view option) {
  const std::string subject = detail::file_subject(option, path);
  return parse_certs(detail::read_file(path, subject), subject, "file");
}

std::vector<certificate> load_ca_certificates(const std::filesystem::path& path,
                                              std::string_view option) {
  return load_certificates(path, option);
}

namespace {

std::string describe_cert(const certificate& c, std::size_t index, std::size_t count) {
  std::string s = "certificate " + std::to_string(index + 1) + " of " + std::to_string(count);
  const std::string cn = c.common_name();
  if (!cn.empty()) return s + " (CN '" + cn + "')";
  const std::string dn = c.subject();
  if (!dn.empty()) return s + " ('" + dn + "')";
  return s;
}

}  // namespace

void check_chain(const std::vector<certificate>& chain, std::string_view subject,
                 std::chrono::system_clock::time_point now) {
  if (chain.empty()) fail(subject, errc::no_certificate);
  const std::size_t n = chain.size();
  for (std::size_t i = 0; i < n; ++i) {
    const certificate& c = chain[i];
    if (now < c.not_before()) {
      fail(subject, errc::cert_not_yet_valid,
           describe_cert(c, i, n) + " is valid only from " + format_utc(c.not_before()));
    }
    if (now > c.not_after()) {
      fail(subject, errc::cert_expired,
           describe_cert(c, i, n) + " expired on " + format_utc(c.not_after()));
    }
  }
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (!chain[i].is_issued_by(chain[i + 1])) {
      fail(subject, errc::chain_out_of_order,
           describe_cert(chain[i], i, n) + " is not signed by " +
               describe_cert(chain[i + 1], i + 1, n) +
               "; put the server certificate first, then each issuer in turn");
    }
  }
}

namespace {

void check_key(const certificate& leaf, const private_key& key, std::string_view subject,
               const std::string& where) {
  if (key.empty()) fail(subject, errc::no_private_key);
  if (leaf.public_key_der() == key.public_key_der()) return;
  std::string detail = "the certificate";
  const std::string cn = leaf.common_name();
  if (!cn.empty()) detail += " (CN '" + cn + "')";
  detail += where + " is for another key (certificate: " + leaf.public_key_algorithm() +
            ", key: " + detail::describe(detail::impl_of(key).pub.get()).name + ")";
  fail(subject, errc::key_mismatch, detail);
}

}  // namespace

void check_key_matches(const certificate& leaf, const private_key& key, std::string_view subject) {
  check_key(leaf, key, subject, {});
}

credentials load_credentials(const std::filesystem::path& certfile,
                             const std::filesystem::path& keyfile, const key_password& password,
                             std::chrono::system_clock::time_point now) {
  credentials out;
  out.chain = load_certificates(certfile, "certfile");
  out.key = load_private_key(keyfile, password, "keyfile");
  check_chain(out.chain, detail::file_subject("certfile", certfile), now);
  check_key(out.chain.front(), out.key, detail::file_subject("keyfile", keyfile),
            " in " + detail::file_subject("certfile", certfile));
  return out;
}

void write_pem_file(const std::filesystem::path& path, std::string_view contents, bool secret,
                    std::string_view option) {
  detail::atomic_write(path, contents, secret ? 0600U : 0644U, detail::file_subject(option, path));
}

std::string pem_encode(std::string_view label, std::span<const std::uint8_t> der) {
  const std::string header(label);
  const gnutls_datum_t d = detail::as_datum(der);
  detail::owned_datum out;
  const int rc = gnutls_pem_base64_encode2(header.c_str(), &d, &out);
  if (rc < 0) fail("PEM", errc::generation_failed, reason(rc));
  return std::string(out.text());
}

}  // namespace moat::pki
