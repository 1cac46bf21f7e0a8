// glibc's malloc set for a node's traffic (node.hpp, `tune_allocator`).
#include <algorithm>
#include <climits>
#include <cstddef>

#include "moat/dist/node.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define MOAT_OWN_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define MOAT_OWN_MALLOC 0
#endif
#endif
#ifndef MOAT_OWN_MALLOC
#define MOAT_OWN_MALLOC 1
#endif

namespace moat::dist {

bool tune_allocator(std::size_t keep) {
#if defined(__GLIBC__) && MOAT_OWN_MALLOC
  // Setting either threshold ends glibc's own adjustment of both, so both are set: blocks up
  // to half of `keep` (at most glibc's 32 MiB) come from the heap instead of a fresh mapping
  // each time, and up to `keep` bytes freed at the top of the heap stay there.
  constexpr std::size_t glibc_max_mmap_threshold = std::size_t{32} << 20U;
  const auto trim = static_cast<int>(std::min<std::size_t>(keep, INT_MAX));
  const auto mmap = static_cast<int>(std::min(keep / 2, glibc_max_mmap_threshold));
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, mmap) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, trim) == 1;
  return mmap_set && trim_set;
#else
  (void)keep;
  return false;
#endif
}

}  // namespace moat::dist
