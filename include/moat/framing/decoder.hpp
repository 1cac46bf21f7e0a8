#pragma once
/// @file
/// The framing decoder: fed the bytes of a stream, yields its frames. Does no I/O.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <system_error>

#include "moat/framing/errors.hpp"
#include "moat/framing/packet_mode.hpp"

namespace moat::framing {

/// Cuts a byte stream into frames according to `options` (Erlang's `{packet, N}` and
/// `packet_size`).
///
/// Usage: give it bytes with `feed` (copies) or `prepare` + `commit` (a socket reads straight
/// into the decoder's buffer), then call `next` until it returns `std::nullopt`; at the end of
/// the stream call `finish` to learn whether it ended inside a frame.
///
/// Errors are reported through `std::error_code` (category `moat::framing::category()`), never
/// by exceptions; after an error the decoder stays failed (every `next` repeats the error,
/// further bytes are discarded) until `reset`.
///
/// Memory: the decoder owns one buffer. Consumed bytes are reclaimed (the buffer is compacted
/// instead of grown when that suffices), and a frame longer than the limit is rejected as soon
/// as its header is seen, so with a caller that drains `next` after each read the buffer never
/// holds more than one maximal frame (header included) plus one read chunk.
///
/// Thread-safety: none; one decoder per connection, used by one thread (or strand) at a time.
class decoder {
 public:
  /// A decoder for `o` (by default raw mode). Allocates nothing until bytes arrive.
  explicit decoder(options o = {}) noexcept;

  /// Not copyable: a decoder owns its buffer and the frame views point into it.
  decoder(const decoder&) = delete;
  /// Not copyable (see the copy constructor).
  decoder& operator=(const decoder&) = delete;
  /// Moves the buffer and the state; the moved-from decoder is empty, with the same options.
  decoder(decoder&& other) noexcept;
  /// Moves the buffer and the state; the moved-from decoder is empty, with the same options.
  decoder& operator=(decoder&& other) noexcept;
  /// Frees the buffer; views returned by `next` become invalid.
  ~decoder();

  /// Appends a copy of `bytes` to the buffer. Invalidates the view returned by `next`.
  /// Discards the bytes if the decoder has failed.
  void feed(std::span<const std::uint8_t> bytes);

  /// Zero-copy input, step 1: returns writable space for at least `n` bytes at the end of the
  /// buffered data; the span is owned by the decoder and valid until the next call to any
  /// non-const member. Read into it, then `commit` the number of bytes written.
  /// Invalidates the view returned by `next`.
  [[nodiscard]] std::span<std::uint8_t> prepare(std::size_t n);

  /// Zero-copy input, step 2: makes the first `n` bytes of the last `prepare` span part of the
  /// buffered data. `n` larger than the prepared size is clamped to it; a commit without a
  /// prepare adds nothing.
  void commit(std::size_t n) noexcept;

  /// The next complete frame: for length-prefixed modes the payload without its header, for
  /// line mode the line with its '\n', for raw mode everything buffered (if any).
  /// The view points into the decoder's buffer and stays valid until the next call to `feed`,
  /// `prepare`, `next`, `reset`, `shrink_to_fit` or the decoder's destruction.
  /// @return the frame; or `std::nullopt` with `ec` cleared when more bytes are needed; or
  /// `std::nullopt` with `ec` set (`frame_too_large`, `line_too_long`, or an earlier error)
  /// once the stream is invalid.
  [[nodiscard]] std::optional<std::span<const std::uint8_t>> next(std::error_code& ec) noexcept;

  /// Declares the end of the stream. Call it after `next` returned `std::nullopt`.
  /// Sets `ec` to `errc::truncated` if bytes of an incomplete frame are buffered (not in raw
  /// mode, where any bytes are a frame), to the decoder's error if it has failed, else clears
  /// it. A truncated stream leaves the decoder failed.
  void finish(std::error_code& ec) noexcept;

  /// Bytes buffered and not yet returned by `next`.
  [[nodiscard]] std::size_t buffered() const noexcept;

  /// The bytes buffered and not yet returned by `next` (e.g. to hand them to a decoder of
  /// another mode when a connection switches framing). Valid until the next non-const call.
  [[nodiscard]] std::span<const std::uint8_t> buffered_bytes() const noexcept;

  /// A hint for the next read: the bytes still needed to complete the current frame (for
  /// length-prefixed modes, the rest of the header, then the rest of the payload). Always at
  /// least 1; 1 when it cannot be known (raw, line) or when a frame is ready or invalid.
  [[nodiscard]] std::size_t wanted() const noexcept;

  /// The size of the buffer currently allocated, in bytes (for tests and metrics).
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// True once the stream was found invalid (see `error`).
  [[nodiscard]] bool failed() const noexcept { return static_cast<bool>(error_); }

  /// The error that failed the decoder, or an empty code.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  /// Starts over with `o`: drops buffered bytes and any error; keeps the allocated buffer.
  void reset(options o) noexcept;

  /// Releases what the buffer does not need for the bytes still buffered (all of it when
  /// nothing is buffered), e.g. when a connection goes idle after a large frame.
  void shrink_to_fit();

  /// The options given to the constructor or to `reset`.
  [[nodiscard]] const options& opts() const noexcept { return opts_; }

  /// The limit enforced, as computed by `effective_max_packet_size(opts())`.
  [[nodiscard]] std::size_t max_packet_size() const noexcept { return limit_; }

 private:
  void release_frame() noexcept;
  void fail(errc e) noexcept;
  void ensure_space(std::size_t n);
  [[nodiscard]] std::uint64_t read_length(const std::uint8_t* p) const noexcept;

  options opts_;
  std::size_t limit_ = 0;
  std::size_t header_ = 0;
  std::unique_ptr<std::uint8_t[]> buf_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;     // first unconsumed byte
  std::size_t end_ = 0;       // one past the last buffered byte
  std::size_t consume_ = 0;   // bytes of the frame last returned, dropped on the next call
  std::size_t prepared_ = 0;  // bytes offered by the last prepare
  std::size_t scanned_ = 0;   // line mode: bytes after begin_ known to hold no '\n'
  std::error_code error_;
};

}  // namespace moat::framing
