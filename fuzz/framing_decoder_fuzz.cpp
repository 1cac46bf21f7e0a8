// libFuzzer target for moat::framing::decoder; the checks live in framing_decoder_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "framing_decoder_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::framing_decoder_check({data, size}, &why)) {
    std::fprintf(stderr, "framing decoder invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
