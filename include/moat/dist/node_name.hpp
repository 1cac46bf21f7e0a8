#pragma once
/// @file
/// Node names as Erlang has them: `name@host`, short (`-sname`, host without dots) or long
/// (`-name`, a fully qualified host or an IP address).

#include <optional>
#include <string>
#include <string_view>

namespace moat::dist {

/// Whether a node uses short names (`-sname`) or long names (`-name`). Nodes only connect to
/// nodes of the same mode, as Erlang's do.
enum class name_mode { short_names, long_names };

/// A node name split at its `@`. Value type.
struct node_name {
  std::string name{};  ///< the part before `@` ("alive" name), what EPMD registers
  std::string host{};  ///< the part after `@`: a host name or an IP address

  /// `name@host`.
  [[nodiscard]] std::string full() const { return name + '@' + host; }
  friend bool operator==(const node_name&, const node_name&) = default;
};

/// Splits a peer's `name@host` and checks its shape (a name of letters, digits, `_` and `-`;
/// a non-empty host without spaces or control characters); `nullopt` if it is not one.
[[nodiscard]] std::optional<node_name> parse_node_name(std::string_view full);

/// The name of a local node from what a user gave (`--name`): `name` alone takes this
/// machine's host name (its first label for short names, the fully qualified name for long
/// names, as `erl -sname` / `erl -name` do), `name@host` is checked against the mode.
/// @throws moat::config_error naming `option` and the reason.
[[nodiscard]] node_name make_local_name(std::string_view given, name_mode mode,
                                        std::string_view option = "--name");

/// "host:port" as moat's messages write an endpoint, an IPv6 address in brackets
/// ("[::1]:4369").
[[nodiscard]] std::string endpoint_text(std::string_view host, unsigned port);

/// Whether `host` fits the mode: no dot for short names; a dot or an IP address for long ones.
[[nodiscard]] bool host_fits(std::string_view host, name_mode mode);

}  // namespace moat::dist
