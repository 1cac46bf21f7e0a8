// libFuzzer target for the EPMD wire layer and the embedded EPMD's name table; the checks
// live in dist_epmd_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dist_epmd_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::dist_epmd_check({data, size}, &why)) {
    std::fprintf(stderr, "EPMD invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
