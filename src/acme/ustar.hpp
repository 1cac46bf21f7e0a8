#pragma once
// The POSIX ustar archive format (pax 'x' headers for long names), as the storage backup
// writes and reads it: regular files with mode 0600. Pure functions, no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moat::acme::ustar {

/// One regular file of an archive.
struct entry {
  std::string name{};      ///< a storage key
  std::string data{};      ///< the file's bytes
  std::int64_t mtime = 0;  ///< seconds since the epoch
};

/// The archive of `entries` (in order), ending with two zero blocks. Names longer than
/// ustar's fields get a pax extended header.
[[nodiscard]] std::string write(const std::vector<entry>& entries);

/// The entries of `archive`, or `error` saying what is wrong and where. Checks every
/// header's checksum and magic, numeric fields, entry types (files, directories, pax
/// headers), sizes against what remains, names (valid storage keys, no duplicates) and the
/// two end-of-archive blocks.
struct parsed {
  std::vector<entry> entries{};
  std::string error{};  ///< empty on success
};
[[nodiscard]] parsed read(std::string_view archive);

}  // namespace moat::acme::ustar
