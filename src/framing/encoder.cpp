#include "moat/framing/encoder.hpp"

namespace moat::framing {

std::error_code check_payload_size(const options& o, std::size_t len) noexcept {
  if (len > max_prefix_length(o.mode) || len > effective_max_packet_size(o)) {
    return errc::payload_too_large_for_prefix;
  }
  return {};
}

namespace {

// Writes `len` big-endian into the `n` bytes at `out`; `len` is known to fit.
void put_length(std::uint8_t* out, std::size_t n, std::size_t len) noexcept {
  for (std::size_t i = n; i > 0; --i) {
    out[i - 1] = static_cast<std::uint8_t>(len & 0xffU);
    len >>= 8U;
  }
}

}  // namespace

std::error_code write_header(const options& o, std::size_t len,
                             std::span<std::uint8_t> out) noexcept {
  if (auto ec = check_payload_size(o, len)) return ec;
  const std::size_t n = header_size(o.mode);
  if (out.size() < n) return errc::buffer_too_small;
  put_length(out.data(), n, len);
  return {};
}

std::error_code write_header(packet_mode mode, std::size_t len,
                             std::span<std::uint8_t> out) noexcept {
  return write_header(options{mode, 0}, len, out);
}

std::error_code encode(const options& o, std::span<const std::uint8_t> payload,
                       std::vector<std::uint8_t>& out) {
  if (auto ec = check_payload_size(o, payload.size())) return ec;
  const std::size_t n = header_size(o.mode);
  const std::size_t at = out.size();
  out.reserve(at + n + payload.size());
  out.resize(at + n);
  put_length(out.data() + at, n, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  return {};
}

std::error_code encode(packet_mode mode, std::span<const std::uint8_t> payload,
                       std::vector<std::uint8_t>& out) {
  return encode(options{mode, 0}, payload, out);
}

}  // namespace moat::framing
