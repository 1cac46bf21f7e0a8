// dist::tune_allocator (node.hpp): memory freed at the top of the heap stays for the next
// message instead of being given back and faulted in again. Its own executable: it changes
// the process's allocator.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "moat/dist/node.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace moat::dist {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool own_malloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool own_malloc = false;
#else
constexpr bool own_malloc = true;
#endif
#else
constexpr bool own_malloc = true;
#endif

TEST(Allocator, AfterTuningBlocksFreedAtTheTopOfTheHeapStayThere) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "not glibc";
#else
  if (!own_malloc) GTEST_SKIP() << "a sanitizer's allocator";
  ASSERT_TRUE(tune_allocator());
  // 4 MiB of 64 KiB blocks, as bulk binaries are: made, written, then freed together.
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    void* b = std::malloc(64 * 1024);
    ASSERT_NE(b, nullptr);
    std::memset(b, i, 64 * 1024);
    blocks.push_back(b);
  }
  const auto grown = mallinfo2().arena;
  for (void* b : blocks) std::free(b);
  // With glibc's defaults the heap shrinks back here (more than 128 KiB free at its top).
  EXPECT_GE(mallinfo2().arena, grown);
#endif
}

TEST(Allocator, ItTakesKeepAsTheBoundAndAnySizeWithoutError) {
#if defined(__GLIBC__)
  if (!own_malloc) GTEST_SKIP() << "a sanitizer's allocator";
  EXPECT_TRUE(tune_allocator(std::size_t{1} << 40U));  // more than an int: clamped
  EXPECT_TRUE(tune_allocator(0));                      // 0: give everything back at once
  EXPECT_TRUE(tune_allocator());
#else
  EXPECT_FALSE(tune_allocator());
#endif
}

}  // namespace
}  // namespace moat::dist
