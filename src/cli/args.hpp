#pragma once
// Command-line values shared by the subcommands, parsed with errors that name the option.

#include <cstdint>
#include <string>

namespace moat::cli {

/// "host:port" or "[v6]:port".
struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

/// Splits `text` (the value of `option`) into host and port. Throws moat::config_error naming
/// the option and the value. Port 0 is accepted only if `allow_port_zero`.
[[nodiscard]] host_port split_host_port(const std::string& text, const std::string& option,
                                        bool allow_port_zero);

/// The password in the first line of `path` (the value of --password-file). Throws
/// moat::config_error: missing, unreadable or empty file.
[[nodiscard]] std::string read_password_file(const std::string& path);

}  // namespace moat::cli
