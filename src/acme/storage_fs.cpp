// acme::file_storage: values (load, store, remove, exists, list, stat) and construction.
// Locks are in storage_fs_lock.cpp.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <moat/error.hpp>
#include <moat/log.hpp>

#include "acme/storage_fs_impl.hpp"

namespace moat::acme {

namespace storage_fs {

storage_errc classify(std::error_code ec) noexcept {
  if (ec.category() != std::generic_category() && ec.category() != std::system_category()) {
    return storage_errc::io_failed;
  }
  switch (ec.value()) {
    case ENOSPC:
    case EDQUOT:
      return storage_errc::no_space;
    case EFBIG:
      return storage_errc::too_large;
    case EACCES:
    case EPERM:
    case EROFS:
      return storage_errc::permission_denied;
    default:
      return storage_errc::io_failed;
  }
}

error failure(const std::string& context, const moat::detail::file_failure& f) {
  std::string detail = f.step + ": " + f.code.message();
  if (f.renamed) detail += " (the new value is in place but may not survive a power loss)";
  return error(classify(f.code), context, std::move(detail));
}

error errno_failure(const std::string& context, const std::string& step, int e) {
  return failure(context, {std::error_code(e, std::generic_category()), step, false});
}

std::string context_of(std::string_view op, std::string_view key) {
  return std::string(op) + " '" + std::string(key) + "'";
}

std::optional<moat::detail::file_failure> make_directories(const std::filesystem::path& dir) {
  if (dir.empty()) return std::nullopt;
  struct ::stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return std::nullopt;
    return moat::detail::file_failure{std::make_error_code(std::errc::not_a_directory),
                                      "'" + dir.string() + "' is not a directory", false};
  }
  const std::filesystem::path parent = dir.parent_path();
  if (parent != dir) {
    if (auto f = make_directories(parent)) return f;
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return make_directories(dir);  // made meanwhile: check it
    return moat::detail::file_failure{std::error_code(errno, std::generic_category()),
                                      "create directory '" + dir.string() + "'", false};
  }
  return moat::detail::sync_directory(parent.empty() ? std::filesystem::path(".") : parent);
}

}  // namespace storage_fs

using namespace storage_fs;

namespace {

std::chrono::system_clock::time_point modified_time(const struct ::stat& st) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

bool is_internal(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  return name.empty() || name.front() == '.';
}

// True if a key below `dir` holds a value (a file whose path has no '.' name).
bool has_values(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (is_internal(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec)) return true;
  }
  return false;
}

std::optional<error> check_key(std::string_view op, std::string_view key, bool allow_empty) {
  if (allow_empty && key.empty()) return std::nullopt;
  std::string why = validate_key(key);
  if (why.empty()) return std::nullopt;
  std::string shown(key.substr(0, 100));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return error(storage_errc::invalid_key, context_of(op, shown), std::move(why));
}

}  // namespace

file_storage::impl::impl(boost::asio::any_io_executor e, file_storage_options o)
    : ex(std::move(e)), opts(std::move(o)), log(opts.logger ? opts.logger : default_logger()) {
  const std::string subject = "storage directory '" + opts.root.string() + "'";
  if (opts.root.empty()) {
    throw config_error("file_storage root", std::make_error_code(std::errc::invalid_argument),
                       "no directory given");
  }
  using ms = std::chrono::milliseconds;
  if (opts.stale_after <= ms(0) || opts.heartbeat <= ms(0) || opts.poll_interval <= ms(0) ||
      opts.temporary_max_age < ms(0)) {
    throw config_error(subject, std::make_error_code(std::errc::invalid_argument),
                       "stale_after, heartbeat and poll_interval must be positive");
  }
  root = std::filesystem::absolute(opts.root).lexically_normal();
  if (root.has_filename() == false && root != root.root_path()) root = root.parent_path();
  lock_dir = root / ".locks";
  if (auto f = make_directories(root)) {
    throw config_error(subject, f->code, f->step);
  }
  host = opts.host_name;
  if (host.empty()) {
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) host = buf;
    if (host.empty()) host = "localhost";
  }
  sweep_temporaries();
}

void file_storage::impl::sweep_temporaries() {
  const auto cutoff = std::chrono::system_clock::now() - opts.temporary_max_age;
  std::size_t removed = 0;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!moat::detail::is_temporary_name(name)) continue;
    struct ::stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (modified_time(st) > cutoff) continue;  // may be another writer's, in progress
    if (::unlink(it->path().c_str()) == 0) ++removed;
  }
  if (removed > 0) {
    log->info("acme storage: removed {} temporary file(s) left by an interrupted write in '{}'",
              removed, root.string());
  }
}

file_storage::file_storage(boost::asio::any_io_executor ex, file_storage_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(opts))) {}

file_storage::~file_storage() {
  impl_->release_all();
}

const std::filesystem::path& file_storage::root() const noexcept {
  return impl_->root;
}

std::filesystem::path file_storage::path_of(std::string_view key) const {
  return impl_->file_of(key);
}

boost::asio::awaitable<result<std::string>> file_storage::load(std::string key) {
  if (auto e = check_key("load", key, false)) co_return *e;
  const std::string context = context_of("load", key);
  const auto path = impl_->file_of(key);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) co_return error(storage_errc::not_found, context);
    co_return errno_failure(context, "open '" + path.string() + "'", e);
  }
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    co_return errno_failure(context, "stat '" + path.string() + "'", e);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    co_return error(storage_errc::not_found, context, "a prefix of other keys, not a value");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    co_return error(storage_errc::io_failed, context,
                    "'" + path.string() + "' is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > impl_->opts.max_value_size) {
    ::close(fd);
    co_return error(storage_errc::too_large, context,
                    std::to_string(st.st_size) + " bytes, the limit is " +
                        std::to_string(impl_->opts.max_value_size));
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      co_return errno_failure(context, "read '" + path.string() + "'", e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > impl_->opts.max_value_size) {
      ::close(fd);
      co_return error(storage_errc::too_large, context, "the file grew past the limit");
    }
  }
  ::close(fd);
  co_return out;
}

boost::asio::awaitable<result<void>> file_storage::store(std::string key, std::string value) {
  if (auto e = check_key("store", key, false)) co_return *e;
  const std::string context = context_of("store", key);
  if (value.size() > impl_->opts.max_value_size) {
    co_return error(storage_errc::too_large, context,
                    std::to_string(value.size()) + " bytes, the limit is " +
                        std::to_string(impl_->opts.max_value_size));
  }
  const auto path = impl_->file_of(key);
  // A concurrent remove() may prune the directory between its creation and the temporary
  // file's: make it again.
  for (int attempt = 0;; ++attempt) {
    if (auto f = make_directories(path.parent_path())) {
      if (f->code == std::errc::not_a_directory) {
        co_return error(storage_errc::invalid_key, context,
                        "a prefix of it holds a value (a key cannot be both)");
      }
      co_return failure(context, *f);
    }
    struct ::stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      co_return error(storage_errc::invalid_key, context,
                      "it is a prefix of other keys (a key cannot be both)");
    }
    auto f = moat::detail::write_file_atomically(path, value, 0600);
    if (!f) co_return result<void>{};
    if (f->code == std::errc::no_such_file_or_directory && !f->renamed && attempt < 3) continue;
    co_return failure(context, *f);
  }
}

boost::asio::awaitable<result<void>> file_storage::remove(std::string key) {
  if (auto e = check_key("remove", key, false)) co_return *e;
  const std::string context = context_of("remove", key);
  const auto path = impl_->file_of(key);
  struct ::stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) co_return result<void>{};
    co_return errno_failure(context, "stat '" + path.string() + "'", e);
  }
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) co_return failure(context, {ec, "remove '" + path.string() + "'", false});
  } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    co_return errno_failure(context, "remove '" + path.string() + "'", errno);
  }
  // Empty directories left behind go too (a prefix exists only while keys are below it).
  auto dir = path.parent_path();
  while (dir != impl_->root && dir.native().size() > impl_->root.native().size()) {
    if (::rmdir(dir.c_str()) != 0) break;
    dir = dir.parent_path();
  }
  if (auto f = moat::detail::sync_directory(dir)) co_return failure(context, *f);
  co_return result<void>{};
}

boost::asio::awaitable<result<bool>> file_storage::exists(std::string key) {
  if (auto e = check_key("exists", key, false)) co_return *e;
  const auto path = impl_->file_of(key);
  struct ::stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) co_return false;
    co_return errno_failure(context_of("exists", key), "stat '" + path.string() + "'", e);
  }
  if (S_ISREG(st.st_mode)) co_return true;
  co_return S_ISDIR(st.st_mode) && has_values(path);
}

boost::asio::awaitable<result<std::vector<std::string>>> file_storage::list(std::string prefix,
                                                                            bool recursive) {
  if (auto e = check_key("list", prefix, true)) co_return *e;
  const std::string context = context_of("list", prefix);
  const auto dir = prefix.empty() ? impl_->root : impl_->file_of(prefix);
  std::vector<std::string> out;
  struct ::stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) co_return out;
  const std::string base = prefix.empty() ? std::string() : prefix + "/";
  std::error_code ec;
  if (recursive) {
    std::filesystem::recursive_directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (is_internal(it->path())) {
        std::error_code ignored;
        if (it->is_directory(ignored)) it.disable_recursion_pending();
        continue;
      }
      std::error_code ignored;
      if (!it->is_regular_file(ignored)) continue;
      out.push_back(base + it->path().lexically_relative(dir).generic_string());
    }
  } else {
    std::filesystem::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (is_internal(it->path())) continue;
      std::error_code ignored;
      if (it->is_regular_file(ignored) || (it->is_directory(ignored) && has_values(it->path()))) {
        out.push_back(base + it->path().filename().string());
      }
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    co_return failure(context, {ec, "read directory '" + dir.string() + "'", false});
  }
  std::sort(out.begin(), out.end());
  co_return out;
}

boost::asio::awaitable<result<key_info>> file_storage::stat(std::string key) {
  if (auto e = check_key("stat", key, false)) co_return *e;
  const std::string context = context_of("stat", key);
  const auto path = impl_->file_of(key);
  struct ::stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) co_return error(storage_errc::not_found, context);
    co_return errno_failure(context, "stat '" + path.string() + "'", e);
  }
  key_info info;
  info.key = key;
  info.modified = modified_time(st);
  if (S_ISREG(st.st_mode)) {
    info.size = static_cast<std::uint64_t>(st.st_size);
    co_return info;
  }
  if (S_ISDIR(st.st_mode) && has_values(path)) {
    info.terminal = false;
    co_return info;
  }
  co_return error(storage_errc::not_found, context);
}

}  // namespace moat::acme
