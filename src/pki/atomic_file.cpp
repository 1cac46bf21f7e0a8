#include <moat/detail/atomic_file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace moat::detail {

namespace {

constexpr std::string_view temporary_marker = ".tmp-";

std::error_code last_error() noexcept {
  return {errno, std::generic_category()};
}

std::string in_quotes(const std::filesystem::path& p) {
  return "'" + p.string() + "'";
}

}  // namespace

bool is_temporary_name(std::string_view file_name) noexcept {
  if (!file_name.starts_with('.')) return false;
  const std::size_t at = file_name.rfind(temporary_marker);
  return at != std::string_view::npos && at > 0 &&
         file_name.size() == at + temporary_marker.size() + 6;
}

std::optional<file_failure> create_temporary_file(const std::filesystem::path& dir,
                                                  std::string_view target_name,
                                                  std::string_view contents, unsigned mode,
                                                  temporary_file& out) {
  std::string tmp =
      (dir / ("." + std::string(target_name) + std::string(temporary_marker) + "XXXXXX")).string();
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // O_CREAT | O_EXCL, a unique name
  if (fd < 0) {
    return file_failure{last_error(), "create a temporary file in " + in_quotes(dir)};
  }
  auto abandon = [&](std::string step) {
    const std::error_code ec = last_error();
    ::close(fd);
    ::unlink(tmp.c_str());
    return file_failure{ec, std::move(step) + " " + in_quotes(tmp)};
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return abandon("chmod");
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return abandon("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return abandon("fsync");
  out.path = std::move(tmp);
  out.fd = fd;
  return std::nullopt;
}

std::optional<file_failure> sync_directory(const std::filesystem::path& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return file_failure{last_error(), "open directory " + in_quotes(dir)};
  std::optional<file_failure> out;
  if (::fsync(dfd) != 0 && errno != EINVAL) {  // EINVAL: the file system cannot sync one
    out = file_failure{last_error(), "fsync directory " + in_quotes(dir)};
  }
  ::close(dfd);
  return out;
}

std::optional<file_failure> write_file_atomically(const std::filesystem::path& path,
                                                  std::string_view contents, unsigned mode) {
  const std::string name = path.filename().string();
  if (name.empty() || name == "." || name == "..") {
    return file_failure{std::make_error_code(std::errc::invalid_argument),
                        "write " + in_quotes(path) + ": not a file name"};
  }
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  temporary_file tmp;
  if (auto f = create_temporary_file(dir, name, contents, mode, tmp)) return f;
  if (::close(tmp.fd) != 0) {  // NFS may report a failed write only here
    const std::error_code ec = last_error();
    ::unlink(tmp.path.c_str());
    return file_failure{ec, "close " + in_quotes(tmp.path)};
  }
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) {
    const std::error_code ec = last_error();
    ::unlink(tmp.path.c_str());
    return file_failure{ec, "rename " + in_quotes(tmp.path) + " to " + in_quotes(path)};
  }
  if (auto f = sync_directory(dir)) {
    f->renamed = true;
    return f;
  }
  return std::nullopt;
}

}  // namespace moat::detail
