#include <gnutls/crypto.h>

#include <moat/pki/digest.hpp>

#include "pki/common.hpp"

namespace moat::pki {

sha256_digest sha256(std::span<const std::uint8_t> data) {
  sha256_digest out{};
  const int rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, data.data(), data.size(), out.data());
  if (rc < 0) detail::fail("sha256", errc::generation_failed, detail::reason(rc));
  return out;
}

md5_digest md5(std::string_view text) {
  md5_digest out{};
  const int rc = gnutls_hash_fast(GNUTLS_DIG_MD5, text.data(), text.size(), out.data());
  if (rc < 0) detail::fail("md5", errc::generation_failed, detail::reason(rc));
  return out;
}

sha256_digest sha256(std::string_view text) {
  return sha256(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

sha256_digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  sha256_digest out{};
  const int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data(), key.size(), data.data(),
                                  data.size(), out.data());
  if (rc < 0) detail::fail("hmac_sha256", errc::generation_failed, detail::reason(rc));
  return out;
}

bool constant_time_equal(std::span<const std::uint8_t> a,
                         std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= unsigned{a[i]} ^ unsigned { b[i] };
  return diff == 0;
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> out(n);
  if (n == 0) return out;
  const int rc = gnutls_rnd(GNUTLS_RND_RANDOM, out.data(), out.size());
  if (rc < 0) detail::fail("random_bytes", errc::generation_failed, detail::reason(rc));
  return out;
}

}  // namespace moat::pki
