#pragma once
/// @file
/// base64url (RFC 4648 section 5, without padding), the encoding of every binary field of
/// JOSE and ACME (JWS parts, JWK members, ARI certificate IDs, challenge tokens).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::pki {

/// Encodes `bytes` as base64url without padding. Thread-safety: pure function.
[[nodiscard]] std::string base64url_encode(std::span<const std::uint8_t> bytes);
/// Encodes the bytes of `text` as base64url without padding.
[[nodiscard]] std::string base64url_encode(std::string_view text);

/// Decodes unpadded base64url strictly: only the alphabet `A-Z a-z 0-9 - _`, no padding, no
/// whitespace, a length that is not 1 modulo 4, and zero bits where the last character has
/// spare ones (so every byte string has exactly one encoding). nullopt when `text` is not
/// such an encoding. Thread-safety: pure function.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

}  // namespace moat::pki
