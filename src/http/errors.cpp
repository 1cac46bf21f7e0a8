// The http error category: a distinct message for every code, and the portable conditions.
#include <moat/http/errors.hpp>
#include <string>

namespace moat::http {
namespace {

class http_category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "moat.http"; }

  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_url:
        return "invalid URL: not an absolute http:// or https:// URL with a host";
      case errc::unsupported_scheme:
        return "unsupported URL scheme (only http and https are)";
      case errc::malformed_message:
        return "malformed HTTP message";
      case errc::header_too_large:
        return "HTTP start line and headers exceed the size limit";
      case errc::body_too_large:
        return "HTTP body exceeds the size limit";
      case errc::too_many_redirects:
        return "too many HTTP redirects (or a redirect loop)";
      case errc::timeout:
        return "HTTP exchange did not complete in time";
      case errc::closed_early:
        return "connection closed before the HTTP message was complete";
    }
    return "unknown http error " + std::to_string(value);
  }

  // Conditions only where the errno meaning fits; a redirect loop has none (ELOOP speaks of
  // symbolic links).
  [[nodiscard]] std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_url:
        return std::errc::invalid_argument;
      case errc::unsupported_scheme:
        return std::errc::protocol_not_supported;
      case errc::malformed_message:
        return std::errc::bad_message;
      case errc::header_too_large:
      case errc::body_too_large:
        return std::errc::message_size;
      case errc::timeout:
        return std::errc::timed_out;
      case errc::closed_early:
        return std::errc::connection_reset;
      case errc::too_many_redirects:
        break;
    }
    return {value, *this};
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const http_category instance;
  return instance;
}

std::string_view reason_name(errc e) noexcept {
  switch (e) {
    case errc::invalid_url:
      return "invalid_url";
    case errc::unsupported_scheme:
      return "unsupported_scheme";
    case errc::malformed_message:
      return "malformed_message";
    case errc::header_too_large:
      return "header_too_large";
    case errc::body_too_large:
      return "body_too_large";
    case errc::too_many_redirects:
      return "too_many_redirects";
    case errc::timeout:
      return "timeout";
    case errc::closed_early:
      return "closed_early";
  }
  return "unknown";
}

}  // namespace moat::http
