// libFuzzer target for moat::tls::detail::engine as a server fed a client's bytes; the checks
// live in tls_server_engine_entry.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tls_server_engine_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  if (!moat::fuzz::tls_server_engine_check({data, size}, nullptr, &why)) {
    std::fprintf(stderr, "TLS server engine invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
