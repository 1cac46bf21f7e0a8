// libFuzzer target for the HTTP server's request parsing core (request_reader and what the
// server does with a request it read); the checks live in http_request_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "http_request_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::http_request_check({data, size}, &why)) {
    std::fprintf(stderr, "HTTP request parsing invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
