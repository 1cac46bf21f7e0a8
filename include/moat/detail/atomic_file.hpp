#pragma once
/// @file
/// Atomic, durable file writes shared by the parts that keep files (pki's key and PEM writers,
/// acme's file storage): a temporary file in the target's directory, written in full, fsync'd,
/// renamed over the target, then the directory fsync'd. Not part of the stable API; a `detail`
/// home so that both parts share one implementation (in moat::pki).
///
/// Temporary files are named "." + <target file name> + ".tmp-" + 6 random characters, so a
/// reader that skips names starting with '.' never sees one, and `is_temporary_name` tells
/// leftovers of a crash apart.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace moat::detail {

/// Why a file operation failed: the system's code and the step with the file it concerned,
/// e.g. {ENOSPC, "write '/d/.a.crt.tmp-x1Y2z3'"}.
struct file_failure {
  std::error_code code{};
  std::string step{};
  /// True if the rename was done (only the directory fsync failed): the new content is in
  /// place but may not survive a power loss.
  bool renamed = false;
};

/// True if `file_name` (no directory) is a temporary file of `write_file_atomically` or
/// `create_temporary_file`.
[[nodiscard]] bool is_temporary_name(std::string_view file_name) noexcept;

/// A temporary file holding `contents` (written in full and fsync'd), mode `mode`, in `dir`,
/// named after `target_name`. `fd` stays open for the caller (who closes it).
struct temporary_file {
  std::filesystem::path path{};
  int fd = -1;
};
/// Creates the temporary file (O_EXCL, close-on-exec). On failure nothing is left behind.
[[nodiscard]] std::optional<file_failure> create_temporary_file(const std::filesystem::path& dir,
                                                                std::string_view target_name,
                                                                std::string_view contents,
                                                                unsigned mode, temporary_file& out);

/// Replaces `path` with `contents` atomically and durably: the old content stays until the
/// new one is complete on disk, and a reader sees one or the other, never a mix. On failure
/// the temporary file is removed. Reentrant.
[[nodiscard]] std::optional<file_failure> write_file_atomically(const std::filesystem::path& path,
                                                                std::string_view contents,
                                                                unsigned mode);

/// fsync of a directory (so a rename, link or unlink in it survives a power loss).
[[nodiscard]] std::optional<file_failure> sync_directory(const std::filesystem::path& dir);

}  // namespace moat::detail
