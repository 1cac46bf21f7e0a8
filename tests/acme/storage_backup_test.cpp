// Backup and restore of an acme::storage: the ustar archive round trip, tar's view of it,
// and corrupt or truncated archives refused with nothing written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <moat/acme/file_storage.hpp>
#include <moat/acme/storage_backup.hpp>

#include "acme/ustar.hpp"
#include "support/support.hpp"

namespace {

namespace acme = moat::acme;
namespace net = boost::asio;
namespace fs = std::filesystem;
using moat::test::run;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class AcmeStorageBackup : public ::testing::Test {
 protected:
  acme::file_storage_options options(const std::string& name) const {
    acme::file_storage_options o;
    o.root = dir_.path() / name;
    return o;
  }
  template <class T>
  T go(net::awaitable<T> aw) {
    return run(io_, std::move(aw));
  }
  // Restoring `bytes` into a fresh storage: refused as corrupt, with nothing written.
  void expect_refused(const std::string& bytes, const std::string& why) {
    const fs::path archive = dir_.path() / "bad.tar";
    moat::test::write_file(archive, bytes);
    acme::file_storage target(io_.get_executor(), options("refused"));
    auto r = go(acme::restore(archive, target));
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code(), acme::storage_errc::corrupt_archive) << why;
    EXPECT_THAT(r.error().message(), HasSubstr(why));
    EXPECT_THAT(go(target.list("", true)).value(), IsEmpty()) << why;
  }

  net::io_context io_;
  moat::test::temp_dir dir_;
};

std::string long_key() {
  std::string k = "certificates";
  while (k.size() < 300) k += "/abcdefghijklmnopqrstuvwxyz0123456789";
  return k + "/leaf.crt";
}

TEST_F(AcmeStorageBackup, ABackupHoldsEveryKeyButNoLockOrTemporaryAndRestoresThemAll) {
  acme::file_storage source(io_.get_executor(), options("source"));
  const std::string binary("\0\x01\xff binary\n", 11);
  const std::string split_key = std::string(120, 'p') + "/" + std::string(60, 'n');
  const std::vector<std::pair<std::string, std::string>> entries = {
      {"account.json", "{\"kid\":\"x\"}"},
      {"certificates/ca/example.com/example.com.crt", std::string(5000, 'c')},
      {"certificates/ca/example.com/example.com.key", binary},
      {"empty", ""},
      {split_key, "split into ustar's prefix and name"},
      {long_key(), "needs a pax header"},
  };
  for (const auto& [k, v] : entries) ASSERT_TRUE(go(source.store(k, v))) << k;
  ASSERT_TRUE(go(source.lock("certificates/ca/example.com", std::chrono::milliseconds(100))));
  moat::test::write_file(source.root() / "certificates/.x.tmp-ABCDEF", "partial");

  const fs::path archive = dir_.path() / "backups" / "storage.tar";
  fs::create_directories(archive.parent_path());
  auto n = go(acme::backup(source, archive));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, entries.size());
  struct ::stat st {};
  ASSERT_EQ(::stat(archive.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777U, 0600U);
  EXPECT_EQ(st.st_size % 512, 0);

  acme::file_storage target(io_.get_executor(), options("target"));
  auto restored = go(acme::restore(archive, target));
  ASSERT_TRUE(restored) << restored.error().message();
  EXPECT_EQ(*restored, entries.size());
  EXPECT_EQ(go(target.list("", true)).value(), go(source.list("", true)).value());
  for (const auto& [k, v] : entries) EXPECT_EQ(go(target.load(k)).value(), v) << k;
  EXPECT_FALSE(fs::exists(target.root() / ".locks"));
  ASSERT_TRUE(go(source.unlock("certificates/ca/example.com")));
}

TEST_F(AcmeStorageBackup, TarListsTheArchiveWithMode0600AndExtractsTheSameBytes) {
  if (!moat::test::have_program("tar")) GTEST_SKIP() << "tar is not installed";
  acme::file_storage source(io_.get_executor(), options("source"));
  ASSERT_TRUE(go(source.store("certs/a.crt", "A certificate\n")));
  ASSERT_TRUE(go(source.store("certs/a.key", "A key\n")));
  ASSERT_TRUE(go(source.store(long_key(), "long\n")));
  const fs::path archive = dir_.path() / "storage.tar";
  ASSERT_TRUE(go(acme::backup(source, archive)));

  moat::test::child_process list({"tar", "-tvf", archive.string()});
  ASSERT_EQ(list.wait(), 0) << list.output();
  const std::string out = list.output();
  EXPECT_THAT(out, HasSubstr("certs/a.crt"));
  EXPECT_THAT(out, HasSubstr("certs/a.key"));
  EXPECT_THAT(out, HasSubstr("leaf.crt"));
  std::istringstream lines(out);
  int rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    ++rows;
    EXPECT_TRUE(line.starts_with("-rw------- ")) << line;
  }
  EXPECT_EQ(rows, 3);

  const fs::path out_dir = dir_.path() / "extracted";
  fs::create_directories(out_dir);
  moat::test::child_process extract({"tar", "-xf", archive.string(), "-C", out_dir.string()});
  ASSERT_EQ(extract.wait(), 0) << extract.output();
  EXPECT_EQ(moat::test::read_file(out_dir / "certs/a.crt"), "A certificate\n");
  EXPECT_EQ(moat::test::read_file(out_dir / long_key()), "long\n");
}

TEST_F(AcmeStorageBackup, AnArchiveWrittenByTarIsRestored) {
  if (!moat::test::have_program("tar")) GTEST_SKIP() << "tar is not installed";
  const fs::path src = dir_.path() / "plain";
  fs::create_directories(src / "certs");
  moat::test::write_file(src / "certs/x.pem", "from tar\n");
  const fs::path archive = dir_.path() / "by-tar.tar";
  moat::test::child_process make(
      {"tar", "--format=ustar", "-cf", archive.string(), "-C", src.string(), "certs"});
  ASSERT_EQ(make.wait(), 0) << make.output();
  acme::file_storage target(io_.get_executor(), options("target"));
  auto r = go(acme::restore(archive, target));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(go(target.load("certs/x.pem")).value(), "from tar\n");
}

TEST_F(AcmeStorageBackup, ACorruptOrTruncatedArchiveIsRefusedBeforeAnythingIsWritten) {
  const std::string good = acme::ustar::write(
      {{"a/one", std::string(700, '1'), 1}, {"a/two", "two", 2}, {long_key(), "three", 3}});
  ASSERT_TRUE(acme::ustar::read(good).error.empty());

  std::string flipped = good;
  flipped[600] ^= 0x01;  // inside a/one's data: not detectable by tar's checksums...
  EXPECT_TRUE(acme::ustar::read(flipped).error.empty());
  flipped = good;
  flipped[10] ^= 0x01;  // ...but a header byte is
  expect_refused(flipped, "entry 1 (header at byte 0): bad header checksum");

  // Cut anywhere: at each block boundary and inside blocks.
  for (std::size_t cut = 0; cut < good.size(); cut += 256) {
    expect_refused(good.substr(0, cut), "truncated");
  }
  expect_refused(good.substr(0, good.size() - 512), "one zero block");
  expect_refused(good + "junk", "truncated");
  std::string trailing = good;
  trailing.append(512, '\0');
  trailing[trailing.size() - 1] = 'x';
  expect_refused(trailing, "data after the end-of-archive blocks");
  expect_refused(std::string(1024, '\0') + std::string(512, 'x'),
                 "data after the end-of-archive blocks");
  expect_refused(std::string(2048, 'x'), "bad header checksum");

  // Names that are not storage keys, duplicates, links.
  expect_refused(acme::ustar::write({{"../escape", "x", 0}}), "is not a storage key");
  expect_refused(acme::ustar::write({{"/etc/cron.d/x", "x", 0}}), "is not a storage key");
  expect_refused(acme::ustar::write({{"a/.locks", "x", 0}}), "is not a storage key");
  expect_refused(acme::ustar::write({{"dup", "1", 0}, {"dup", "2", 0}}), "appears twice");
  std::string symlink = acme::ustar::write({{"link", "", 0}});
  symlink[156] = '2';
  // Recompute the checksum so that only the type is wrong.
  unsigned sum = 0;
  for (std::size_t i = 0; i < 512; ++i) {
    sum += (i >= 148 && i < 156) ? 0x20U : static_cast<unsigned char>(symlink[i]);
  }
  char field[8];
  std::snprintf(field, sizeof field, "%06o", sum);
  std::memcpy(&symlink[148], field, 7);
  expect_refused(symlink, "entry type '2' is not supported");

  // A missing archive is not_found, naming it.
  acme::file_storage target(io_.get_executor(), options("t"));
  auto missing = go(acme::restore(dir_.path() / "nope.tar", target));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), acme::storage_errc::not_found);
  EXPECT_THAT(missing.error().message(), HasSubstr("nope.tar"));
}

TEST_F(AcmeStorageBackup, ARestoreThatFailsMidwayPutsBackWhatItOverwrote) {
  auto o = options("target");
  o.max_value_size = 100;
  acme::file_storage target(io_.get_executor(), o);
  ASSERT_TRUE(go(target.store("a/one", "previous")));
  const fs::path archive = dir_.path() / "x.tar";
  moat::test::write_file(archive, acme::ustar::write({{"a/one", "new one", 0},
                                                      {"a/new", "new", 0},
                                                      {"a/three", std::string(500, 'x'), 0}}));
  auto r = go(acme::restore(archive, target));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::storage_errc::too_large);
  EXPECT_THAT(r.error().message(), HasSubstr("restored nothing"));
  EXPECT_EQ(go(target.load("a/one")).value(), "previous");
  EXPECT_THAT(go(target.list("", true)).value(), ElementsAre("a/one"));
}

TEST_F(AcmeStorageBackup, ABackupIntoADirectoryThatCannotBeWrittenFailsNamingTheArchive) {
  acme::file_storage source(io_.get_executor(), options("source"));
  ASSERT_TRUE(go(source.store("k", "v")));
  auto r = go(acme::backup(source, dir_.path() / "missing-dir" / "x.tar"));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("backup '"));
  EXPECT_THAT(r.error().message(), HasSubstr("missing-dir"));
}

}  // namespace
