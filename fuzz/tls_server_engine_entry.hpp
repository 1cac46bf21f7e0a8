#pragma once
/// @file
/// The body of the TLS server engine fuzz target, shared by the libFuzzer binary
/// (fuzz/tls_server_engine_fuzz.cpp) and the corpus replay test (tests/tls), so the entry is
/// exercised by the normal build too.
///
/// Input: the bytes a client sent to a moat server, as they came off the wire (a seed is a
/// captured ClientHello). They are fed to a server `moat::tls::detail::engine` in one piece,
/// then the end of the stream; the handshake (and, should it ever complete, reads) are driven
/// until the engine wants nothing more. Checked:
/// - the engine ends: once the transport has ended, it fails within two calls -- it must use
///   what it has buffered rather than ask for more (a ClientHello split over records once made
///   it wait for bytes that had already arrived);
/// - a failure has a moat reason: an error in `engine_category()` means a failure a peer can
///   provoke reached the user with only the TLS library's name (see make_gnutls_error);
/// - what the server writes back stays small (a handshake flight, an alert).

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <moat/pki/builder.hpp>
#include <moat/pki/key.hpp>
#include <moat/tls/context.hpp>
#include <moat/tls/detail/engine.hpp>
#include <moat/tls/errors.hpp>
#include <span>
#include <string>
#include <system_error>

namespace moat::fuzz {

/// What one input did to the server engine.
struct tls_server_outcome {
  std::error_code error;         ///< why the handshake (or a read) ended; empty if it did not fail
  bool handshake_done = false;   ///< the handshake completed (not expected from a fuzzer)
  std::uint8_t alert_sent = 0;   ///< the alert the engine sent, 0 for none
  std::size_t output_bytes = 0;  ///< bytes the server wrote back
};

/// The server every input is fed to: a self-signed ECDSA P-256 certificate for "localhost",
/// made in memory once. Thread-safe (a function-local static, immutable afterwards).
[[nodiscard]] inline const moat::tls::context& tls_fuzz_server_context() {
  static const moat::tls::context ctx = [] {
    auto key = moat::pki::private_key::generate(moat::pki::key_type::ecdsa_p256);
    moat::pki::certificate_builder b;
    b.common_name = "localhost";
    b.subject_alt_names = {"DNS:localhost", "IP:127.0.0.1"};
    moat::tls::options o;
    o.cert = {b.self_sign(key)};
    o.key = key;
    return moat::tls::context(moat::tls::role::server, o);
  }();
  return ctx;
}

/// Runs one input (see the file comment). Returns true when the engine behaved; on a violation
/// returns false and, if `why` is given, describes it. `out`, if given, receives the outcome.
/// Thread-safety: reentrant (each call has its own engine; the context is shared, immutable).
[[nodiscard]] inline bool tls_server_engine_check(std::span<const std::uint8_t> input,
                                                  tls_server_outcome* out = nullptr,
                                                  std::string* why = nullptr) {
  using moat::tls::detail::want;
  auto violation = [&](const std::string& what) {
    if (why != nullptr) *why = what;
    return false;
  };
  constexpr int kMaxSteps = 64;
  constexpr int kMaxCallsAfterEof = 2;
  constexpr std::size_t kMaxOutput = 64 * 1024;

  moat::tls::detail::engine e(tls_fuzz_server_context());
  if (!input.empty()) {
    auto space = e.prepare_input(input.size());
    std::memcpy(space.data(), input.data(), input.size());
    e.commit_input(input.size());
  }
  tls_server_outcome r;
  std::array<std::uint8_t, 16384> plain{};
  bool ended = false;
  int calls_after_eof = 0;
  for (int step = 0;; ++step) {
    if (step == kMaxSteps) return violation("the engine did not settle within 64 steps");
    if (ended && ++calls_after_eof > kMaxCallsAfterEof) {
      return violation("the engine keeps asking for input after the end of the stream");
    }
    std::error_code ec;
    want w = want::nothing;
    if (!e.handshake_done()) {
      w = e.handshake(ec);
    } else {
      std::size_t n = 0;
      w = e.read(plain, n, ec);
      if (n > plain.size()) return violation("read produced more bytes than the buffer holds");
    }
    r.output_bytes += e.output().size();
    e.consume_output(e.output().size());
    if (r.output_bytes > kMaxOutput) return violation("the server wrote more than 64 KiB back");
    if (ec) {
      r.error = ec;
      break;
    }
    if (w == want::input_and_retry) {
      e.input_eof();  // all the input was given: the stream ends here (again, for a retry)
      ended = true;
      continue;
    }
    if (w == want::output_and_retry) continue;
    if (!e.handshake_done()) return violation("the handshake stopped without an error");
  }
  r.handshake_done = e.handshake_done();
  r.alert_sent = e.alert_sent();
  if (out != nullptr) *out = r;
  if (r.error.category() == moat::tls::engine_category()) {
    return violation("a failure the peer caused has no moat reason: " +
                     moat::tls::format_error(r.error));
  }
  return true;
}

}  // namespace moat::fuzz
