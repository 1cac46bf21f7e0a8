// libFuzzer target for the term codec and text syntax; the checks live in dist_term_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dist_term_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::dist_term_check({data, size}, &why)) {
    std::fprintf(stderr, "term codec invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
