#pragma once
/// @file
/// Where the certificate manager keeps what it must not lose -- certificates, their keys, the
/// account key, renewal state -- and how several processes share it: the `acme::storage`
/// interface, its written contract, and its error codes. `acme::file_storage`
/// (moat/acme/file_storage.hpp) is the default, a directory; a shared backend (a database,
/// S3, etcd) that keeps the same contract lets a cluster of moat processes share certificates.
///
/// ## The contract (every implementation guarantees it)
///
/// **Keys** are '/'-separated relative paths ("certificates/ca.example/example.com.crt"). A
/// valid key (see `validate_key`) is 1 to 1024 bytes, made of segments of 1 to 255 bytes
/// separated by single '/'; no segment starts with '.' (so no ".", ".." or hidden names: they
/// are the storage's own), none holds a NUL, another control character or a '\\'. An invalid
/// key is refused with `storage_errc::invalid_key` before anything is touched; it never
/// reaches outside the storage. A *prefix* is a key's leading whole segments: "a" is a prefix
/// of "a/b", not of "ab/c". A key holds a value (it is *terminal*) or is a prefix of keys that
/// do, never both; a prefix exists only while a key below it holds a value.
///
/// **Values** are byte strings (PEM, JSON) up to the implementation's limit (64 MiB for
/// file_storage); this is not a streaming API.
///
/// **Reads and writes.** `store` is atomic and durable: when it succeeds the value survives a
/// crash or a power loss; when it fails or the process dies during it, the key holds its
/// previous value (or stays absent) -- a reader never sees a partial or empty value. `load`
/// returns the value of the last `store` that completed. Concurrent `store`s of one key leave
/// one of the values whole. Failures are errors, never silent: a full disk is
/// `storage_errc::no_space` naming the key and the system's reason, and leaves no debris.
///
/// **Locks** coordinate work across processes (and hosts, for a shared backend): at most one
/// holder per name at a time, for "obtain the certificate for example.com" and similar jobs
/// -- not for every read and write, which are safe without them. `lock` waits until the
/// lock is acquired, the timeout passes (`lock_timeout`) or the operation is cancelled
/// (`cancelled`), without blocking the executor's thread. A holder that dies (kill -9, a
/// crash, a lost host) does not block the others for long: its lock becomes *stale* and is
/// taken over, exactly once even when several waiters see it at the same moment. While a
/// lock is held the implementation keeps it fresh; a holder that stalls longer than the
/// stale time (a stopped process, a network partition) may lose it, so work done under a
/// lock should be idempotent and re-check its premise after acquiring (another process may
/// have done it meanwhile). `unlock` releases only the caller's own lock, never a lock
/// someone took over (`lock_lost`). Locks are not reentrant: locking a name the same storage
/// object holds waits like any other waiter.
///
/// **Asynchrony.** Every operation is an `asio::awaitable`, so a network backend never blocks
/// the executor. An implementation may complete small reads and writes synchronously
/// (file_storage does: its files are a few KiB), but waiting for a lock is always a timer
/// wait.
///
/// **Errors** are `acme::error` values whose code is a `storage_errc` and whose context names
/// the operation and the key ("store 'certificates/a.crt'"); the detail carries the
/// system's reason where there is one ("write '/var/lib/moat/...': No space left on device").

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <moat/acme/errors.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace moat::acme {

/// Why a storage operation failed (category "moat.acme.storage").
enum class storage_errc {
  not_found = 1,      ///< no value under the key (load, stat)
  invalid_key,        ///< the key or lock name breaks the key rules (see `validate_key`)
  io_failed,          ///< the storage could not be read or written (EIO, ...); see the detail
  no_space,           ///< no space left on the storage's device (ENOSPC, EDQUOT)
  too_large,          ///< the value is larger than the storage takes (EFBIG, the size limit)
  permission_denied,  ///< the storage refused access (EACCES, EPERM, EROFS)
  lock_timeout,       ///< the lock was not acquired before the timeout
  cancelled,          ///< waiting for the lock was cancelled
  not_locked,         ///< unlock of a lock this storage object does not hold
  lock_lost,          ///< the lock was taken over while held (its holder stalled too long)
  corrupt_archive,    ///< a backup archive is corrupt or truncated (nothing was restored)
};

/// The `std::error_category` of `storage_errc` (name "moat.acme.storage"). Its codes map to
/// portable conditions: not_found → no_such_file_or_directory, invalid_key → invalid_argument,
/// io_failed → io_error, no_space → no_space_on_device, too_large → file_too_large,
/// permission_denied → permission_denied, lock_timeout → timed_out, cancelled →
/// operation_canceled, corrupt_archive → bad_message. Thread-safety: a singleton.
[[nodiscard]] const std::error_category& storage_category() noexcept;

/// Makes a `std::error_code` in `storage_category()` (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(storage_errc e) noexcept {
  return {static_cast<int>(e), storage_category()};
}

/// Empty if `key` is a valid storage key (see the contract above), else why not, e.g.
/// "segment '..' starts with '.'". Lock names follow the same rules. Every implementation
/// checks keys with it. Thread-safety: pure function.
[[nodiscard]] std::string validate_key(std::string_view key);

/// What `storage::stat` reports.
struct key_info {
  std::string key{};
  /// The time of the last store (for a prefix: as the implementation knows it).
  std::chrono::system_clock::time_point modified{};
  std::uint64_t size = 0;  ///< bytes of the value (0 for a prefix)
  bool terminal = true;    ///< true: a value; false: a prefix of keys that hold values
};

/// A key-value store with directory semantics and named locks, shared by processes.
///
/// Ownership: the caller owns the storage and keeps it alive while operations on it run.
/// Thread-safety: every implementation must allow concurrent operations (from several
/// coroutines and threads).
class storage {
 public:
  virtual ~storage() = default;
  storage() = default;
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;

  /// The value of `key`; `not_found` if it holds none (also when it is only a prefix).
  [[nodiscard]] virtual boost::asio::awaitable<result<std::string>> load(std::string key) = 0;
  /// Puts `value` at `key`, creating or replacing it, atomically and durably (see the
  /// contract). `invalid_key` if `key` is a prefix of other keys.
  [[nodiscard]] virtual boost::asio::awaitable<result<void>> store(std::string key,
                                                                   std::string value) = 0;
  /// Removes `key`; when it is a prefix, every key below it. Removing what does not exist
  /// succeeds: an error means the key may still exist.
  [[nodiscard]] virtual boost::asio::awaitable<result<void>> remove(std::string key) = 0;
  /// True if `key` holds a value or is a prefix of keys that do.
  [[nodiscard]] virtual boost::asio::awaitable<result<bool>> exists(std::string key) = 0;
  /// The keys below `prefix` ("" = everything), sorted. `recursive`: every key that holds a
  /// value, at any depth; otherwise the keys one segment below `prefix`, both those that
  /// hold values and those that are prefixes. Full keys ("a/b", not "b"). Empty when nothing
  /// is below `prefix` (never not_found).
  [[nodiscard]] virtual boost::asio::awaitable<result<std::vector<std::string>>> list(
      std::string prefix, bool recursive) = 0;
  /// Size and modification time of `key`; `not_found` if it neither holds a value nor is a
  /// prefix.
  [[nodiscard]] virtual boost::asio::awaitable<result<key_info>> stat(std::string key) = 0;

  /// Acquires the lock `name` (a valid key), waiting until it is free or stale, at most
  /// `timeout` (`lock_timeout`), or until the coroutine is cancelled (`cancelled`, e.g. by
  /// asio's `||` operator or a cancellation slot). Held until `unlock`, and kept fresh
  /// meanwhile.
  [[nodiscard]] virtual boost::asio::awaitable<result<void>> lock(
      std::string name, std::chrono::milliseconds timeout = std::chrono::hours(24 * 365)) = 0;
  /// Releases the lock `name` this object holds: `not_locked` if it holds none, `lock_lost`
  /// if another holder took it over meanwhile (it is left to them).
  [[nodiscard]] virtual boost::asio::awaitable<result<void>> unlock(std::string name) = 0;
};

/// Runs `body` while holding the lock `name` of `s`, then releases it, also when `body`
/// throws (the exception propagates after the unlock). The lock's errors (`lock_timeout`,
/// `cancelled`, ...) are returned and `body` does not run; a failing unlock after `body`
/// is returned too (`lock_lost`: the work may have overlapped with another holder's).
[[nodiscard]] boost::asio::awaitable<result<void>> with_lock(
    storage& s, std::string name, std::chrono::milliseconds timeout,
    std::function<boost::asio::awaitable<void>()> body);

}  // namespace moat::acme

template <>
struct std::is_error_code_enum<moat::acme::storage_errc> : std::true_type {};
