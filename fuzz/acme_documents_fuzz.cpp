// libFuzzer target for what the ACME client reads from a CA (JSON documents and headers); the
// checks live in acme_documents_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "acme_documents_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::acme_documents_check({data, size}, &why)) {
    std::fprintf(stderr, "ACME document parser invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
