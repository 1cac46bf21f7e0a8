#include "moat/framing/delivery.hpp"

#include <charconv>

#include "moat/error.hpp"
#include "moat/framing/errors.hpp"

namespace moat::framing {

std::string_view to_string(delivery d) noexcept {
  switch (d) {
    case delivery::passive:
      return "false";
    case delivery::active:
      return "true";
    case delivery::once:
      return "once";
    case delivery::count:
      return "count";
  }
  return "unknown";
}

std::string to_string(const active_mode& a) {
  if (a.mode == delivery::count) return std::to_string(a.count);
  return std::string(to_string(a.mode));
}

active_mode parse_active_mode(std::string_view text) {
  if (text == "false") return {delivery::passive, 0};
  if (text == "true") return {delivery::active, 0};
  if (text == "once") return {delivery::once, 0};
  unsigned n = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [end, ec] = std::from_chars(first, last, n);
  if (!text.empty() && ec == std::errc{} && end == last && n <= active_mode::max_count) {
    if (n == 0) return {delivery::passive, 0};
    return {delivery::count, n};
  }
  throw config_error("active", make_error_code(errc::invalid_active_mode),
                     "got '" + std::string(text) + "'");
}

}  // namespace moat::framing
