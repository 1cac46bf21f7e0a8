// acme::file_storage: locks. See moat/acme/file_storage.hpp for the protocol; in short:
//  - acquire: the record is written to a temporary file, then link(2)ed to the lock's name,
//    which fails with EEXIST if the lock exists -- the lock file is never seen half-written;
//  - a stale lock is removed and re-created only under flock(.locks/.takeover), after
//    re-reading it, so two waiters that both saw it stale cannot both take it (one finds the
//    other's fresh lock when its turn comes); the kernel drops the flock of a dead process;
//  - unlock removes the file only if it is still our inode, under the same flock, so it
//    never removes the lock of whoever took over;
//  - the heartbeat rewrites the 13 digits of "updated_unix_ms" in place on the inode we hold
//    (same length: a concurrent reader sees old or new digits, never invalid JSON); if the
//    lock was taken over, it writes to an unlinked inode and notices.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>

#include "acme/storage_fs_impl.hpp"

namespace moat::acme {

namespace net = boost::asio;
using namespace storage_fs;

namespace storage_fs {

held_lock::~held_lock() {
  if (fd >= 0) ::close(fd);
}

}  // namespace storage_fs

namespace {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string digits13(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%013" PRId64, ms);
  return buf;
}

std::string random_token() {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

// The record of a lock file; "updated_unix_ms" last, so its digits sit at a fixed offset.
std::string make_record(const std::string& owner, const std::string& host, std::int64_t now,
                        std::size_t& updated_offset) {
  std::string r = "{\"owner\":\"" + owner + "\",\"pid\":" + std::to_string(::getpid()) +
                  ",\"host\":" + boost::json::serialize(boost::json::string_view(host)) +
                  ",\"created_unix_ms\":" + digits13(now) + ",\"updated_unix_ms\":";
  updated_offset = r.size();
  r += digits13(now) + "}\n";
  return r;
}

bool write_at(int fd, std::size_t offset, const std::string& bytes) {
  return ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) ==
         static_cast<ssize_t>(bytes.size());
}

// A process that is gone, or a zombie (killed, not yet reaped by its parent), holds nothing.
bool process_gone(long pid) {
  if (pid <= 0 || pid > INT32_MAX) return false;  // unknown: judge by time only
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  const std::size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  const char state = line[paren + 2];
  return state == 'Z' || state == 'X';
}

// What a waiter saw of an existing lock file.
struct observed {
  bool present = false;
  dev_t dev = 0;
  ino_t ino = 0;
  bool stale = false;
  std::string who;  // "pid 12 on host h" / "an unreadable lock file"
  std::string why;  // why it is stale
};

observed observe(const std::filesystem::path& path, const std::string& our_host,
                 std::chrono::milliseconds stale_after) {
  observed o;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return o;  // gone (released meanwhile) or unreadable: try the link again
  struct ::stat st {};
  std::string text(4096, '\0');
  ssize_t n = -1;
  if (::fstat(fd, &st) == 0) n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n < 0) return o;
  text.resize(static_cast<std::size_t>(n));
  o.present = true;
  o.dev = st.st_dev;
  o.ino = st.st_ino;
  const std::int64_t now = unix_ms_now();
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  const boost::json::object* obj = ec ? nullptr : v.if_object();
  const boost::json::value* pid = obj ? obj->if_contains("pid") : nullptr;
  const boost::json::value* host = obj ? obj->if_contains("host") : nullptr;
  const boost::json::value* updated = obj ? obj->if_contains("updated_unix_ms") : nullptr;
  if (pid && pid->is_int64() && host && host->is_string() && updated && updated->is_int64()) {
    const std::string h(host->get_string());
    o.who = "pid " + std::to_string(pid->get_int64()) + " on host " + h;
    const std::int64_t age = now - updated->get_int64();
    if (h == our_host && process_gone(pid->get_int64())) {
      o.stale = true;
      o.why = "its process is gone";
    } else if (age > stale_after.count()) {
      o.stale = true;
      o.why = "no heartbeat for " + std::to_string(age) + " ms";
    }
    return o;
  }
  // Empty or garbage (e.g. a file system that lost the write): judged by its age.
  o.who = "an unreadable lock file";
  const std::int64_t mtime_ms =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  const std::int64_t age = now - mtime_ms;
  if (age > stale_after.count()) {
    o.stale = true;
    o.why = "unreadable and unchanged for " + std::to_string(age) + " ms";
  }
  return o;
}

// An exclusive flock of .locks/.takeover, released on destruction.
class takeover_guard {
 public:
  explicit takeover_guard(const std::filesystem::path& lock_dir) {
    fd_ = ::open((lock_dir / ".takeover").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
      held_ = true;
    }
  }
  ~takeover_guard() {
    if (fd_ >= 0) ::close(fd_);  // drops the flock
  }
  takeover_guard(const takeover_guard&) = delete;
  takeover_guard& operator=(const takeover_guard&) = delete;
  [[nodiscard]] bool held() const noexcept { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

// The record file a waiter links to the lock's name; removed unless it became the lock.
struct candidate {
  moat::detail::temporary_file tmp{};
  std::size_t updated_offset = 0;
  ~candidate() {
    if (tmp.fd >= 0) ::close(tmp.fd);
    if (!tmp.path.empty()) ::unlink(tmp.path.c_str());
  }
};

enum class outcome { acquired, busy, failed };

struct attempt {
  outcome what = outcome::busy;
  std::optional<error> err{};
  observed seen{};
};

// One try: link, or judge the holder and take over a stale lock. Synchronous.
attempt try_acquire(file_storage::impl& s, const std::string& context, candidate& c,
                    const std::filesystem::path& lock_path, held_lock& h) {
  attempt a;
  for (int round = 0; round < 3; ++round) {
    // A fresh heartbeat time in the record we are about to publish.
    const std::string now = digits13(unix_ms_now());
    write_at(c.tmp.fd, c.updated_offset, now);
    if (::link(c.tmp.path.c_str(), lock_path.c_str()) == 0) {
      struct ::stat st {};
      if (::fstat(c.tmp.fd, &st) != 0) {
        a.what = outcome::failed;
        a.err = errno_failure(context, "stat '" + c.tmp.path.string() + "'", errno);
        ::unlink(lock_path.c_str());
        return a;
      }
      h.path = lock_path;
      h.fd = c.tmp.fd;
      h.dev = st.st_dev;
      h.ino = st.st_ino;
      h.updated_offset = c.updated_offset;
      c.tmp.fd = -1;
      ::unlink(c.tmp.path.c_str());
      c.tmp.path.clear();
      (void)moat::detail::sync_directory(lock_path.parent_path());
      a.what = outcome::acquired;
      return a;
    }
    if (errno != EEXIST) {
      a.what = outcome::failed;
      a.err = errno_failure(context, "link '" + lock_path.string() + "'", errno);
      return a;
    }
    a.seen = observe(lock_path, s.host, s.opts.stale_after);
    if (!a.seen.present) continue;  // released meanwhile: link again
    if (!a.seen.stale) return a;
    takeover_guard g(s.lock_dir);
    if (!g.held()) return a;  // another waiter is taking it over right now
    // Under the flock nobody else removes the lock file: judge it again, then replace it.
    const observed again = observe(lock_path, s.host, s.opts.stale_after);
    if (!again.present) continue;
    if (!again.stale || again.dev != a.seen.dev || again.ino != a.seen.ino) {
      a.seen = again;
      return a;
    }
    if (::unlink(lock_path.c_str()) != 0 && errno != ENOENT) {
      a.what = outcome::failed;
      a.err = errno_failure(context, "remove stale lock '" + lock_path.string() + "'", errno);
      return a;
    }
    s.log->info("acme storage: lock '{}' was held by {}, stale ({}): taking it over", h.name,
                again.who, again.why);
  }
  return a;
}

net::awaitable<void> heartbeat(std::shared_ptr<held_lock> h, std::chrono::milliseconds every,
                               std::shared_ptr<spdlog::logger> log) {
  while (!h->released) {
    h->timer.expires_after(every);
    auto [ec] = co_await h->timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec || h->released) co_return;
    write_at(h->fd, h->updated_offset, digits13(unix_ms_now()));
    struct ::stat st {};
    if (::stat(h->path.c_str(), &st) != 0 || st.st_dev != h->dev || st.st_ino != h->ino) {
      h->lost = true;
      log->error(
          "acme storage: lock '{}' was taken over by another holder while held (this process "
          "stalled longer than the stale time); its work may overlap with theirs",
          h->name);
      co_return;
    }
  }
}

}  // namespace

boost::asio::awaitable<result<void>> file_storage::lock(std::string name,
                                                        std::chrono::milliseconds timeout) {
  const std::string context = context_of("lock", name);
  if (std::string why = validate_key(name); !why.empty()) {
    co_return error(storage_errc::invalid_key, context, std::move(why));
  }
  const auto self = impl_;  // alive while we wait, whatever happens to *this
  const auto lock_path = self->lock_file_of(name);
  if (auto f = make_directories(lock_path.parent_path())) {
    co_return failure(context, *f);
  }
  candidate c;
  {
    std::size_t offset = 0;
    const std::string record = make_record(random_token(), self->host, unix_ms_now(), offset);
    if (auto f = moat::detail::create_temporary_file(
            lock_path.parent_path(), lock_path.filename().string(), record, 0600, c.tmp)) {
      co_return failure(context, *f);
    }
    c.updated_offset = offset;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto limit = std::min<std::chrono::milliseconds>(timeout, std::chrono::hours(24 * 3650));
  const auto deadline = start + limit;
  auto h = std::make_shared<held_lock>(self->ex, name);
  net::steady_timer wait(co_await net::this_coro::executor);
  bool logged_wait = false;
  while (true) {
    attempt a = try_acquire(*self, context, c, lock_path, *h);
    if (a.what == outcome::failed) co_return *a.err;
    if (a.what == outcome::acquired) {
      {
        std::lock_guard<std::mutex> g(self->mu);
        self->held[name] = h;
      }
      net::co_spawn(self->ex, heartbeat(h, self->opts.heartbeat, self->log), net::detached);
      co_return result<void>{};
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      co_return error(storage_errc::lock_timeout, context,
                      "held by " +
                          (a.seen.who.empty() ? std::string("another holder") : a.seen.who) +
                          " for the whole " + std::to_string(limit.count()) + " ms");
    }
    if (!logged_wait) {
      self->log->debug("acme storage: waiting for lock '{}' held by {}", name, a.seen.who);
      logged_wait = true;
    }
    wait.expires_after(
        std::min<std::chrono::steady_clock::duration>(self->opts.poll_interval, deadline - now));
    auto [ec] = co_await wait.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return error(storage_errc::cancelled, context);
  }
}

namespace {

// Removes the lock file if it is still `h`'s own inode: true; false if it was not (lost);
// nullopt if the takeover flock is busy (a takeover is running at this moment: try again).
std::optional<bool> release_file(file_storage::impl& s, const held_lock& h) {
  takeover_guard g(s.lock_dir);
  if (!g.held()) return std::nullopt;
  struct ::stat st {};
  if (::stat(h.path.c_str(), &st) != 0 || st.st_dev != h.dev || st.st_ino != h.ino) return false;
  ::unlink(h.path.c_str());
  (void)moat::detail::sync_directory(h.path.parent_path());
  return true;
}

void stop_heartbeat(const std::shared_ptr<held_lock>& h) {
  h->released = true;
  net::post(h->timer.get_executor(), [h] { h->timer.cancel(); });
}

}  // namespace

boost::asio::awaitable<result<void>> file_storage::unlock(std::string name) {
  const std::string context = context_of("unlock", name);
  const auto self = impl_;
  std::shared_ptr<held_lock> h;
  {
    std::lock_guard<std::mutex> g(self->mu);
    if (auto it = self->held.find(name); it != self->held.end()) {
      h = it->second;
      self->held.erase(it);
    }
  }
  if (!h) co_return error(storage_errc::not_locked, context);
  stop_heartbeat(h);
  // The takeover flock is held for a few system calls at a time: retry briefly.
  net::steady_timer wait(co_await net::this_coro::executor);
  std::optional<bool> ours;
  for (int i = 0; i < 1000 && !(ours = release_file(*self, *h)); ++i) {
    wait.expires_after(std::chrono::milliseconds(5));
    co_await wait.async_wait(net::as_tuple(net::use_awaitable));
  }
  if (!ours) {
    co_return error(storage_errc::io_failed, context,
                    "the takeover lock '" + (self->lock_dir / ".takeover").string() +
                        "' stayed busy; the lock file was left to go stale");
  }
  if (!*ours || h->lost) {
    co_return error(storage_errc::lock_lost, context,
                    "another holder took it over while this one held it (it stalled longer "
                    "than the stale time); their lock was left alone");
  }
  co_return result<void>{};
}

void file_storage::impl::release_all() noexcept {
  std::map<std::string, std::shared_ptr<held_lock>> all;
  {
    std::lock_guard<std::mutex> g(mu);
    all.swap(held);
  }
  for (auto& [name, h] : all) {
    stop_heartbeat(h);
    for (int i = 0; i < 100; ++i) {
      if (release_file(*this, *h)) break;
      ::usleep(1000);
    }
  }
}

}  // namespace moat::acme
