// Backup and restore of an acme::storage as a ustar archive (the format: ustar.cpp).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <moat/acme/storage_backup.hpp>
#include <optional>

#include "acme/storage_fs_impl.hpp"
#include "acme/ustar.hpp"

namespace moat::acme {

namespace {

std::string archive_context(std::string_view op, const std::filesystem::path& p) {
  return std::string(op) + " '" + p.string() + "'";
}

}  // namespace

boost::asio::awaitable<result<std::size_t>> backup(storage& s, std::filesystem::path archive) {
  const std::string context = archive_context("backup", archive);
  auto keys = co_await s.list("", true);
  if (!keys) co_return error(keys.error().code(), context, keys.error().message());
  std::vector<ustar::entry> entries;
  entries.reserve(keys->size());
  for (const auto& key : *keys) {
    auto value = co_await s.load(key);
    if (!value && value.error().code() == storage_errc::not_found) continue;  // removed since
    if (!value) co_return error(value.error().code(), context, value.error().message());
    ustar::entry e;
    e.name = key;
    e.data = std::move(*value);
    if (auto info = co_await s.stat(key)) {
      e.mtime = std::chrono::duration_cast<std::chrono::seconds>(info->modified.time_since_epoch())
                    .count();
    }
    entries.push_back(std::move(e));
  }
  const std::string bytes = ustar::write(entries);
  if (auto f = moat::detail::write_file_atomically(archive, bytes, 0600)) {
    co_return storage_fs::failure(context, *f);
  }
  co_return entries.size();
}

boost::asio::awaitable<result<std::size_t>> restore(std::filesystem::path archive, storage& s) {
  const std::string context = archive_context("restore", archive);
  std::string bytes;
  {
    const int fd = ::open(archive.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      if (e == ENOENT) co_return error(storage_errc::not_found, context, "no such file");
      co_return storage_fs::errno_failure(context, "open", e);
    }
    char buf[65536];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int e = errno;
        ::close(fd);
        co_return storage_fs::errno_failure(context, "read", e);
      }
      if (n == 0) break;
      bytes.append(buf, static_cast<std::size_t>(n));
      if (bytes.size() > (1ULL << 30)) {
        ::close(fd);
        co_return error(storage_errc::too_large, context, "larger than 1 GiB");
      }
    }
    ::close(fd);
  }
  ustar::parsed p = ustar::read(bytes);
  if (!p.error.empty()) co_return error(storage_errc::corrupt_archive, context, p.error);
  // Previous values, to put back if a store fails midway.
  std::vector<std::pair<std::string, std::optional<std::string>>> undo;
  std::optional<error> failed;
  for (auto& e : p.entries) {
    auto old = co_await s.load(e.name);
    if (!old && old.error().code() != storage_errc::not_found) {
      failed = old.error();
      break;
    }
    undo.emplace_back(e.name, old ? std::optional<std::string>(std::move(*old)) : std::nullopt);
    auto stored = co_await s.store(e.name, std::move(e.data));
    if (!stored) {
      failed = stored.error();
      break;
    }
  }
  if (failed) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      if (it->second) {
        (void)co_await s.store(it->first, std::move(*it->second));
      } else {
        (void)co_await s.remove(it->first);
      }
    }
    co_return error(failed->code(), context, failed->message() + " (restored nothing)");
  }
  co_return p.entries.size();
}

}  // namespace moat::acme
