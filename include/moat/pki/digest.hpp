#pragma once
/// @file
/// Hashes, MACs and randomness for the protocols above TLS (ACME's key authorizations and
/// External Account Binding, JWK thumbprints, ARI), so that no other part needs the TLS
/// library's headers.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace moat::pki {

/// A SHA-256 digest.
using sha256_digest = std::array<std::uint8_t, 32>;

/// SHA-256 of `data`. Thread-safety: pure function.
[[nodiscard]] sha256_digest sha256(std::span<const std::uint8_t> data);
/// SHA-256 of the bytes of `text`.
[[nodiscard]] sha256_digest sha256(std::string_view text);

/// An MD5 digest.
using md5_digest = std::array<std::uint8_t, 16>;

/// MD5 of the bytes of `text`. Only for protocols that fix it: Erlang's distribution
/// handshake proves the cookie with MD5(cookie ++ challenge). Thread-safety: pure function.
[[nodiscard]] md5_digest md5(std::string_view text);

/// HMAC-SHA-256 (RFC 2104) of `data` under `key` (JWS "HS256"). Thread-safety: pure.
[[nodiscard]] sha256_digest hmac_sha256(std::span<const std::uint8_t> key,
                                        std::span<const std::uint8_t> data);

/// Compares two byte strings in time that depends only on their lengths (for MACs and
/// tokens). Thread-safety: pure function.
[[nodiscard]] bool constant_time_equal(std::span<const std::uint8_t> a,
                                       std::span<const std::uint8_t> b) noexcept;

/// `n` bytes from the TLS library's cryptographic random generator (nonces, tokens, keys).
/// Throws `config_error` (`generation_failed`) if the generator fails.
/// Thread-safety: safe from any thread.
[[nodiscard]] std::vector<std::uint8_t> random_bytes(std::size_t n);

}  // namespace moat::pki
