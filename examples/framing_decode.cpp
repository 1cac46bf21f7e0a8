// Decodes a stream of 2-byte length-prefixed messages ({packet, 2}) arriving in arbitrary
// chunks, the way a socket drives moat::framing: read into the decoder, then drain next().
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <moat/framing/framing.hpp>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace framing = moat::framing;

int main() {
  // The sending side: encode three messages, as a peer with {packet, 2} would send them.
  std::vector<std::uint8_t> wire;
  for (std::string_view msg : {"hello", "", "framed world"}) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(msg.data());
    if (auto ec = framing::encode(framing::packet_mode::u16, {p, msg.size()}, wire)) {
      std::fprintf(stderr, "encode: %s\n", ec.message().c_str());
      return 1;
    }
  }

  // The receiving side: the option values as a configuration would give them.
  framing::decoder dec({framing::parse_packet_mode("2"), 1024});
  std::size_t pos = 0;
  while (pos < wire.size()) {
    // A socket would read up to `room` bytes straight into the decoder; here, 3 at a time.
    const std::size_t room = std::max<std::size_t>(dec.wanted(), 3);
    std::span<std::uint8_t> space = dec.prepare(room);
    const std::size_t n = std::min<std::size_t>({3, room, wire.size() - pos});
    std::copy_n(wire.begin() + static_cast<std::ptrdiff_t>(pos), n, space.begin());
    dec.commit(n);
    pos += n;

    std::error_code ec;
    while (auto frame = dec.next(ec)) {
      std::printf("message of %zu bytes: '%.*s'\n", frame->size(), static_cast<int>(frame->size()),
                  reinterpret_cast<const char*>(frame->data()));
    }
    if (ec) {
      std::fprintf(stderr, "decode: %s\n", ec.message().c_str());
      return 1;
    }
  }
  std::error_code ec;
  dec.finish(ec);  // end of stream: was it cut inside a message?
  if (ec) {
    std::fprintf(stderr, "end of stream: %s\n", ec.message().c_str());
    return 1;
  }
  return 0;
}
