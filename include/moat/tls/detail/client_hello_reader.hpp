#pragma once
/// @file
/// Reads a server's first ClientHello from the bytes received so far, without consuming them,
/// so that the server can choose its certificate before the TLS library answers. Takes bytes
/// and does no I/O: every length is checked against what was received (the input is
/// hostile), so it can be unit-tested and fuzzed directly. Not part of the stable API.

#include <cstddef>
#include <cstdint>
#include <moat/tls/options.hpp>
#include <span>
#include <vector>

namespace moat::tls::detail {

/// Reassembles the ClientHello handshake message from its TLS records (it may span several)
/// and reads the server name (SNI) and the offered protocols (ALPN) from it. Reads each
/// received byte once, however the bytes arrive. Not thread-safe (one per connection).
class client_hello_reader {
 public:
  enum class status {
    incomplete,  ///< more bytes are needed
    complete,    ///< hello() holds what the client offered
    unreadable,  ///< not a ClientHello this reader can read: the TLS library decides
  };

  /// The largest ClientHello read (the TLS library's own limit on a handshake message).
  static constexpr std::size_t max_hello_size = 128 * 1024;

  /// `received`: every byte received from the client so far, from the first one -- the same
  /// bytes at every call, plus what arrived since. Once complete or unreadable, says so again.
  status read(std::span<const std::uint8_t> received);

  /// What the client offered (when read() said complete).
  [[nodiscard]] const client_hello& hello() const noexcept { return hello_; }

 private:
  status parse(std::span<const std::uint8_t> body);

  status status_ = status::incomplete;
  std::size_t pos_ = 0;            // bytes of `received` read so far (whole records)
  std::vector<std::uint8_t> msg_;  // the handshake message so far (from record fragments)
  client_hello hello_;
};

}  // namespace moat::tls::detail
