#include "dist/epmd_wire.hpp"

#include <algorithm>
#include <charconv>

namespace moat::dist::epmd_wire {
namespace {

void put16(bytes& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>((v >> 8U) & 0xffU));
  out.push_back(static_cast<std::uint8_t>(v & 0xffU));
}

void put32(bytes& out, std::uint32_t v) {
  for (unsigned shift : {24U, 16U, 8U, 0U}) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void put_text(bytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

std::uint16_t get16(std::span<const std::uint8_t> in, std::size_t at) {
  return static_cast<std::uint16_t>((in[at] << 8U) | in[at + 1]);
}

std::string text(std::span<const std::uint8_t> in, std::size_t at, std::size_t n) {
  return {reinterpret_cast<const char*>(in.data() + at), n};
}

// Prefixes `body` with its 2-byte length.
bytes framed(const bytes& body) {
  bytes out;
  out.reserve(body.size() + 2);
  put16(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

template <class T>
parsed<T> malformed(std::string why) {
  parsed<T> p;
  p.state = parse_state::malformed;
  p.why = std::move(why);
  return p;
}

// Parses the node fields at `at` (port onwards) to the end of `in`; how many bytes they took,
// 0 if they run past the end of `in`.
std::size_t parse_node_fields(std::span<const std::uint8_t> in, std::size_t at, node_fields& f) {
  if (in.size() < at + 10) return 0;
  f.port = get16(in, at);
  f.node_type = in[at + 2];
  f.protocol = in[at + 3];
  f.highest_version = get16(in, at + 4);
  f.lowest_version = get16(in, at + 6);
  const std::size_t nlen = get16(in, at + 8);
  if (in.size() < at + 10 + nlen + 2) return 0;
  f.name = text(in, at + 10, nlen);
  const std::size_t elen = get16(in, at + 10 + nlen);
  const std::size_t end = at + 12 + nlen + elen;
  if (in.size() < end) return 0;
  f.extra = text(in, at + 12 + nlen, elen);
  return end - at;
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t chars = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (b < 0x80U) {
      n = 1;
      cp = b;
    } else if ((b & 0xe0U) == 0xc0U) {
      n = 2;
      cp = b & 0x1fU;
    } else if ((b & 0xf0U) == 0xe0U) {
      n = 3;
      cp = b & 0x0fU;
    } else if ((b & 0xf8U) == 0xf0U) {
      n = 4;
      cp = b & 0x07U;
    } else {
      return std::nullopt;
    }
    if (s.size() - i < n) return std::nullopt;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0U) != 0x80U) return std::nullopt;
      cp = (cp << 6U) | (c & 0x3fU);
    }
    constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffffU || (cp >= 0xd800U && cp <= 0xdfffU)) return std::nullopt;
    i += n;
    ++chars;
  }
  return chars;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_symbol_bytes) return false;
  if (name.find('\0') != std::string_view::npos) return false;
  const auto n = utf8_length(name);
  return n && *n <= max_name_chars;
}

bytes encode_alive2_request(const node_fields& f) {
  bytes body;
  body.push_back(alive2_req);
  put16(body, f.port);
  body.push_back(f.node_type);
  body.push_back(f.protocol);
  put16(body, f.highest_version);
  put16(body, f.lowest_version);
  put16(body, f.name.size());
  put_text(body, f.name);
  put16(body, f.extra.size());
  put_text(body, f.extra);
  return framed(body);
}

bytes encode_port_please2_request(std::string_view name) {
  bytes body{port_please2_req};
  put_text(body, name);
  return framed(body);
}

bytes encode_command(std::uint8_t command) {
  return framed(bytes{command});
}

bytes encode_stop_request(std::string_view name) {
  bytes body{stop_req};
  put_text(body, name);
  return framed(body);
}

parsed<alive2_reply> parse_alive2_reply(std::span<const std::uint8_t> in) {
  parsed<alive2_reply> p;
  if (in.empty()) return p;
  if (in[0] != alive2_x_resp && in[0] != alive2_resp) {
    return malformed<alive2_reply>("not an ALIVE2 reply (first byte " + std::to_string(in[0]) +
                                   ")");
  }
  p.value.extended = in[0] == alive2_x_resp;
  const std::size_t size = p.value.extended ? 6 : 4;
  if (in.size() < size) return p;
  p.value.result = in[1];
  p.value.creation = p.value.extended
                         ? (std::uint32_t{in[2]} << 24U) | (std::uint32_t{in[3]} << 16U) |
                               (std::uint32_t{in[4]} << 8U) | in[5]
                         : get16(in, 2);
  p.state = parse_state::complete;
  p.used = size;
  return p;
}

parsed<port2_reply> parse_port2_reply(std::span<const std::uint8_t> in) {
  parsed<port2_reply> p;
  if (in.empty()) return p;
  if (in[0] != port2_resp) {
    return malformed<port2_reply>("not a PORT2 reply (first byte " + std::to_string(in[0]) + ")");
  }
  if (in.size() < 2) return p;
  p.value.result = in[1];
  if (p.value.result != 0) {
    p.state = parse_state::complete;
    p.used = 2;
    return p;
  }
  const std::size_t n = parse_node_fields(in, 2, p.value.node);
  if (n == 0) return p;
  p.state = parse_state::complete;
  p.used = 2 + n;
  return p;
}

parsed<names_reply> parse_names_reply(std::span<const std::uint8_t> in, bool at_end) {
  parsed<names_reply> p;
  if (in.size() > max_names_reply + 4) {
    return malformed<names_reply>("longer than " + std::to_string(max_names_reply) + " bytes");
  }
  if (!at_end) return p;
  if (in.size() < 4) return malformed<names_reply>("shorter than its 4-byte port");
  p.value.epmd_port = (std::uint32_t{in[0]} << 24U) | (std::uint32_t{in[1]} << 16U) |
                      (std::uint32_t{in[2]} << 8U) | in[3];
  std::string_view rest(reinterpret_cast<const char*>(in.data() + 4), in.size() - 4);
  constexpr std::string_view prefix = "name ";
  constexpr std::string_view middle = " at port ";
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return malformed<names_reply>("a line without its newline");
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    const auto at = line.rfind(middle);
    if (!line.starts_with(prefix) || at == std::string_view::npos || at < prefix.size()) {
      return malformed<names_reply>("a line that is not \"name N at port P\"");
    }
    const std::string_view name = line.substr(prefix.size(), at - prefix.size());
    const std::string_view digits = line.substr(at + middle.size());
    unsigned port = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    const bool leading_zero = digits.size() > 1 && digits[0] == '0';
    if (name.empty() || digits.empty() || leading_zero || ec != std::errc() ||
        ptr != digits.data() + digits.size() || port > 65535) {
      return malformed<names_reply>("a line that is not \"name N at port P\"");
    }
    p.value.names.emplace_back(std::string(name), static_cast<std::uint16_t>(port));
  }
  p.state = parse_state::complete;
  p.used = in.size();
  return p;
}

std::optional<std::size_t> request_length(std::uint8_t hi, std::uint8_t lo) {
  const std::size_t n = (std::size_t{hi} << 8U) | lo;
  if (n < 1 || n > max_request) return std::nullopt;
  return n;
}

parsed<request> parse_request(std::span<const std::uint8_t> body) {
  if (body.empty()) return malformed<request>("an empty request");
  parsed<request> p;
  p.value.command = body[0];
  switch (body[0]) {
    case alive2_req: {
      // At least one byte of name, as epmd wants.
      if (body.size() <= 13) return malformed<request>("ALIVE2_REQ too short");
      const std::size_t n = parse_node_fields(body, 1, p.value.alive2);
      if (n == 0) return malformed<request>("ALIVE2_REQ's name or extra runs past its end");
      // Bytes after the extra field are ignored, as epmd does.
      if (p.value.alive2.name.empty()) return malformed<request>("ALIVE2_REQ without a name");
      if (p.value.alive2.name.find('\0') != std::string::npos) {
        return malformed<request>("ALIVE2_REQ's name contains a NUL");
      }
      break;
    }
    case port_please2_req:
    case stop_req: {
      std::string name = text(body, 1, body.size() - 1);
      if (!name.empty() && name.back() == '\0') name.pop_back();  // old clients end with NUL
      if (!valid_name(name)) return malformed<request>("not a valid node name");
      p.value.name = std::move(name);
      break;
    }
    case names_req:
    case dump_req:
    case kill_req:
      if (body.size() != 1) return malformed<request>("bytes after a one-byte request");
      break;
    default:
      return malformed<request>("unknown request " + std::to_string(body[0]));
  }
  p.state = parse_state::complete;
  p.used = body.size();
  return p;
}

bytes encode_alive2_reply(std::uint8_t result, std::uint32_t creation, bool extended) {
  bytes out{extended ? alive2_x_resp : alive2_resp, result};
  if (extended) {
    put32(out, creation);
  } else {
    put16(out, creation & 0xffffU);
  }
  return out;
}

bytes encode_port2_reply(const node_fields* node) {
  bytes out{port2_resp, static_cast<std::uint8_t>(node == nullptr ? 1 : 0)};
  if (node == nullptr) return out;
  put16(out, node->port);
  out.push_back(node->node_type);
  out.push_back(node->protocol);
  put16(out, node->highest_version);
  put16(out, node->lowest_version);
  put16(out, node->name.size());
  put_text(out, node->name);
  put16(out, node->extra.size());
  put_text(out, node->extra);
  return out;
}

bytes encode_port_header(std::uint32_t epmd_port) {
  bytes out;
  put32(out, epmd_port);
  return out;
}

std::string names_line(std::string_view name, std::uint16_t port) {
  return "name " + std::string(name) + " at port " + std::to_string(port) + "\n";
}

std::string dump_line(std::string_view name, std::uint16_t port, int fd) {
  std::string s = "active name     <" + std::string(name) + "> at port " + std::to_string(port) +
                  ", fd = " + std::to_string(fd) + "\n";
  s.push_back('\0');
  return s;
}

}  // namespace moat::dist::epmd_wire
