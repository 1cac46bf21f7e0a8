#pragma once
/// @file
/// The I/O-free TLS engine: bytes in, bytes out, and after every operation what it wants
/// next. It never touches a socket; `tls::stream` (or a test, or a fuzzer) moves the bytes.
/// Not part of the stable API; declared here because the stream's templates drive it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <moat/tls/context.hpp>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace moat::pki {
class certificate;
}

namespace moat::tls {

/// What a finished handshake negotiated (Erlang's ssl:connection_information/1).
struct connection_info {
  version protocol = version::tls1_3;
  std::string cipher_suite;    ///< IANA name, e.g. TLS_AES_128_GCM_SHA256
  std::string group;           ///< key-exchange group, e.g. X25519
  std::string sni;             ///< the server name (sent by the client / received by the server)
  std::string alpn;            ///< negotiated protocol, empty when none
  bool resumed = false;        ///< the session was resumed from a ticket
  bool peer_verified = false;  ///< the peer's certificate was verified
};

namespace detail {

/// What the engine needs before the operation can go on.
enum class want {
  nothing,           ///< done: the operation completed (successfully or with an error).
  input_and_retry,   ///< read more bytes from the transport, feed them, call again.
  output_and_retry,  ///< write out pending output, then call again.
  output,            ///< write out pending output, then the operation is complete.
  /// Server handshake: the ClientHello has arrived and the context has a certificate
  /// selector. Run `selector()` on `hello()`, give its result to `use_certificate` (or its
  /// exception to `fail_certificate`), then call handshake() again.
  certificate,
};

/// One TLS session. Not thread-safe: one engine per connection, used from one strand.
/// Owns its buffers; `output()` stays valid until `consume_output` or the next operation.
class engine {
 public:
  /// @param server_name client: the SNI name to send and the host name to verify.
  /// @param session_key client: key of the session cache ("host:port"); empty = no reuse.
  explicit engine(const context& ctx, std::string server_name = {}, std::string session_key = {});
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Drive the handshake. On success `info()` is available.
  want handshake(std::error_code& ec);
  /// Server, when handshake() wanted `certificate`: what the client offered (valid for the
  /// engine's lifetime).
  [[nodiscard]] const client_hello& hello() const noexcept;
  /// The context's certificate selector (lives as long as the engine).
  [[nodiscard]] const certificate_selector& selector() const noexcept;
  /// Server, after want::certificate: present `chosen` (nullopt: what sni_fun, sni_hosts or
  /// the main certificate give). A certificate this context cannot use fails the handshake
  /// like fail_certificate.
  void use_certificate(std::optional<certificate_set> chosen);
  /// Server, after want::certificate: the selector failed (`why` is logged, rate-limited);
  /// the handshake then fails with errc::unrecognized_name and its alert.
  void fail_certificate(std::exception_ptr why);
  /// Decrypt into `buf`; `n` = bytes produced. A clean close_notify completes with
  /// errc::closed.
  want read(std::span<std::uint8_t> buf, std::size_t& n, std::error_code& ec);
  /// Encrypt from `buf` (at most one record's worth per call); `n` = bytes consumed.
  want write(std::span<const std::uint8_t> buf, std::size_t& n, std::error_code& ec);
  /// Send close_notify (the write side is then closed).
  want shutdown(std::error_code& ec);
  /// Send a fatal alert for `reason` (if it has one); used when the handshake times out or a
  /// handler fails.
  want abort(std::error_code reason);
  /// TLS 1.3 KeyUpdate; `request_peer` asks the peer to update too.
  want key_update(bool request_peer, std::error_code& ec);

  /// Transport → engine: a place for up to `n` bytes, then how many were filled.
  [[nodiscard]] std::span<std::uint8_t> prepare_input(std::size_t n);
  void commit_input(std::size_t n);
  /// Transport → engine without a copy: the engine reads `bytes` (e.g. a worker's scratch
  /// buffer, after the bytes it already holds) until `keep_input`, which must be called before
  /// `bytes` is reused: it copies what the engine has not consumed (a partial record) into the
  /// engine's own buffer.
  void lend_input(std::span<const std::uint8_t> bytes) noexcept;
  void keep_input();
  /// The transport reached end of stream.
  void input_eof() noexcept { eof_ = true; }
  /// Whether the transport has reached end of stream.
  [[nodiscard]] bool at_eof() const noexcept { return eof_; }

  /// Engine → transport.
  [[nodiscard]] std::span<const std::uint8_t> output() const noexcept;
  void consume_output(std::size_t n) noexcept;
  /// Moves all pending output into `out` (which is cleared first); lets a stream write it
  /// while the engine keeps producing.
  void take_output(std::vector<std::uint8_t>& out);

  /// Exchanges the storage of the (empty) output buffer with `spare`: a transport that writes
  /// the output out before it waits lends a per-thread buffer for an operation and takes it
  /// back afterwards, so the connection holds none between operations. Pending output stays.
  void swap_output_storage(std::vector<std::uint8_t>& spare) noexcept;

  [[nodiscard]] bool handshake_done() const noexcept { return handshake_done_; }
  /// Bytes already decrypted or buffered, so a read can complete without the transport.
  [[nodiscard]] bool has_pending_input() const noexcept;
  [[nodiscard]] connection_info info() const;
  /// The peer's chain, leaf first (empty when none was sent).
  [[nodiscard]] std::vector<pki::certificate> peer_certificates() const;
  /// The alert this engine sent when it failed (0 = none).
  [[nodiscard]] std::uint8_t alert_sent() const noexcept { return alert_sent_; }
  /// Releases buffers of an idle connection (keeps memory per idle connection small).
  void shrink() noexcept;

  struct impl;  // internal

 private:
  want finish(int rc, std::error_code& ec);
  void remember_tail(std::span<const std::uint8_t> bytes) noexcept;
  [[nodiscard]] std::size_t buffered_input() const noexcept {
    return in_.size() - in_begin_ + lent_size_;
  }
  [[nodiscard]] std::optional<std::uint8_t> plaintext_alert() const noexcept;

  std::unique_ptr<impl> impl_;
  std::vector<std::uint8_t> in_;
  std::size_t in_begin_ = 0;
  std::size_t pending_ = 0;
  const std::uint8_t* lent_ = nullptr;  // lend_input: bytes read after in_'s
  std::size_t lent_size_ = 0;
  std::vector<std::uint8_t> out_;
  std::size_t out_begin_ = 0;
  std::array<std::uint8_t, 32> tail_{};  // the last bytes received (see handshake())
  std::size_t tail_len_ = 0;
  bool eof_ = false;
  bool handshake_done_ = false;
  std::uint8_t alert_sent_ = 0;

  friend struct impl;
};

}  // namespace detail
}  // namespace moat::tls
