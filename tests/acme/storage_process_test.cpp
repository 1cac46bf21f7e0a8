// acme::file_storage shared by real processes (tests/acme/storage_child.cpp): writers killed
// with -9 at random moments, a write past a file size limit, two processes contending for a
// lock, holders killed, stopped, or holding for long.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <moat/acme/file_storage.hpp>
#include <random>
#include <thread>

#include "acme/storage_values.hpp"
#include "support/support.hpp"

namespace {

namespace acme = moat::acme;
namespace net = boost::asio;
namespace fs = std::filesystem;
using moat::test::child_process;
using moat::test::run;
using moat::test::scaled;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::string child_exe = MOAT_STORAGE_CHILD;

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const auto n = e.path().filename().string();
    if (n.starts_with('.') && n.find(".tmp-") != std::string::npos) out.push_back(n);
  }
  return out;
}

class AcmeStorageProcesses : public ::testing::Test {
 protected:
  template <class T>
  T go(net::awaitable<T> aw) {
    return run(io_, std::move(aw), std::chrono::minutes(2));
  }
  acme::file_storage_options options(std::chrono::milliseconds stale = milliseconds(30000)) {
    acme::file_storage_options o;
    o.root = root_;
    o.stale_after = stale;
    o.heartbeat = stale / 6;
    o.poll_interval = milliseconds(10);
    return o;
  }
  static std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

  net::io_context io_;
  moat::test::temp_dir dir_;
  fs::path root_ = dir_.path() / "store";
};

TEST_F(AcmeStorageProcesses, AWriterKilledAtRandomMomentsLeavesEveryKeyOldOrNewAndComplete) {
  constexpr std::size_t size = 256 * 1024;  // big enough that kills land inside writes
  const std::vector<std::string> keys = {"certs/a.crt", "certs/a.key", "account.json"};
  std::mt19937 rng(12345);
  int killed_mid_write = 0;
  for (int round = 0; round < 25; ++round) {
    std::vector<std::string> argv = {child_exe, "store-loop", root_.string(), std::to_string(size)};
    argv.insert(argv.end(), keys.begin(), keys.end());
    child_process writer(argv);
    ASSERT_TRUE(writer.wait_for_output("ready")) << writer.output();
    // A random moment: the writer stores without pause, so this lands anywhere in a write.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    writer.kill(SIGKILL);
    ASSERT_EQ(writer.wait(), -SIGKILL);
    if (!temporaries(root_).empty()) ++killed_mid_write;

    // What any reader sees now: every key holds one whole generation; no temporary appears.
    acme::file_storage reader(io_.get_executor(), options());
    auto listed = go(reader.list("", true));
    ASSERT_TRUE(listed);
    EXPECT_THAT(*listed, ElementsAre("account.json", "certs/a.crt", "certs/a.key"));
    for (const auto& k : keys) {
      auto v = go(reader.load(k));
      ASSERT_TRUE(v) << k << ": " << v.error().message();
      EXPECT_TRUE(moat::test::storage_value_generation(*v, size).has_value())
          << "round " << round << ": '" << k << "' holds a partial value of " << v->size()
          << " bytes";
    }
  }
  // Most kills hit a write in progress (each leaves its temporary file behind).
  EXPECT_GT(killed_mid_write, 0);
  // A new storage on the directory sweeps the leftovers (none is young: no writer runs) and
  // works.
  auto o = options();
  o.temporary_max_age = milliseconds(0);
  acme::file_storage after(io_.get_executor(), o);
  EXPECT_THAT(temporaries(root_), IsEmpty());
  ASSERT_TRUE(go(after.store("certs/a.crt", "fresh")));
  EXPECT_EQ(go(after.load("certs/a.crt")).value(), "fresh");
}

TEST_F(AcmeStorageProcesses, AStorePastTheFileSizeLimitFailsClearlyKeepsTheOldValueAndNoTemporary) {
  // RLIMIT_FSIZE makes write(2) fail with EFBIG past the limit (SIGXFSZ ignored): a write
  // that cannot complete, as on a full disk, in any environment (no mount needed).
  acme::file_storage s(io_.get_executor(), options());
  const std::string old_value = moat::test::storage_value(1, 4096);
  ASSERT_TRUE(go(s.store("certs/site.pem", old_value)));
  child_process writer(
      {child_exe, "store-limited", root_.string(), "certs/site.pem", "100000", "16384"});
  ASSERT_EQ(writer.wait(), 0) << writer.output();
  const std::string out = writer.output();
  EXPECT_THAT(out, HasSubstr("error moat.acme.storage:" +
                             std::to_string(static_cast<int>(acme::storage_errc::too_large))));
  EXPECT_THAT(out, HasSubstr("store 'certs/site.pem'"));
  EXPECT_THAT(out, HasSubstr("File too large"));
  EXPECT_EQ(go(s.load("certs/site.pem")).value(), old_value);
  EXPECT_THAT(temporaries(root_), IsEmpty());
}

TEST_F(AcmeStorageProcesses, TwoProcessesContendingForALockAreNeverInsideTogetherAndBothFinish) {
  const fs::path marker = dir_.path() / "inside";
  const std::vector<std::string> argv = {child_exe,
                                         "contend",
                                         root_.string(),
                                         "obtain/example.com",
                                         marker.string(),
                                         "30",
                                         "3",
                                         "30000",
                                         "5000",
                                         "5"};
  child_process a(argv), b(argv);
  ASSERT_EQ(a.wait(std::chrono::seconds(60)), 0) << a.output();
  ASSERT_EQ(b.wait(std::chrono::seconds(60)), 0) << b.output();
  EXPECT_THAT(a.output(), Not(HasSubstr("VIOLATION")));
  EXPECT_THAT(b.output(), Not(HasSubstr("VIOLATION")));
  EXPECT_THAT(a.output(), HasSubstr("round 30\ndone"));
  EXPECT_THAT(b.output(), HasSubstr("round 30\ndone"));
  EXPECT_FALSE(fs::exists(root_ / ".locks/obtain/example.com.lock"));
}

TEST_F(AcmeStorageProcesses, SeveralProcessesThatFindTheSameStaleLockTakeItOverExactlyOnce) {
  // Four waiters poll (every 1 ms) a lock whose holder -- on "another host", so only its
  // heartbeat counts -- is then stopped: its lock turns stale for all of them at the same
  // moment, and they race to take it over.
  const auto stale = scaled(milliseconds(600));
  child_process holder(
      {child_exe, "hold", root_.string(), "job", "other-host", "30000", "100", "10"});
  ASSERT_TRUE(holder.wait_for_output("locked")) << holder.output();
  const fs::path marker = dir_.path() / "inside";
  const std::vector<std::string> argv = {
      child_exe, "contend", root_.string(), "job",         marker.string(),
      "10",      "2",       ms(stale),      ms(stale / 6), "1"};
  std::vector<std::unique_ptr<child_process>> waiters;
  for (int i = 0; i < 4; ++i) waiters.push_back(std::make_unique<child_process>(argv));
  ASSERT_EQ(::kill(holder.pid(), SIGSTOP), 0);
  int takeovers = 0;
  for (auto& w : waiters) {
    ASSERT_EQ(w->wait(std::chrono::seconds(60)), 0) << w->output();
    const std::string out = w->output();
    EXPECT_THAT(out, Not(HasSubstr("VIOLATION")));
    EXPECT_THAT(out, HasSubstr("round 10\ndone"));
    for (std::size_t at = 0; (at = out.find("taking it over", at)) != std::string::npos; ++at) {
      ++takeovers;
    }
  }
  EXPECT_EQ(takeovers, 1);
}

TEST_F(AcmeStorageProcesses, AHolderKilledWithMinus9IsTakenOverWellWithinTheStaleTime) {
  const auto stale = milliseconds(20000);
  child_process holder({child_exe, "hold", root_.string(), "job", "", ms(stale), "1000", "10"});
  ASSERT_TRUE(holder.wait_for_output("locked")) << holder.output();
  holder.kill(SIGKILL);
  ASSERT_EQ(holder.wait(), -SIGKILL);
  acme::file_storage s(io_.get_executor(), options(stale));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = go(s.lock("job", stale));
  ASSERT_TRUE(r) << r.error().message();
  // Its process is gone on this host: no need to wait for the heartbeat to age.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, stale / 4);
  ASSERT_TRUE(go(s.unlock("job")));
}

TEST_F(AcmeStorageProcesses,
       AStoppedHolderLosesItsLockAfterTheStaleTimeAndItsUnlockLeavesTheNewOne) {
  // The holder claims another host, so only its heartbeat can keep it: stopped, it ages.
  const auto stale = milliseconds(1500);
  child_process holder(
      {child_exe, "hold", root_.string(), "job", "other-host", ms(stale), ms(stale / 6), "10"});
  ASSERT_TRUE(holder.wait_for_output("locked")) << holder.output();
  acme::file_storage s(io_.get_executor(), options(stale));
  ASSERT_EQ(::kill(holder.pid(), SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = go(s.lock("job", scaled(milliseconds(30000))));
  const auto waited = std::chrono::steady_clock::now() - t0;
  ::kill(holder.pid(), SIGCONT);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_GE(waited, stale - milliseconds(200));  // not before its heartbeat was that old
  // Resumed, the old holder notices and its unlock leaves our lock alone.
  holder.write_stdin("unlock\n");
  ASSERT_TRUE(holder.wait_for_output("unlock-error")) << holder.output();
  EXPECT_THAT(holder.output(), HasSubstr("taken over"));
  EXPECT_TRUE(fs::exists(root_ / ".locks/job.lock"));
  EXPECT_THAT(moat::test::read_file(root_ / ".locks/job.lock"),
              HasSubstr("\"pid\":" + std::to_string(::getpid())));
  ASSERT_TRUE(go(s.unlock("job")));
}

TEST_F(AcmeStorageProcesses, AWaiterWithATimeoutGetsLockTimeoutWhileAnotherProcessHolds) {
  child_process holder({child_exe, "hold", root_.string(), "job", "", "30000", "5000", "10"});
  ASSERT_TRUE(holder.wait_for_output("locked")) << holder.output();
  acme::file_storage s(io_.get_executor(), options());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = go(s.lock("job", milliseconds(300)));
  ASSERT_FALSE(r);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(300));
  EXPECT_EQ(r.error().code(), acme::storage_errc::lock_timeout);
  EXPECT_THAT(r.error().message(), HasSubstr("held by pid " + std::to_string(holder.pid())));
  holder.write_stdin("unlock\n");
  ASSERT_TRUE(holder.wait_for_output("unlocked")) << holder.output();
  EXPECT_TRUE(go(s.lock("job", scaled(milliseconds(5000)))));
  ASSERT_TRUE(go(s.unlock("job")));
}

TEST_F(AcmeStorageProcesses, HeartbeatsKeepALockHeldFarLongerThanTheStaleTimeFromBeingTaken) {
  // Another host's holder (no pid check): only its heartbeats keep the lock fresh.
  // Scaled: a sanitizer build on a busy machine must still beat its stale time.
  const auto stale = scaled(milliseconds(1200));
  child_process holder(
      {child_exe, "hold", root_.string(), "job", "other-host", ms(stale), ms(stale / 8), "10"});
  ASSERT_TRUE(holder.wait_for_output("locked")) << holder.output();
  acme::file_storage s(io_.get_executor(), options(stale));
  auto r = go(s.lock("job", stale * 3));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), acme::storage_errc::lock_timeout);
  holder.write_stdin("unlock\n");
  ASSERT_TRUE(holder.wait_for_output("unlocked")) << holder.output();
}

TEST_F(AcmeStorageProcesses, TheDocsExampleStoresUnderALockAndWritesABackupTarCanList) {
  const fs::path archive = dir_.path() / "backup.tar";
  child_process example({MOAT_EXAMPLE_ACME_STORAGE, root_.string(), archive.string()});
  ASSERT_EQ(example.wait(), 0) << example.output();
  EXPECT_THAT(example.output(), HasSubstr("1 key(s) backed up"));
  acme::file_storage s(io_.get_executor(), options());
  EXPECT_THAT(go(s.list("", true)).value(), ElementsAre("certs/example.com.crt"));
  if (moat::test::have_program("tar")) {
    child_process tar({"tar", "-tvf", archive.string()});
    ASSERT_EQ(tar.wait(), 0) << tar.output();
    EXPECT_THAT(tar.output(), HasSubstr("-rw------- "));
    EXPECT_THAT(tar.output(), HasSubstr("certs/example.com.crt"));
  }
}

}  // namespace
