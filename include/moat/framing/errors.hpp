#pragma once
/// @file
/// Error codes of the framing part (`moat::framing::errc`) and their category.

#include <system_error>

namespace moat::framing {

/// What went wrong while cutting a byte stream into frames, or while building a frame.
/// Every value has its own message (`category().message(v)`); values start at 1 so that a
/// default-constructed `std::error_code` always means success.
enum class errc {
  /// A length prefix declared a frame longer than the maximum packet size. Reported as soon
  /// as the header is seen, before the payload is buffered.
  frame_too_large = 1,
  /// A packet mode that is not one of raw, 0, 1, 2, 4, line (configuration).
  invalid_mode,
  /// A payload that cannot be expressed in the mode's length prefix (e.g. 256 bytes with a
  /// 1-byte prefix) or that exceeds the maximum packet size (encoding).
  payload_too_large_for_prefix,
  /// The stream ended inside a frame: a partial header, a partial payload or a line with no
  /// terminating newline.
  truncated,
  /// Line mode: a line reached the maximum line length without a newline.
  line_too_long,
  /// An active mode that is not one of false, true, once or a count (configuration).
  invalid_active_mode,
  /// The output span given to `write_header` is smaller than `header_size(mode)`.
  buffer_too_small,
};

/// The category of `errc`; its name is "moat.framing".
/// Thread-safety: a function-local static, safe to use from any thread.
[[nodiscard]] const std::error_category& category() noexcept;

/// Wraps `e` in a `std::error_code` of `category()` (found by argument-dependent lookup, so
/// `std::error_code ec = errc::truncated;` works).
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace moat::framing

/// Lets `moat::framing::errc` convert implicitly to `std::error_code`.
template <>
struct std::is_error_code_enum<moat::framing::errc> : std::true_type {};
