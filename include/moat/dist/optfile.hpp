#pragma once
/// @file
/// The TLS options of a node read from a file: Erlang's `-ssl_dist_optfile` (one term,
/// `[{server, [Opts]}, {client, [Opts]}].`), so that a moat node and an Erlang node can share
/// one file, or the same two sections as TOML tables (`[server]`, `[client]`) with the names
/// of `tls::options`.
///
/// Every option a file names is mapped or refused: nothing that bears on security is
/// silently dropped. Errors are `moat::config_error` naming the file, the section, the option
/// and the reason, e.g. `ssl_dist_optfile '/etc/app/ssl_dist.conf': server: verify_fun:
/// Operation not supported (moat cannot run an Erlang fun; ...)`.
///
/// Erlang options and what they become (docs/dist.md, "Configuration files"):
/// - `certfile`, `keyfile`, `password`, `cacertfile`, `verify` (`verify_peer` /
///   `verify_none`), `fail_if_no_peer_cert` (server), `depth`, `versions`
///   (`['tlsv1.2', 'tlsv1.3']`), `ciphers` (IANA or OpenSSL names of the AEAD suites moat
///   offers, as strings, one "A:B" string, maps `#{key_exchange, cipher, mac, prf}` or
///   tuples), `supported_groups` / `eccs` (to `groups`), `signature_algs` (TLS 1.3 names),
///   `reuse_sessions`: mapped to the `tls::options` member of that name.
/// - `secure_renegotiate`, `honor_cipher_order`, `server_name_indication`,
///   `customize_hostname_check`, `log_level`: accepted, with no effect, because moat does it
///   its own (stricter) way: it never renegotiates and requires RFC 5746 from TLS 1.2 peers,
///   its servers prefer their own cipher order, and a node sends the host of the peer's node
///   name as SNI and checks the peer's certificate against that host itself.
/// - `verify_fun`, `cert`, `key`, `cacerts` and any other option: refused.
///
/// All functions are thread-safe (they only read the files).

#include <filesystem>
#include <string_view>

#include "moat/tls/options.hpp"

namespace moat::dist {

/// The TLS options of both sides of a node's connections, as `node_options::server` and
/// `node_options::client` take them. A section the file leaves out stays default (a node
/// fills one side's certificate, key and CAs from the other's).
struct dist_tls_options {
  tls::options server{};
  tls::options client{};
};

/// Reads an Erlang `-ssl_dist_optfile`. @throws moat::config_error (subject
/// `ssl_dist_optfile '<path>'` ...): a missing or unreadable file, Erlang syntax errors (with
/// line and column), a term that is not `[{server, [...]}, {client, [...]}]`, and every
/// option refused as above.
[[nodiscard]] dist_tls_options read_ssl_dist_optfile(const std::filesystem::path& path);
/// The same from the file's text; `origin` names it in errors (usually its path).
[[nodiscard]] dist_tls_options parse_ssl_dist_optfile(std::string_view text,
                                                      std::string_view origin);

/// Reads a TOML file of `[server]` and `[client]` tables whose keys are the `tls::options`
/// names: certfile, keyfile, password, cacertfile, verify ("peer" / "none"),
/// fail_if_no_peer_cert, depth, versions, ciphers, groups, signature_algs, reuse_sessions.
/// @throws moat::config_error (subject `config '<path>'` ...), as above.
[[nodiscard]] dist_tls_options read_dist_tls_toml(const std::filesystem::path& path);
/// The same from the file's text; `origin` names it in errors.
[[nodiscard]] dist_tls_options parse_dist_tls_toml(std::string_view text, std::string_view origin);

}  // namespace moat::dist
