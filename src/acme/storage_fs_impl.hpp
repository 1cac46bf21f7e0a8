#pragma once
// Internals of acme::file_storage shared by its files (storage_fs.cpp: values;
// storage_fs_lock.cpp: locks).

#include <sys/types.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <moat/acme/file_storage.hpp>
#include <mutex>
#include <string>
#include <system_error>

#include <moat/detail/atomic_file.hpp>

namespace moat::acme {

namespace storage_fs {

/// The storage code of a system error: no_space, too_large, permission_denied, io_failed.
[[nodiscard]] storage_errc classify(std::error_code ec) noexcept;
/// An acme::error for `context` from a failed file step.
[[nodiscard]] error failure(const std::string& context, const moat::detail::file_failure& f);
/// An acme::error for `context` from errno after `step`.
[[nodiscard]] error errno_failure(const std::string& context, const std::string& step, int e);
/// "op 'key'"
[[nodiscard]] std::string context_of(std::string_view op, std::string_view key);
/// Creates `dir` and its missing parents (the storage's root too, if it was removed) with mode
/// 0700, fsyncing the parent of each directory it creates. A file on the way: ENOTDIR.
[[nodiscard]] std::optional<moat::detail::file_failure> make_directories(
    const std::filesystem::path& dir);

/// A lock this storage holds.
struct held_lock {
  held_lock(boost::asio::any_io_executor ex, std::string n) : name(std::move(n)), timer(ex) {}
  ~held_lock();
  held_lock(const held_lock&) = delete;
  held_lock& operator=(const held_lock&) = delete;

  std::string name;
  std::filesystem::path path;  // the lock file
  int fd = -1;                 // open on the lock file's inode, for heartbeats
  dev_t dev = 0;
  ino_t ino = 0;
  std::size_t updated_offset = 0;  // where the 13 digits of updated_unix_ms are
  boost::asio::steady_timer timer;
  std::atomic<bool> released{false};
  std::atomic<bool> lost{false};
};

}  // namespace storage_fs

struct file_storage::impl {
  impl(boost::asio::any_io_executor e, file_storage_options o);

  boost::asio::any_io_executor ex;
  file_storage_options opts;
  std::filesystem::path root;
  std::filesystem::path lock_dir;  // root/.locks
  std::shared_ptr<spdlog::logger> log;
  std::string host;

  std::mutex mu;  // guards held
  std::map<std::string, std::shared_ptr<storage_fs::held_lock>> held;

  [[nodiscard]] std::filesystem::path file_of(std::string_view key) const { return root / key; }
  [[nodiscard]] std::filesystem::path lock_file_of(std::string_view name) const {
    return lock_dir / (std::string(name) + ".lock");
  }
  /// Removes temporary files older than opts.temporary_max_age under the root.
  void sweep_temporaries();
  /// Releases every held lock (at destruction).
  void release_all() noexcept;
};

}  // namespace moat::acme
