#pragma once
// Internal: the CA's persistent root and intermediate (P-256), loaded from or created in its
// data directory.
#include <filesystem>
#include <moat/acme/resources.hpp>
#include <moat/pki/certificate.hpp>
#include <moat/pki/key.hpp>

namespace moat::acme::detail {

struct ca_keys {
  pki::certificate root{};
  pki::private_key root_key{};
  pki::certificate intermediate{};
  pki::private_key intermediate_key{};
};

/// Loads root.key, root.pem, intermediate.key, intermediate.pem from `dir`, or creates all
/// four when none exists (keys 0600, written atomically; the root named "moat CA root
/// <random id>", 10 years; the intermediate 5 years, pathlen 0). Throws moat::config_error
/// naming the file and the reason for a missing part, a corrupt file, a key that is not its
/// certificate's, or an intermediate the root did not sign; nothing is overwritten.
[[nodiscard]] ca_keys load_or_create_keys(const std::filesystem::path& dir, sys_time now);

/// Writes `contents` to `path` atomically (temporary file, fsync, rename, directory fsync)
/// with `mode`. Throws moat::config_error naming the file.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents, unsigned mode);

}  // namespace moat::acme::detail
