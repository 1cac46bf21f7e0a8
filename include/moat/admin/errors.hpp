#pragma once
/// @file
/// Error codes of the admin endpoint's configuration (`moat::admin::errc`, category
/// "moat.admin"), carried by the moat::config_error its constructor throws.
#include <system_error>

namespace moat::admin {

/// Values start at 1 so that a default-constructed `std::error_code` means success.
enum class errc {
  /// No address to listen on was given.
  no_address = 1,
  /// An address that is not loopback (0.0.0.0 and :: included) without `allow_remote`.
  not_loopback,
  /// A bearer token that is empty after trimming, or has characters a header cannot carry.
  bad_token,
};

/// The category of `errc`; its name is "moat.admin". Thread-safe.
[[nodiscard]] const std::error_category& category() noexcept;

/// Wraps `e` in a `std::error_code` of `category()`.
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace moat::admin

/// Lets `moat::admin::errc` convert implicitly to `std::error_code`.
template <>
struct std::is_error_code_enum<moat::admin::errc> : std::true_type {};
