// acme::storage's contract on acme::file_storage, in one process: keys, round trips, list,
// stat, remove, errors, locks between coroutines and storage objects, leftovers of crashes,
// a real full disk (a small tmpfs, when this process may mount one).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <moat/acme/file_storage.hpp>
#include <moat/error.hpp>

#include "acme/storage_values.hpp"
#include "support/support.hpp"

namespace {

namespace acme = moat::acme;
namespace net = boost::asio;
namespace fs = std::filesystem;
using moat::test::run;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

unsigned mode_of(const fs::path& p) {
  struct ::stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777U;
}

// Every file under `dir` whose name marks it as a temporary file.
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const auto n = e.path().filename().string();
    if (n.starts_with('.') && n.find(".tmp-") != std::string::npos) out.push_back(n);
  }
  return out;
}

class AcmeStorage : public ::testing::Test {
 protected:
  acme::file_storage_options options() const {
    acme::file_storage_options o;
    o.root = dir_.path() / "store";
    o.stale_after = milliseconds(800);
    o.heartbeat = milliseconds(100);
    o.poll_interval = milliseconds(10);
    return o;
  }
  template <class T>
  T go(net::awaitable<T> aw) {
    return run(io_, std::move(aw));
  }

  net::io_context io_;
  moat::test::temp_dir dir_;
};

TEST_F(AcmeStorage, ValidKeysAreAcceptedAndEveryKindOfBadKeyIsRefusedWithAReason) {
  for (const char* ok : {"a", "a/b/c", "certificates/acme.example/example.com.crt", "*.example.com",
                         "2001:db8::1", "x y"}) {
    EXPECT_EQ(acme::validate_key(ok), "") << ok;
  }
  const std::string long_segment(256, 'a');
  std::string long_key;
  while (long_key.size() <= 1024) long_key += "abcdefgh/";
  long_key += "x";
  for (const std::string& bad :
       {std::string(), std::string("/etc/passwd"), std::string("a//b"), std::string("a/"),
        std::string(".."), std::string("a/../b"), std::string("a/./b"), std::string(".hidden"),
        std::string("a\\b"), std::string("a\nb"), std::string("a\0b", 3), long_segment, long_key}) {
    EXPECT_NE(acme::validate_key(bad), "") << bad;
  }
  acme::file_storage s(io_.get_executor(), options());
  for (const std::string bad : {"../outside", "/abs", "a//b", ".locks/x"}) {
    auto r = go(s.store(bad, "x"));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), acme::storage_errc::invalid_key);
    EXPECT_EQ(r.error().code(), std::errc::invalid_argument);
    EXPECT_FALSE(go(s.load(bad)));
    EXPECT_FALSE(go(s.remove(bad)));
    EXPECT_FALSE(go(s.lock(bad, milliseconds(10))));
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "outside"));
}

TEST_F(AcmeStorage, EveryErrorCodeHasItsOwnMessageAndAPortableCondition) {
  std::set<std::string> messages;
  for (int v = 1; v <= static_cast<int>(acme::storage_errc::corrupt_archive); ++v) {
    const std::error_code ec(v, acme::storage_category());
    EXPECT_THAT(ec.message(), Not(HasSubstr("unknown"))) << v;
    messages.insert(ec.message());
  }
  EXPECT_EQ(messages.size(), static_cast<std::size_t>(acme::storage_errc::corrupt_archive));
  EXPECT_STREQ(acme::storage_category().name(), "moat.acme.storage");
  EXPECT_EQ(make_error_code(acme::storage_errc::not_found), std::errc::no_such_file_or_directory);
  EXPECT_EQ(make_error_code(acme::storage_errc::no_space), std::errc::no_space_on_device);
  EXPECT_EQ(make_error_code(acme::storage_errc::too_large), std::errc::file_too_large);
  EXPECT_EQ(make_error_code(acme::storage_errc::lock_timeout), std::errc::timed_out);
  EXPECT_EQ(make_error_code(acme::storage_errc::cancelled), std::errc::operation_canceled);
  EXPECT_EQ(make_error_code(acme::storage_errc::corrupt_archive), std::errc::bad_message);
  EXPECT_EQ(std::error_code(99, acme::storage_category()).message(),
            "unknown moat.acme.storage error");
  // Retrying helps a full disk or a busy lock, not a bad key.
  EXPECT_TRUE(acme::error(acme::storage_errc::no_space, "store").retryable());
  EXPECT_TRUE(acme::error(acme::storage_errc::lock_timeout, "lock").retryable());
  EXPECT_FALSE(acme::error(acme::storage_errc::invalid_key, "store").retryable());
  EXPECT_FALSE(acme::error(acme::storage_errc::not_found, "load").retryable());
}

TEST_F(AcmeStorage, AValueStoredIsLoadedBackWholeAndReplacedByTheNextStore) {
  acme::file_storage s(io_.get_executor(), options());
  std::string binary(70000, '\0');
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(go(s.store("a/b/c.bin", binary)));
  EXPECT_EQ(go(s.load("a/b/c.bin")).value(), binary);
  ASSERT_TRUE(go(s.store("a/b/c.bin", "second")));
  EXPECT_EQ(go(s.load("a/b/c.bin")).value(), "second");
  ASSERT_TRUE(go(s.store("empty", "")));
  EXPECT_EQ(go(s.load("empty")).value(), "");
  auto missing = go(s.load("a/nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), acme::storage_errc::not_found);
  EXPECT_EQ(missing.error().message(), "load 'a/nope': no value is stored under this key");
  auto prefix = go(s.load("a/b"));
  ASSERT_FALSE(prefix);
  EXPECT_EQ(prefix.error().code(), acme::storage_errc::not_found);
}

TEST_F(AcmeStorage, TheDirectoryIs0700AndEveryFile0600) {
  ::umask(022);
  acme::file_storage s(io_.get_executor(), options());
  ASSERT_TRUE(go(s.store("certs/x/key.pem", "secret")));
  EXPECT_EQ(mode_of(s.root()), 0700U);
  EXPECT_EQ(mode_of(s.root() / "certs"), 0700U);
  EXPECT_EQ(mode_of(s.root() / "certs/x"), 0700U);
  EXPECT_EQ(mode_of(s.path_of("certs/x/key.pem")), 0600U);
  ASSERT_TRUE(go(s.lock("certs/x", milliseconds(100))));
  EXPECT_EQ(mode_of(s.root() / ".locks/certs/x.lock"), 0600U);
  ASSERT_TRUE(go(s.unlock("certs/x")));
}

TEST_F(AcmeStorage, ListGivesChildrenOrEveryKeyBelowAPrefixSortedAndNeverInternalFiles) {
  acme::file_storage s(io_.get_executor(), options());
  for (const char* k :
       {"certs/b/b.crt", "certs/b/b.key", "certs/a/a.crt", "account.json", "certsx/other"}) {
    ASSERT_TRUE(go(s.store(k, k)));
  }
  ASSERT_TRUE(go(s.lock("certs/a", milliseconds(100))));
  moat::test::write_file(s.root() / "certs/a/.a.crt.tmp-ABCDEF", "partial");
  EXPECT_THAT(go(s.list("", false)).value(), ElementsAre("account.json", "certs", "certsx"));
  EXPECT_THAT(go(s.list("certs", false)).value(), ElementsAre("certs/a", "certs/b"));
  EXPECT_THAT(go(s.list("certs", true)).value(),
              ElementsAre("certs/a/a.crt", "certs/b/b.crt", "certs/b/b.key"));
  EXPECT_THAT(go(s.list("", true)).value(),
              ElementsAre("account.json", "certs/a/a.crt", "certs/b/b.crt", "certs/b/b.key",
                          "certsx/other"));
  EXPECT_THAT(go(s.list("nothing/here", true)).value(), IsEmpty());
  EXPECT_THAT(go(s.list("account.json", false)).value(), IsEmpty());
  EXPECT_FALSE(go(s.list("../x", true)));
  ASSERT_TRUE(go(s.unlock("certs/a")));
}

TEST_F(AcmeStorage, StatAndExistsTellValuesFromPrefixesAndRemoveTakesAWholePrefix) {
  acme::file_storage s(io_.get_executor(), options());
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(2);
  ASSERT_TRUE(go(s.store("d/e/f", "12345")));
  ASSERT_TRUE(go(s.store("d/g", "x")));
  auto info = go(s.stat("d/e/f")).value();
  EXPECT_EQ(info.key, "d/e/f");
  EXPECT_EQ(info.size, 5U);
  EXPECT_TRUE(info.terminal);
  EXPECT_GT(info.modified, before);
  EXPECT_LT(info.modified, std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(go(s.stat("d/e")).value().terminal);
  EXPECT_EQ(go(s.stat("d/zz")).error().code(), acme::storage_errc::not_found);
  EXPECT_TRUE(go(s.exists("d/e/f")).value());
  EXPECT_TRUE(go(s.exists("d")).value());
  EXPECT_FALSE(go(s.exists("d/zz")).value());
  // A key is a value or a prefix, never both.
  EXPECT_EQ(go(s.store("d/e", "x")).error().code(), acme::storage_errc::invalid_key);
  EXPECT_EQ(go(s.store("d/g/h", "x")).error().code(), acme::storage_errc::invalid_key);

  ASSERT_TRUE(go(s.remove("d/e/f")));
  EXPECT_FALSE(go(s.exists("d/e")).value());  // no key below it any more
  EXPECT_FALSE(fs::exists(s.root() / "d/e"));
  ASSERT_TRUE(go(s.remove("d/e/f")));  // removing what is gone succeeds
  ASSERT_TRUE(go(s.store("d/e/f", "again")));
  ASSERT_TRUE(go(s.remove("d")));
  EXPECT_THAT(go(s.list("", true)).value(), IsEmpty());
  EXPECT_FALSE(go(s.exists("d")).value());
}

TEST_F(AcmeStorage, AValueOverTheLimitIsRefusedBeforeAnythingIsWritten) {
  auto o = options();
  o.max_value_size = 1000;
  acme::file_storage s(io_.get_executor(), o);
  ASSERT_TRUE(go(s.store("k", "old")));
  auto r = go(s.store("k", std::string(1001, 'x')));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::storage_errc::too_large);
  EXPECT_THAT(r.error().message(), HasSubstr("1001 bytes, the limit is 1000"));
  EXPECT_EQ(go(s.load("k")).value(), "old");
  moat::test::write_file(s.path_of("big"), std::string(2000, 'y'));
  EXPECT_EQ(go(s.load("big")).error().code(), acme::storage_errc::too_large);
}

TEST_F(AcmeStorage, AWriteRefusedByTheSystemKeepsTheOldValueLeavesNoTemporaryAndSaysWhy) {
  // A directory the storage may not write: read-only by its mode, or -- for root, whom modes
  // do not stop -- a file system remounted read-only (EROFS).
  const fs::path mnt = dir_.path() / "ro";
  fs::create_directory(mnt);
  const bool as_root = ::geteuid() == 0;
  if (as_root && ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0) {
    GTEST_SKIP() << "root, and cannot mount a tmpfs here (" << std::strerror(errno) << ")";
  }
  struct unmount {
    fs::path p;
    bool on;
    ~unmount() {
      if (on) ::umount2(p.c_str(), MNT_DETACH);
    }
  } guard{mnt, as_root};
  auto o = options();
  o.root = mnt / "store";
  acme::file_storage s(io_.get_executor(), o);
  ASSERT_TRUE(go(s.store("k", "old")));
  if (as_root) {
    ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0)
        << std::strerror(errno);
  } else {
    fs::permissions(o.root, fs::perms::owner_read | fs::perms::owner_exec);
  }
  auto r = go(s.store("k", "new"));
  if (!as_root) fs::permissions(o.root, fs::perms::owner_all);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::storage_errc::permission_denied);
  EXPECT_THAT(r.error().message(), HasSubstr("store 'k'"));
  EXPECT_THAT(r.error().message(),
              HasSubstr(as_root ? "Read-only file system" : "Permission denied"));
  EXPECT_EQ(go(s.load("k")).value(), "old");
  EXPECT_THAT(temporaries(o.root), IsEmpty());
}

TEST_F(AcmeStorage, ARealFullDiskFailsWithNoSpaceKeepsTheOldValueAndLeavesNoTemporary) {
  const fs::path mnt = dir_.path() / "small";
  fs::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); the RLIMIT_FSIZE variant runs in storage_process_test";
  }
  struct unmount {
    fs::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{mnt};
  auto o = options();
  o.root = mnt / "store";
  acme::file_storage s(io_.get_executor(), o);
  const std::string old_value = moat::test::storage_value(1, 8 * 1024);
  ASSERT_TRUE(go(s.store("certs/site.pem", old_value)));
  auto r = go(s.store("certs/site.pem", moat::test::storage_value(2, 200 * 1024)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::storage_errc::no_space);
  EXPECT_THAT(r.error().message(), HasSubstr("store 'certs/site.pem'"));
  EXPECT_THAT(r.error().message(), HasSubstr("No space left on device"));
  EXPECT_EQ(go(s.load("certs/site.pem")).value(), old_value);
  EXPECT_THAT(temporaries(o.root), IsEmpty());
  // The failed write gave its space back: a value that fits is stored.
  ASSERT_TRUE(go(s.store("certs/site.pem", moat::test::storage_value(3, 8 * 1024))));
  EXPECT_EQ(go(s.load("certs/site.pem")).value(), moat::test::storage_value(3, 8 * 1024));
  // With the disk filled to the last block, a lock fails at once with the reason (its record
  // cannot be written) instead of waiting or spinning.
  {
    std::ofstream fill(mnt / "filler", std::ios::binary);
    const std::string chunk(4096, 'f');
    while (fill.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && fill.flush()) {
    }
  }
  auto l = go(s.lock("obtain/site", milliseconds(1000)));
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), acme::storage_errc::no_space);
  EXPECT_THAT(l.error().message(), HasSubstr("lock 'obtain/site'"));
  fs::remove(mnt / "filler");
  EXPECT_THAT(temporaries(o.root), IsEmpty());
  ASSERT_TRUE(go(s.lock("obtain/site", milliseconds(1000))));
  ASSERT_TRUE(go(s.unlock("obtain/site")));
}

TEST_F(AcmeStorage, TemporaryFilesOfACrashAreNeverSeenAndOldOnesAreSweptAtConstruction) {
  auto o = options();
  {
    acme::file_storage s(io_.get_executor(), o);
    ASSERT_TRUE(go(s.store("a/k", "value")));
  }
  const fs::path young = o.root / "a/.k.tmp-AAAAAA";
  const fs::path old = o.root / "a/.k.tmp-BBBBBB";
  moat::test::write_file(young, "half");
  moat::test::write_file(old, "half");
  const auto past = fs::last_write_time(old) - std::chrono::hours(1);
  fs::last_write_time(old, past);
  o.temporary_max_age = std::chrono::minutes(10);
  acme::file_storage s(io_.get_executor(), o);
  EXPECT_FALSE(fs::exists(old));
  EXPECT_TRUE(fs::exists(young));  // may be another process's write in progress
  EXPECT_THAT(go(s.list("", true)).value(), ElementsAre("a/k"));
  EXPECT_EQ(go(s.load("a/k")).value(), "value");
}

TEST_F(AcmeStorage, ADirectoryRemovedUnderAnOpenStorageIsMadeAgainByTheNextStoreOrLock) {
  acme::file_storage s(io_.get_executor(), options());
  ASSERT_TRUE(go(s.store("a/k", "v")));
  fs::remove_all(s.root());
  EXPECT_EQ(go(s.load("a/k")).error().code(), acme::storage_errc::not_found);
  EXPECT_THAT(go(s.list("", true)).value(), IsEmpty());
  ASSERT_TRUE(go(s.store("a/k", "again")));
  EXPECT_EQ(mode_of(s.root()), 0700U);
  EXPECT_EQ(go(s.load("a/k")).value(), "again");
  fs::remove_all(s.root());
  ASSERT_TRUE(go(s.lock("job", milliseconds(100))));
  ASSERT_TRUE(go(s.unlock("job")));
}

TEST_F(AcmeStorage, AStorageThatCannotCreateItsDirectoryThrowsAConfigErrorNamingIt) {
  moat::test::write_file(dir_.path() / "file", "x");
  auto o = options();
  o.root = dir_.path() / "file" / "store";
  try {
    acme::file_storage s(io_.get_executor(), o);
    FAIL() << "no exception";
  } catch (const moat::config_error& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir_.path() / "file").string()));
  }
  o = options();
  o.heartbeat = milliseconds(0);
  EXPECT_THROW(acme::file_storage(io_.get_executor(), o), moat::config_error);
}

TEST_F(AcmeStorage, ALockIsExclusiveBetweenCoroutinesAndStorageObjectsUntilUnlocked) {
  acme::file_storage a(io_.get_executor(), options());
  acme::file_storage b(io_.get_executor(), options());
  ASSERT_TRUE(go(a.lock("job", milliseconds(100))));
  const auto t0 = std::chrono::steady_clock::now();
  auto busy = go(b.lock("job", milliseconds(150)));
  ASSERT_FALSE(busy);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(150));
  EXPECT_EQ(busy.error().code(), acme::storage_errc::lock_timeout);
  EXPECT_THAT(busy.error().message(), HasSubstr("held by pid " + std::to_string(::getpid())));
  EXPECT_EQ(go(a.lock("job", milliseconds(50))).error().code(),
            acme::storage_errc::lock_timeout);          // not reentrant
  EXPECT_TRUE(go(b.lock("other", milliseconds(100))));  // names are independent

  // b waits; a releases; b gets it.
  auto waiter =
      net::co_spawn(io_, b.lock("job", moat::test::scaled(milliseconds(5000))), net::use_future);
  io_.run_for(milliseconds(50));
  EXPECT_NE(waiter.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  ASSERT_TRUE(go(a.unlock("job")));
  while (waiter.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io_.restart();
    io_.run_for(milliseconds(10));
  }
  EXPECT_TRUE(waiter.get());
  EXPECT_EQ(go(a.unlock("job")).error().code(), acme::storage_errc::not_locked);
  ASSERT_TRUE(go(b.unlock("job")));
  ASSERT_TRUE(go(b.unlock("other")));
  EXPECT_FALSE(fs::exists(a.root() / ".locks/job.lock"));
}

TEST_F(AcmeStorage, AWaitForALockEndsWhenItsCoroutineIsCancelled) {
  using namespace net::experimental::awaitable_operators;
  acme::file_storage a(io_.get_executor(), options());
  acme::file_storage b(io_.get_executor(), options());
  ASSERT_TRUE(go(a.lock("job", milliseconds(100))));
  auto race = [&]() -> net::awaitable<bool> {
    net::steady_timer t(co_await net::this_coro::executor, milliseconds(100));
    auto r = co_await (b.lock("job", std::chrono::hours(1)) || t.async_wait(net::use_awaitable));
    co_return r.index() == 1;
  };
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(go(race()));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, moat::test::scaled(milliseconds(3000)));
  ASSERT_TRUE(go(a.unlock("job")));
  // The cancelled waiter left nothing behind.
  EXPECT_THAT(temporaries(a.root()), IsEmpty());
  EXPECT_FALSE(fs::exists(a.root() / ".locks/job.lock"));
}

TEST_F(AcmeStorage, WithLockRunsTheBodyUnderTheLockAndReleasesItEvenWhenTheBodyThrows) {
  acme::file_storage s(io_.get_executor(), options());
  bool ran = false;
  auto ok = go(acme::with_lock(s, "job", milliseconds(100), [&]() -> net::awaitable<void> {
    ran = fs::exists(s.root() / ".locks/job.lock");
    co_return;
  }));
  EXPECT_TRUE(ok);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(fs::exists(s.root() / ".locks/job.lock"));
  EXPECT_THROW(go(acme::with_lock(s, "job", milliseconds(100),
                                  []() -> net::awaitable<void> {
                                    throw std::runtime_error("boom");
                                    co_return;
                                  })),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(s.root() / ".locks/job.lock"));
}

TEST_F(AcmeStorage, ACorruptLockFileIsStaleOnlyAfterTheStaleTime) {
  auto o = options();
  acme::file_storage s(io_.get_executor(), o);
  fs::create_directories(s.root() / ".locks");
  const fs::path lock = s.root() / ".locks/job.lock";
  for (const std::string garbage : {"", "{\"pid\": garb"}) {
    moat::test::write_file(lock, garbage);
    // Fresh: it may be a holder's file in the making (or a file system that lost its data
    // a moment ago): wait.
    EXPECT_EQ(go(s.lock("job", milliseconds(100))).error().code(),
              acme::storage_errc::lock_timeout);
    // Older than the stale time: taken over.
    fs::last_write_time(lock, fs::last_write_time(lock) - std::chrono::seconds(5));
    ASSERT_TRUE(go(s.lock("job", milliseconds(500))));
    ASSERT_TRUE(go(s.unlock("job")));
  }
}

TEST_F(AcmeStorage, ALockOfADeadProcessOnThisHostIsTakenOverAtOnce) {
  auto o = options();
  o.stale_after = std::chrono::hours(1);  // only the dead pid can make it stale
  acme::file_storage s(io_.get_executor(), o);
  fs::create_directories(s.root() / ".locks");
  // A pid that cannot exist, as a holder killed and reaped long ago would look.
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const auto now_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  moat::test::write_file(s.root() / ".locks/job.lock",
                         "{\"owner\":\"x\",\"pid\":2147483000,\"host\":\"" + std::string(host) +
                             "\",\"created_unix_ms\":" + std::to_string(now_ms) +
                             ",\"updated_unix_ms\":" + std::to_string(now_ms) + "}\n");
  ASSERT_TRUE(go(s.lock("job", milliseconds(500))));
  EXPECT_THAT(moat::test::read_file(s.root() / ".locks/job.lock"),
              HasSubstr("\"pid\":" + std::to_string(::getpid())));
  ASSERT_TRUE(go(s.unlock("job")));
}

TEST_F(AcmeStorage, AStaleLockIsNotTakenOverWhileAnotherTakeoverIsUnderWayNorAfterItEnds) {
  acme::file_storage s(io_.get_executor(), options());
  fs::create_directories(s.root() / ".locks");
  const fs::path lock = s.root() / ".locks/job.lock";
  const auto record = [](const std::string& host, std::int64_t updated_ms) {
    return "{\"owner\":\"x\",\"pid\":2147483000,\"host\":\"" + host +
           "\",\"created_unix_ms\":1,\"updated_unix_ms\":" + std::to_string(updated_ms) + "}\n";
  };
  moat::test::write_file(lock, record("gone-host", 1));  // stale for an hour and more
  // Another process is taking it over: it holds the takeover flock.
  const int other = ::open((s.root() / ".locks/.takeover").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(other, 0);
  ASSERT_EQ(::flock(other, LOCK_EX), 0);
  EXPECT_EQ(go(s.lock("job", milliseconds(200))).error().code(), acme::storage_errc::lock_timeout);
  // It finishes: its fresh lock replaces the stale one. A waiter that saw the stale one must
  // judge again, and wait.
  const auto now_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  fs::remove(lock);
  moat::test::write_file(lock, record("gone-host", now_ms + 60000));
  ::close(other);
  EXPECT_EQ(go(s.lock("job", milliseconds(200))).error().code(), acme::storage_errc::lock_timeout);
  moat::test::write_file(lock, record("gone-host", 1));
  ASSERT_TRUE(go(s.lock("job", milliseconds(500))));
  ASSERT_TRUE(go(s.unlock("job")));
}

TEST_F(AcmeStorage, DestroyingAStorageReleasesItsLocks) {
  auto o = options();
  {
    acme::file_storage a(io_.get_executor(), o);
    ASSERT_TRUE(go(a.lock("job", milliseconds(100))));
  }
  acme::file_storage b(io_.get_executor(), o);
  EXPECT_TRUE(go(b.lock("job", milliseconds(100))));
  ASSERT_TRUE(go(b.unlock("job")));
}

}  // namespace
