#pragma once
/// @file
/// A backup of a whole `acme::storage` in one file: a POSIX ustar archive (pax headers for
/// keys longer than ustar's name fields), so operators can read it with `tar -tvf` and
/// `tar -xf`. Every key that holds a value is one regular-file entry named by the key, mode
/// 0600, with the value as its content; locks and temporary files are not storage keys and
/// are not in it.

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <filesystem>
#include <moat/acme/errors.hpp>
#include <moat/acme/storage.hpp>

namespace moat::acme {

/// Writes every key of `s` into the archive `archive`, replacing it atomically (temporary
/// file, fsync, rename) with mode 0600. Returns how many keys it holds. Errors: those of
/// `s` (context "backup"), and the archive's own (`no_space`, `permission_denied`,
/// `io_failed`, naming the archive). Keys removed while the backup runs are left out.
[[nodiscard]] boost::asio::awaitable<result<std::size_t>> backup(storage& s,
                                                                 std::filesystem::path archive);

/// Stores every entry of the archive `archive` into `s` and returns how many. The whole
/// archive is read and checked first -- every header's checksum, sizes, entry types, names
/// (valid keys, no duplicates), the end-of-archive blocks -- and a corrupt or truncated
/// archive is refused with `corrupt_archive` saying what and where, before anything is
/// written. Keys of `s` absent from the archive are left alone. If a store fails midway, the
/// keys written so far get their previous values back (or are removed) before the error is
/// returned.
[[nodiscard]] boost::asio::awaitable<result<std::size_t>> restore(std::filesystem::path archive,
                                                                  storage& s);

}  // namespace moat::acme
