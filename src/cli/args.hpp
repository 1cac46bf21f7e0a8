#pragma once
// Command-line values shared by the subcommands, parsed with errors that name the option.

#include <cstdint>
#include <moat/pki/key.hpp>
#include <string>
#include <vector>

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

/// The values --key-type accepts: p256, p384, ed25519, rsa2048, rsa3072, rsa4096.
[[nodiscard]] const std::vector<std::string>& key_type_names();

/// A fresh key of the type named `name` (one of key_type_names()). Throws moat::config_error
/// (`unsupported_key_type`) naming `option` and the value for any other name.
[[nodiscard]] pki::private_key generate_key(const std::string& name,
                                            const std::string& option = "--key-type");

}  // namespace moat::cli
