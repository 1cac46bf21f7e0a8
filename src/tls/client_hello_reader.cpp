// Reads the first ClientHello from the bytes a server received (see client_hello_reader.hpp).
// The extension block is walked by the TLS library's own raw parser; the two extensions read
// here (server_name, RFC 6066; application_layer_protocol_negotiation, RFC 7301) are checked
// byte by byte against their declared lengths.
#include <gnutls/gnutls.h>

#include <moat/tls/detail/client_hello_reader.hpp>

namespace moat::tls::detail {
namespace {

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHello = 1;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kHandshakeHeader = 4;
constexpr std::size_t kMaxFragment = 16384;  // TLSPlaintext.length limit (RFC 8446 5.1)
constexpr unsigned kServerName = 0;
constexpr unsigned kAlpn = 16;
constexpr int kMalformed = GNUTLS_E_UNEXPECTED_EXTENSIONS_LENGTH;

std::size_t u16(const std::uint8_t* p) {
  return static_cast<std::size_t>(p[0]) << 8U | p[1];
}

/// A host name as RFC 6066 sends it: ASCII labels of letters, digits, '-' and '_', 1..63
/// bytes each, separated by dots, no trailing dot, at most 253 bytes. Lower-cased. Anything
/// else is refused: the name goes to user code (a file name, a store key), so nothing
/// else may reach it.
bool host_name(const std::uint8_t* p, std::size_t n, std::string& out) {
  if (n == 0 || n > 253) return false;
  out.clear();
  std::size_t label = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<char>(p[i]);
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      if (!ok || ++label > 63) return false;
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    out.push_back(c);
  }
  return label != 0;
}

struct extensions {
  client_hello* out;
  bool seen_sni = false;
  bool seen_alpn = false;
};

// ServerNameList: uint16 length, then { uint8 type; uint16 length; bytes } entries.
int read_server_name(extensions& x, const std::uint8_t* p, std::size_t n) {
  if (x.seen_sni) return kMalformed;  // one extension of a type (RFC 8446 4.2)
  x.seen_sni = true;
  if (n < 2 || u16(p) != n - 2 || n == 2) return kMalformed;
  std::size_t i = 2;
  bool named = false;
  while (i < n) {
    if (n - i < 3) return kMalformed;
    const std::uint8_t type = p[i];
    const std::size_t len = u16(p + i + 1);
    i += 3;
    if (n - i < len) return kMalformed;
    if (type == 0) {  // host_name; one name per type (RFC 6066 3)
      if (named || !host_name(p + i, len, x.out->server_name)) return kMalformed;
      named = true;
    }
    i += len;
  }
  return 0;
}

// ProtocolNameList: uint16 length, then { uint8 length (at least 1); bytes } entries.
int read_alpn(extensions& x, const std::uint8_t* p, std::size_t n) {
  if (x.seen_alpn) return kMalformed;
  x.seen_alpn = true;
  if (n < 2 || u16(p) != n - 2 || n == 2) return kMalformed;
  std::size_t i = 2;
  while (i < n) {
    const std::size_t len = p[i++];
    if (len == 0 || n - i < len) return kMalformed;
    x.out->alpn.emplace_back(reinterpret_cast<const char*>(p + i), len);
    i += len;
  }
  return 0;
}

int on_extension(void* ctx, unsigned tls_id, const unsigned char* data, unsigned size) {
  auto& x = *static_cast<extensions*>(ctx);
  if (tls_id == kServerName) return read_server_name(x, data, size);
  if (tls_id == kAlpn) return read_alpn(x, data, size);
  return 0;
}

}  // namespace

client_hello_reader::status client_hello_reader::read(std::span<const std::uint8_t> received) {
  while (status_ == status::incomplete) {
    if (received.size() < pos_ || received.size() - pos_ < kRecordHeader) break;
    const std::uint8_t* r = received.data() + pos_;
    const std::size_t len = u16(r + 3);
    // A handshake record (any TLS record version 3.x) of 1..2^14 bytes; anything else (an
    // SSL 2 hello, an alert, garbage) is the TLS library's to refuse.
    if (r[0] != kHandshakeRecord || r[1] != 3 || len == 0 || len > kMaxFragment) {
      status_ = status::unreadable;
      break;
    }
    if (received.size() - pos_ - kRecordHeader < len) break;
    if (msg_.size() + len > kHandshakeHeader + max_hello_size + kMaxFragment) {
      status_ = status::unreadable;
      break;
    }
    msg_.insert(msg_.end(), r + kRecordHeader, r + kRecordHeader + len);
    pos_ += kRecordHeader + len;
    if (msg_.size() < kHandshakeHeader) continue;
    const std::size_t body = static_cast<std::size_t>(msg_[1]) << 16U | u16(msg_.data() + 2);
    if (msg_[0] != kClientHello || body > max_hello_size) {
      status_ = status::unreadable;
      break;
    }
    if (msg_.size() - kHandshakeHeader < body) continue;
    status_ = parse({msg_.data() + kHandshakeHeader, body});
    std::vector<std::uint8_t>().swap(msg_);
  }
  return status_;
}

client_hello_reader::status client_hello_reader::parse(std::span<const std::uint8_t> body) {
  extensions x{&hello_};
  // The library's parser does not write through the pointer.
  const gnutls_datum_t datum{const_cast<unsigned char*>(body.data()),  // NOLINT
                             static_cast<unsigned>(body.size())};
  const int rc =
      gnutls_ext_raw_parse(&x, &on_extension, &datum, GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO);
  // REQUESTED_DATA_NOT_AVAILABLE: a well-formed hello without extensions.
  if (rc < 0 && rc != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
    hello_ = {};
    return status::unreadable;
  }
  return status::complete;
}

}  // namespace moat::tls::detail
