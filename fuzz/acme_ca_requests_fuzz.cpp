// libFuzzer target for what the ACME CA reads from clients (JWS requests and their payloads); the
// checks live in acme_ca_requests_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "acme_ca_requests_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::acme_ca_requests_check({data, size}, &why)) {
    std::fprintf(stderr, "ACME CA request check invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
