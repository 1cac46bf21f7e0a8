// libFuzzer target for the PEM/DER loaders of moat::pki (certificates, chains, private keys);
// the checks live in pki_loaders_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pki_loaders_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::pki_loaders_check({data, size}, &why)) {
    std::fprintf(stderr, "PKI loader invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
