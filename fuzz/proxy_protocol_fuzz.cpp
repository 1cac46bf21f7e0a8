// libFuzzer target for the PROXY protocol parser (moat::server::proxy::parse); the checks live
// in proxy_protocol_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "proxy_protocol_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::proxy_protocol_check({data, size}, &why)) {
    std::fprintf(stderr, "PROXY protocol parser invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
