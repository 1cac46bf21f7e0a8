// The CA's root and intermediate: created once in the data directory, then loaded and
// checked on every start.
#include "acme/ca_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <moat/error.hpp>
#include <moat/pki/builder.hpp>
#include <moat/pki/digest.hpp>
#include <moat/pki/load.hpp>

namespace moat::acme::detail {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void bad_file(const fs::path& p, pki::errc code, const std::string& why) {
  throw moat::config_error("CA file '" + p.string() + "'", code, why);
}

pki::certificate load_one_certificate(const fs::path& p) {
  const auto certs = pki::load_certificates(p, "CA file");
  if (certs.size() != 1) bad_file(p, pki::errc::malformed, "expected exactly one certificate");
  return certs.front();
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view contents, unsigned mode) {
  const auto fail = [&](const std::string& why) {
    throw moat::config_error("file '" + path.string() + "'", pki::errc::write_failed, why);
  };
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmp = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot create a temporary file: ") + std::strerror(errno));
  const auto abandon = [&](const char* what) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(std::string(what) + ": " + std::strerror(e));
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) abandon("chmod");
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) abandon("fsync");
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail(std::string("rename: ") + std::strerror(e));
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

ca_keys load_or_create_keys(const fs::path& dir, sys_time now) {
  const fs::path files[4] = {dir / "root.key", dir / "root.pem", dir / "intermediate.key",
                             dir / "intermediate.pem"};
  int present = 0;
  for (const auto& f : files) present += fs::exists(f) ? 1 : 0;
  ca_keys k;
  if (present == 0) {
    const auto id = pki::random_bytes(4);
    static constexpr char hex[] = "0123456789abcdef";
    std::string suffix;
    for (auto b : id) {
      suffix += hex[b >> 4U];
      suffix += hex[b & 15U];
    }
    k.root_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
    k.root = pki::certificate_builder{.common_name = "moat CA root " + suffix,
                                      .organisation = "moat",
                                      .not_before = now - std::chrono::hours(1),
                                      .validity = std::chrono::days(3653),
                                      .is_ca = true,
                                      .path_len_constraint = 1}
                 .self_sign(k.root_key);
    k.intermediate_key = pki::private_key::generate(pki::key_type::ecdsa_p256);
    k.intermediate = pki::certificate_builder{.common_name = "moat CA intermediate " + suffix,
                                              .organisation = "moat",
                                              .not_before = now - std::chrono::hours(1),
                                              .validity = std::chrono::days(1826),
                                              .is_ca = true,
                                              .path_len_constraint = 0}
                         .sign(k.intermediate_key, k.root, k.root_key);
    // Certificates first, keys last: a crash in between leaves an incomplete set that the
    // next start refuses (naming the missing file) instead of overwriting.
    write_file_atomic(files[1], k.root.pem(), 0644);
    write_file_atomic(files[3], k.intermediate.pem(), 0644);
    k.intermediate_key.write_file(files[2]);
    k.root_key.write_file(files[0]);
    return k;
  }
  for (const auto& f : files) {
    if (!fs::exists(f)) {
      bad_file(f, pki::errc::file_missing,
               "the CA's files are incomplete (root.key, root.pem, intermediate.key and "
               "intermediate.pem belong together); restore it or empty the directory");
    }
  }
  k.root_key = pki::load_private_key(files[0], {}, "CA file");
  k.root = load_one_certificate(files[1]);
  k.intermediate_key = pki::load_private_key(files[2], {}, "CA file");
  k.intermediate = load_one_certificate(files[3]);
  if (k.root.public_key_der() != k.root_key.public_key_der()) {
    bad_file(files[0], pki::errc::key_mismatch, "it is not the key of root.pem");
  }
  if (!k.root.is_ca() || !k.root.is_self_signed()) {
    bad_file(files[1], pki::errc::malformed, "not a self-signed CA certificate");
  }
  if (k.intermediate.public_key_der() != k.intermediate_key.public_key_der()) {
    bad_file(files[2], pki::errc::key_mismatch, "it is not the key of intermediate.pem");
  }
  if (!k.intermediate.is_ca() || !k.intermediate.is_issued_by(k.root)) {
    bad_file(files[3], pki::errc::chain_out_of_order, "not a CA certificate signed by root.pem");
  }
  return k;
}

}  // namespace moat::acme::detail
