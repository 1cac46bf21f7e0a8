#pragma once
/// @file
/// `acme::file_storage`: the default `acme::storage`, a directory on a local (or shared,
/// POSIX) file system.
///
/// Layout: the key "a/b/c" is the file <root>/a/b/c. Directories are 0700, files 0600. Names
/// starting with '.' belong to the storage and are never listed or loaded: temporary files
/// (".<name>.tmp-XXXXXX") and the lock directory ".locks/" (the lock "x/y" is
/// ".locks/x/y.lock"; ".locks/.takeover" serializes the takeover of stale locks).
///
/// Writes: a temporary file in the key's directory (O_EXCL, unique name), written in full,
/// fsync'd, renamed over the key's file, then the directory fsync'd. A failed write (ENOSPC,
/// EFBIG, EIO, EACCES) removes its temporary file and leaves the old value. Temporary files
/// left by a crash are never seen, and those older than `temporary_max_age` are removed when
/// a file_storage is constructed on the directory.
///
/// Locks: a lock file created atomically and complete (its record is written to a temporary
/// file first, then hard-linked to the lock's name, which fails if the lock exists), holding
/// JSON {"owner", "pid", "host", "created_unix_ms", "updated_unix_ms"}. The holder rewrites
/// "updated_unix_ms" every `heartbeat` on a timer of the executor. A waiter polls every
/// `poll_interval` and judges the lock stale when its last update is older than
/// `stale_after`, at once when the holder is on this host (same `host_name`) and its process
/// is gone, and -- for a lock file that does not parse, e.g. after a crash of its file
/// system -- when its modification time is older than `stale_after`. A stale lock is
/// removed and re-created only under an exclusive flock(2) of ".locks/.takeover", after
/// re-reading it: two waiters that saw the same stale lock never both take it. Unlock
/// removes the lock file only if it is still the holder's own (same inode), under the same
/// flock. Hard links and flock are required (local file systems, NFSv4).
///
/// Reads and writes are synchronous system calls inside the coroutine (small files: a few
/// KiB, one fsync per store); waiting for a lock is a timer wait.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <moat/acme/storage.hpp>
#include <string>

namespace spdlog {
class logger;
}

namespace moat::acme {

/// Options of `file_storage`.
struct file_storage_options {
  /// The storage's directory; created (0700, with its parents) when missing.
  std::filesystem::path root{};
  /// A lock not refreshed for this long is stale and may be taken over. Keep it several
  /// times `heartbeat`; holders and waiters of one directory must agree on it.
  std::chrono::milliseconds stale_after{std::chrono::seconds(30)};
  /// How often a holder refreshes its locks.
  std::chrono::milliseconds heartbeat{std::chrono::seconds(5)};
  /// How often a waiter looks at a lock it waits for.
  std::chrono::milliseconds poll_interval{std::chrono::milliseconds(500)};
  /// Temporary files older than this, left by a crashed writer, are removed at construction
  /// (younger ones may belong to a writer in another process).
  std::chrono::milliseconds temporary_max_age{std::chrono::minutes(10)};
  /// The host name written into lock files; empty = gethostname(). Processes that share a
  /// host name must share a process-id namespace (a holder whose pid is gone is stale at
  /// once); give containers with separate pid namespaces distinct names.
  std::string host_name{};
  /// The largest value `load` and `store` handle (`too_large` beyond).
  std::uint64_t max_value_size = 64ULL << 20;
  /// Where stale-lock takeovers, lost locks and sweeps of leftovers are logged; null =
  /// moat::default_logger().
  std::shared_ptr<spdlog::logger> logger{};
};

/// A storage directory (see the file comment for its layout and guarantees).
///
/// Ownership: holds the locks it acquired until `unlock` or its destruction, which releases
/// them. Its heartbeats run on the executor given; destroy it on that executor.
/// Thread-safety: operations may run concurrently from any thread.
class file_storage final : public storage {
 public:
  /// Creates `opts.root` (0700) if needed and removes stale temporary files. Throws
  /// moat::config_error naming the directory when it cannot be created or is not a directory,
  /// or when an interval is not positive.
  file_storage(boost::asio::any_io_executor ex, file_storage_options opts);
  ~file_storage() override;

  [[nodiscard]] boost::asio::awaitable<result<std::string>> load(std::string key) override;
  [[nodiscard]] boost::asio::awaitable<result<void>> store(std::string key,
                                                           std::string value) override;
  [[nodiscard]] boost::asio::awaitable<result<void>> remove(std::string key) override;
  [[nodiscard]] boost::asio::awaitable<result<bool>> exists(std::string key) override;
  [[nodiscard]] boost::asio::awaitable<result<std::vector<std::string>>> list(
      std::string prefix, bool recursive) override;
  [[nodiscard]] boost::asio::awaitable<result<key_info>> stat(std::string key) override;
  [[nodiscard]] boost::asio::awaitable<result<void>> lock(
      std::string name, std::chrono::milliseconds timeout = std::chrono::hours(24 * 365)) override;
  [[nodiscard]] boost::asio::awaitable<result<void>> unlock(std::string name) override;

  /// The storage's directory (absolute).
  [[nodiscard]] const std::filesystem::path& root() const noexcept;
  /// The file that holds `key` (which must be valid); for operators and tests.
  [[nodiscard]] std::filesystem::path path_of(std::string_view key) const;

  struct impl;  // internal

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace moat::acme
