#include <array>
#include <exception>
#include <moat/acme/storage.hpp>
#include <utility>

namespace moat::acme {

namespace {

struct storage_entry {
  storage_errc code;
  std::string_view message;  // distinct for every code
};

constexpr std::array<storage_entry, 11> storage_table = {{
    {storage_errc::not_found, "no value is stored under this key"},
    {storage_errc::invalid_key, "not a valid storage key"},
    {storage_errc::io_failed, "the storage could not be read or written"},
    {storage_errc::no_space, "no space left on the storage's device"},
    {storage_errc::too_large, "the value is too large for the storage"},
    {storage_errc::permission_denied, "the storage refused access"},
    {storage_errc::lock_timeout, "the lock was not acquired before the timeout"},
    {storage_errc::cancelled, "waiting for the lock was cancelled"},
    {storage_errc::not_locked, "this storage does not hold the lock"},
    {storage_errc::lock_lost, "the lock was taken over by another holder while held"},
    {storage_errc::corrupt_archive, "the backup archive is corrupt or truncated"},
}};

class storage_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.acme.storage"; }
  std::string message(int v) const override {
    for (const auto& e : storage_table) {
      if (static_cast<int>(e.code) == v) return std::string(e.message);
    }
    return "unknown moat.acme.storage error";
  }
  std::error_condition default_error_condition(int v) const noexcept override {
    switch (static_cast<storage_errc>(v)) {
      case storage_errc::not_found:
        return std::errc::no_such_file_or_directory;
      case storage_errc::invalid_key:
        return std::errc::invalid_argument;
      case storage_errc::io_failed:
        return std::errc::io_error;
      case storage_errc::no_space:
        return std::errc::no_space_on_device;
      case storage_errc::too_large:
        return std::errc::file_too_large;
      case storage_errc::permission_denied:
        return std::errc::permission_denied;
      case storage_errc::lock_timeout:
        return std::errc::timed_out;
      case storage_errc::cancelled:
        return std::errc::operation_canceled;
      case storage_errc::corrupt_archive:
        return std::errc::bad_message;
      default:
        return {v, *this};
    }
  }
};

}  // namespace

const std::error_category& storage_category() noexcept {
  static const storage_category_impl instance;
  return instance;
}

std::string validate_key(std::string_view key) {
  constexpr std::size_t max_key = 1024;
  constexpr std::size_t max_segment = 255;
  if (key.empty()) return "empty key";
  if (key.size() > max_key) return "longer than 1024 bytes";
  if (key.front() == '/') return "absolute (starts with '/')";
  std::size_t start = 0;
  while (true) {
    const std::size_t end = key.find('/', start);
    const std::string_view seg =
        key.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (seg.empty()) return "empty segment (a trailing '/' or '//')";
    if (seg.size() > max_segment) return "a segment longer than 255 bytes";
    if (seg.front() == '.') {
      return "segment '" + std::string(seg) + "' starts with '.' (reserved for the storage)";
    }
    for (const char c : seg) {
      const auto u = static_cast<unsigned char>(c);
      if (u == 0) return "contains a NUL byte";
      if (u < 0x20 || u == 0x7f) return "contains a control character";
      if (c == '\\') return "contains a '\\'";
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return {};
}

boost::asio::awaitable<result<void>> with_lock(storage& s, std::string name,
                                               std::chrono::milliseconds timeout,
                                               std::function<boost::asio::awaitable<void>()> body) {
  auto locked = co_await s.lock(name, timeout);
  if (!locked) co_return locked.error();
  std::exception_ptr failure;
  try {
    co_await body();
  } catch (...) {
    failure = std::current_exception();
  }
  auto unlocked = co_await s.unlock(std::move(name));
  if (failure) std::rethrow_exception(failure);
  co_return unlocked;
}

}  // namespace moat::acme
