#pragma once
// The EPMD protocol's messages as bytes, without I/O: builders for requests and replies, and
// parsers that take the bytes received so far and say whether they make a complete message,
// need more, or can never be one. Shared by the client (epmd_client.cpp), the embedded server
// (epmd_server.cpp) and the fuzz target (fuzz/dist_epmd_entry.hpp). Pure functions.
//
// Every request is a 2-byte big-endian length followed by the request; replies have no length
// (EPMD closes the connection after a PORT2/NAMES/DUMP reply; an ALIVE2 reply has a fixed
// size and the connection stays open).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat::dist::epmd_wire {

inline constexpr std::uint8_t alive2_req = 120;        // 'x'
inline constexpr std::uint8_t alive2_x_resp = 118;     // 'v', 32-bit creation (version 6)
inline constexpr std::uint8_t alive2_resp = 121;       // 'y', 16-bit creation (version 5)
inline constexpr std::uint8_t port_please2_req = 122;  // 'z'
inline constexpr std::uint8_t port2_resp = 119;        // 'w'
inline constexpr std::uint8_t names_req = 110;         // 'n'
inline constexpr std::uint8_t dump_req = 100;          // 'd'
inline constexpr std::uint8_t kill_req = 107;          // 'k'
inline constexpr std::uint8_t stop_req = 115;          // 's'

/// The longest name or extra field in bytes (255 characters of up to 4 UTF-8 bytes), as
/// epmd's MAXSYMLEN.
inline constexpr std::size_t max_symbol_bytes = 255 * 4;
/// The longest name in characters (an atom's limit).
inline constexpr std::size_t max_name_chars = 255;
/// The longest request body epmd accepts (its input buffer is 3 * MAXSYMLEN, length included).
inline constexpr std::size_t max_request = 3 * max_symbol_bytes - 3;
/// The most a client reads of a NAMES reply (about 30000 names).
inline constexpr std::size_t max_names_reply = std::size_t{1} << 20;

using bytes = std::vector<std::uint8_t>;

/// What a node registers (ALIVE2_REQ) and what PORT2_RESP reports.
struct node_fields {
  std::uint16_t port = 0;
  std::uint8_t node_type = 77;
  std::uint8_t protocol = 0;
  std::uint16_t highest_version = 6;
  std::uint16_t lowest_version = 6;
  std::string name{};
  std::string extra{};
  friend bool operator==(const node_fields&, const node_fields&) = default;
};

/// The number of characters of `s` if it is valid UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF), else nullopt.
[[nodiscard]] std::optional<std::size_t> utf8_length(std::string_view s);

/// Whether EPMD can register `name`: 1 to 255 UTF-8 characters, at most max_symbol_bytes, no
/// NUL.
[[nodiscard]] bool valid_name(std::string_view name);

// ---- requests (with their length prefix) ----------------------------------------------------

/// ALIVE2_REQ. Precondition: valid_name(f.name) and f.extra.size() <= max_symbol_bytes.
[[nodiscard]] bytes encode_alive2_request(const node_fields& f);
/// PORT_PLEASE2_REQ. Precondition: valid_name(name).
[[nodiscard]] bytes encode_port_please2_request(std::string_view name);
/// A request that is its command alone: NAMES_REQ, DUMP_REQ, KILL_REQ.
[[nodiscard]] bytes encode_command(std::uint8_t command);
/// STOP_REQ. Precondition: valid_name(name).
[[nodiscard]] bytes encode_stop_request(std::string_view name);

// ---- parsing ----------------------------------------------------------------------------------

enum class parse_state { incomplete, complete, malformed };

/// A parser's verdict on the bytes so far; `value` is meaningful when complete, `why` when
/// malformed.
template <class T>
struct parsed {
  parse_state state = parse_state::incomplete;
  T value{};
  std::string why{};
  /// Bytes the complete message took (the rest, if any, came after it).
  std::size_t used = 0;
};

/// ALIVE2_X_RESP or ALIVE2_RESP.
struct alive2_reply {
  std::uint8_t result = 0;     ///< 0 = registered
  std::uint32_t creation = 0;  ///< 32 bits from ALIVE2_X_RESP, 16 from ALIVE2_RESP
  bool extended = false;       ///< ALIVE2_X_RESP
};
[[nodiscard]] parsed<alive2_reply> parse_alive2_reply(std::span<const std::uint8_t> in);

/// PORT2_RESP: `result` 0 and the node, or a non-zero result alone.
struct port2_reply {
  std::uint8_t result = 0;
  node_fields node{};
};
[[nodiscard]] parsed<port2_reply> parse_port2_reply(std::span<const std::uint8_t> in);

/// NAMES_RESP: EPMD's port, then "name N at port P\n" lines. It ends when EPMD closes, so
/// pass `at_end` once the stream has ended; before, the answer is incomplete (or malformed
/// once it is longer than max_names_reply).
struct names_reply {
  std::uint32_t epmd_port = 0;
  std::vector<std::pair<std::string, std::uint16_t>> names{};
};
[[nodiscard]] parsed<names_reply> parse_names_reply(std::span<const std::uint8_t> in, bool at_end);

/// A request body as a server sees it (the length prefix already removed).
struct request {
  std::uint8_t command = 0;
  node_fields alive2{};  ///< ALIVE2_REQ's fields
  std::string name{};    ///< PORT_PLEASE2_REQ's and STOP_REQ's name
};
/// Never incomplete: complete or malformed (an unknown command, a field past the end, a NUL
/// in a name, a PORT_PLEASE2 name that is not valid_name()). An ALIVE2 name that is too long
/// or not UTF-8 parses: the server refuses it with a reply, as epmd does.
[[nodiscard]] parsed<request> parse_request(std::span<const std::uint8_t> body);

/// The request length a 2-byte prefix announces, if a server accepts it (1..max_request).
[[nodiscard]] std::optional<std::size_t> request_length(std::uint8_t hi, std::uint8_t lo);

// ---- replies ----------------------------------------------------------------------------------

[[nodiscard]] bytes encode_alive2_reply(std::uint8_t result, std::uint32_t creation, bool extended);
/// PORT2_RESP for `node`, or the "not registered" reply (result 1) when null.
[[nodiscard]] bytes encode_port2_reply(const node_fields* node);
/// NAMES_RESP's and DUMP_RESP's first 4 bytes.
[[nodiscard]] bytes encode_port_header(std::uint32_t epmd_port);
/// "name <name> at port <port>\n".
[[nodiscard]] std::string names_line(std::string_view name, std::uint16_t port);
/// DUMP_RESP's line for a registered node, NUL-terminated as epmd sends it.
[[nodiscard]] std::string dump_line(std::string_view name, std::uint16_t port, int fd);

}  // namespace moat::dist::epmd_wire
