#pragma once
// The subcommands of the `moat` command. Each registers itself on the CLI11 app; its
// callback does the work and throws on failure (see main.cpp for the exit-code contract:
// 0 ok, 1 runtime failure, 2 usage or configuration error; the message goes to stderr).

#include <CLI/CLI.hpp>

namespace moat::cli {

/// `moat cert self-signed | show | check`
void register_cert_commands(CLI::App& app);
/// `moat cert ca | issue` (a private CA and the certificates it signs), under `cert`.
void register_cert_ca_commands(CLI::App& cert);
/// `moat cert obtain | revoke | renewal-info` (ACME), under the `cert` subcommand.
void register_acme_cert_commands(CLI::App& cert);
/// `moat connect HOST:PORT ...`
void register_connect_command(CLI::App& app);
/// `moat serve ...`
void register_serve_command(CLI::App& app);
/// `moat ca serve | root | issue`
void register_ca_commands(CLI::App& app);
/// `moat node start | ping | send | names` (Erlang distribution over TLS)
void register_node_commands(CLI::App& app);

/// Thrown by a command for a runtime failure (exit code 1). Configuration problems throw
/// moat::config_error (exit code 2).
struct runtime_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Thrown by a command that already reported its failure on stderr: exit with this code.
struct exit_code {
  int value;
};

}  // namespace moat::cli
