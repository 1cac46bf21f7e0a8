// libmoat_malloc_count.so: counts a process's heap calls, for bench/profile.sh.
//
//   MOAT_MALLOC_COUNT_DIR=/tmp/x LD_PRELOAD=.../libmoat_malloc_count.so moat serve ...
//
// Counts the calls to malloc, calloc, realloc, free (of non-null pointers) and the aligned
// allocators (posix_memalign, aligned_alloc, memalign), and the bytes requested, with relaxed
// atomics, then hands each call to glibc (__libc_malloc and friends). operator new and GnuTLS's
// allocator go through malloc, so they are counted; glibc's internal allocations that do not go
// through the exported symbols (e.g. reallocarray, strdup inside libc) are not.
//
// With MOAT_MALLOC_COUNT_DIR set, the counters live in a shared file mapping,
// DIR/malloc-count.PID: six native-endian 64-bit integers (malloc, calloc, realloc, free,
// aligned, bytes), readable at any moment without stopping or signalling the process
// (`od -An -t u8 -w8 FILE`), so a profiler reads them at both ends of a measured window.
// A forked child keeps adding to its parent's file; an exec'd program gets a file of its own.
// With MOAT_MALLOC_COUNT_PRINT=1 the counts are also printed to stderr at exit.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {

struct counters {
  std::atomic<std::uint64_t> malloc_calls;
  std::atomic<std::uint64_t> calloc_calls;
  std::atomic<std::uint64_t> realloc_calls;
  std::atomic<std::uint64_t> free_calls;
  std::atomic<std::uint64_t> aligned_calls;
  std::atomic<std::uint64_t> bytes;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(counters) == 6 * sizeof(std::uint64_t));

counters g_before_init{};  // counts made before the constructor has mapped the file
std::atomic<counters*> g{&g_before_init};

void count(std::atomic<std::uint64_t> counters::*which, std::size_t bytes) {
  counters* c = g.load(std::memory_order_relaxed);
  (c->*which).fetch_add(1, std::memory_order_relaxed);
  if (bytes != 0) c->bytes.fetch_add(bytes, std::memory_order_relaxed);
}

__attribute__((constructor)) void map_counters() {
  const char* dir = std::getenv("MOAT_MALLOC_COUNT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  char path[4096];
  std::snprintf(path, sizeof(path), "%s/malloc-count.%ld", dir, static_cast<long>(::getpid()));
  const int fd = ::open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::ftruncate(fd, sizeof(counters)) != 0) {
    std::fprintf(stderr, "malloc_count: %s: %s\n", path, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return;
  }
  void* p = ::mmap(nullptr, sizeof(counters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "malloc_count: mmap %s: %s\n", path, std::strerror(errno));
    return;
  }
  auto* c = new (p) counters{};
  auto move = [](std::atomic<std::uint64_t>& to, std::atomic<std::uint64_t>& from) {
    to.store(from.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  move(c->malloc_calls, g_before_init.malloc_calls);
  move(c->calloc_calls, g_before_init.calloc_calls);
  move(c->realloc_calls, g_before_init.realloc_calls);
  move(c->free_calls, g_before_init.free_calls);
  move(c->aligned_calls, g_before_init.aligned_calls);
  move(c->bytes, g_before_init.bytes);
  g.store(c, std::memory_order_relaxed);
}

__attribute__((destructor)) void print_counters() {
  const char* print = std::getenv("MOAT_MALLOC_COUNT_PRINT");
  if (print == nullptr || std::strcmp(print, "1") != 0) return;
  const counters* c = g.load(std::memory_order_relaxed);
  std::fprintf(stderr,
               "malloc_count pid=%ld malloc=%llu calloc=%llu realloc=%llu free=%llu aligned=%llu "
               "bytes=%llu\n",
               static_cast<long>(::getpid()),
               static_cast<unsigned long long>(c->malloc_calls.load()),
               static_cast<unsigned long long>(c->calloc_calls.load()),
               static_cast<unsigned long long>(c->realloc_calls.load()),
               static_cast<unsigned long long>(c->free_calls.load()),
               static_cast<unsigned long long>(c->aligned_calls.load()),
               static_cast<unsigned long long>(c->bytes.load()));
}

}  // namespace

extern "C" {

void* malloc(std::size_t n) {
  count(&counters::malloc_calls, n);
  return __libc_malloc(n);
}

void* calloc(std::size_t n, std::size_t size) {
  count(&counters::calloc_calls, n * size);
  return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t n) {
  count(&counters::realloc_calls, n);
  return __libc_realloc(p, n);
}

void free(void* p) {
  if (p == nullptr) return;
  count(&counters::free_calls, 0);
  __libc_free(p);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  count(&counters::aligned_calls, n);
  void* p = __libc_memalign(alignment, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count(&counters::aligned_calls, n);
  return __libc_memalign(alignment, n);
}

void* memalign(std::size_t alignment, std::size_t n) {
  count(&counters::aligned_calls, n);
  return __libc_memalign(alignment, n);
}

}  // extern "C"
