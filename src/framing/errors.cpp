#include "moat/framing/errors.hpp"

#include <string>

namespace moat::framing {
namespace {

class framing_category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "moat.framing"; }

  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::frame_too_large:
        return "frame too large: the length prefix declares more than the maximum packet size";
      case errc::invalid_mode:
        return "invalid packet mode (valid values: raw, 0, 1, 2, 4, line)";
      case errc::payload_too_large_for_prefix:
        return "payload too large for the packet mode's length prefix or maximum packet size";
      case errc::truncated:
        return "stream truncated: it ended inside a frame";
      case errc::line_too_long:
        return "line too long: no newline within the maximum line length";
      case errc::invalid_active_mode:
        return "invalid active mode (valid values: false, true, once, or a count 1..32767)";
      case errc::buffer_too_small:
        return "buffer too small for the frame header";
    }
    return "unknown framing error " + std::to_string(value);
  }

  [[nodiscard]] std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::frame_too_large:
      case errc::payload_too_large_for_prefix:
      case errc::line_too_long:
        return std::errc::message_size;
      case errc::invalid_mode:
      case errc::invalid_active_mode:
        return std::errc::invalid_argument;
      case errc::buffer_too_small:
        return std::errc::no_buffer_space;
      case errc::truncated:
        break;
    }
    return {value, *this};
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const framing_category instance;
  return instance;
}

}  // namespace moat::framing
