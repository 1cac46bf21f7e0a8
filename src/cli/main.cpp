// The `moat` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
#include <fmt/core.h>

#include <cstdio>
#include <exception>
#include <moat/dist/node.hpp>
#include <moat/error.hpp>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  // Freed message buffers stay in the heap for the next message (node.hpp).
  (void)moat::dist::tune_allocator();
  CLI::App app{"moat: TLS services the Erlang/OTP way", "moat"};
  app.require_subcommand(1);
  moat::cli::register_cert_commands(app);
  moat::cli::register_connect_command(app);
  moat::cli::register_serve_command(app);
  moat::cli::register_ca_commands(app);
  moat::cli::register_node_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const moat::config_error& e) {
    fmt::print(stderr, "moat: {}\n", e.what());
    return 2;
  } catch (const moat::cli::exit_code& e) {
    return e.value;
  } catch (const moat::cli::runtime_failure& e) {
    fmt::print(stderr, "moat: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "moat: {}\n", e.what());
    return 1;
  }
  return 0;
}
