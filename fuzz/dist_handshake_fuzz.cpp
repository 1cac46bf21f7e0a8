// libFuzzer target for the distribution handshake's state machine; the checks live in
// dist_handshake_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dist_handshake_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::dist_handshake_check({data, size}, &why)) {
    std::fprintf(stderr, "handshake invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
