#include "moat/framing/packet_mode.hpp"

#include <string>

#include "moat/error.hpp"
#include "moat/framing/errors.hpp"

namespace moat::framing {

std::string_view to_string(packet_mode m) noexcept {
  switch (m) {
    case packet_mode::raw:
      return "raw";
    case packet_mode::u8:
      return "1";
    case packet_mode::u16:
      return "2";
    case packet_mode::u32:
      return "4";
    case packet_mode::line:
      return "line";
  }
  return "unknown";
}

packet_mode parse_packet_mode(std::string_view text) {
  if (text == "raw" || text == "0") return packet_mode::raw;
  if (text == "1" || text == "u8") return packet_mode::u8;
  if (text == "2" || text == "u16") return packet_mode::u16;
  if (text == "4" || text == "u32") return packet_mode::u32;
  if (text == "line") return packet_mode::line;
  throw config_error("packet", make_error_code(errc::invalid_mode),
                     "got '" + std::string(text) + "'");
}

}  // namespace moat::framing
