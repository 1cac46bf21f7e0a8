#pragma once
// The TLS options a node's option file may name, and how each applies to `tls::options`:
// one table shared by the two file syntaxes (optfile.cpp reads Erlang terms, optfile_toml.cpp
// TOML), so that an option is accepted, mapped or refused the same way in both. Each reader
// converts its syntax into an `option_value` of the option's kind; `apply_option` does the
// rest. Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "moat/tls/options.hpp"

namespace moat::dist::detail {

enum class tls_side { server, client };

[[nodiscard]] std::string_view side_name(tls_side s) noexcept;

/// What an option takes, and what it does.
enum class option_kind {
  path,             ///< a non-empty file name (a string)
  secret,           ///< a string that must never be logged
  boolean,          ///< true / false
  count,            ///< a whole number within the option's range
  verify,           ///< verify_peer / verify_none ("peer" / "none")
  versions,         ///< a list of TLS version names
  ciphers,          ///< a list of cipher suite names (the readers turn Erlang's maps into names)
  names,            ///< a list of names (groups, signature algorithms)
  ignored_boolean,  ///< accepted (true or false) with no effect; `why` says why
  ignored_name,     ///< accepted (a string or an atom) with no effect
  ignored_list,     ///< accepted (a list) with no effect
  unsupported,      ///< refused; `why` says why
};

/// The value of an option, in the type its kind takes.
using option_value = std::variant<std::monostate, std::string, bool, std::int64_t, tls::verify_mode,
                                  std::vector<std::string>>;

struct option_spec {
  std::string_view erlang{};  ///< its name in an ssl_dist_optfile; empty: none
  std::string_view toml{};    ///< its key in a TOML section; empty: none
  option_kind kind{option_kind::unsupported};
  bool server_only{false};
  bool client_only{false};
  std::string_view why{};  ///< for ignored and unsupported options: what moat does instead
  std::int64_t min{0};     ///< count: the range
  std::int64_t max{0};
  void (*set)(tls::options&, option_value&&){nullptr};
};

/// The option an ssl_dist_optfile names `name`, or nullptr.
[[nodiscard]] const option_spec* find_erlang_option(std::string_view name) noexcept;
/// The option a TOML section names `key`, or nullptr.
[[nodiscard]] const option_spec* find_toml_option(std::string_view key) noexcept;
/// The names each syntax knows, comma-separated (for "unknown option" messages).
[[nodiscard]] std::string known_erlang_options();
[[nodiscard]] std::string known_toml_options();

/// @throws moat::config_error(subject, code, why).
[[noreturn]] void refuse(const std::string& subject, std::errc code, const std::string& why);

/// Checks `value` against `spec` (side, emptiness, range, names) and sets it in `o`.
/// `subject` names the file, the section and the option. @throws moat::config_error.
void apply_option(tls::options& o, tls_side side, const option_spec& spec, option_value value,
                  const std::string& subject);

/// The name moat knows a cipher suite by, from an IANA name (TLS_AES_128_GCM_SHA256), an
/// OpenSSL name (ECDHE-ECDSA-AES128-GCM-SHA256) or moat's AEAD name (AES-128-GCM); refuses
/// any suite moat does not offer, saying why.
[[nodiscard]] std::string cipher_name(std::string_view given, const std::string& subject);
/// The IANA name of the suite Erlang describes as `#{key_exchange, cipher, mac, prf}`
/// (prf empty when not given); refuses what moat does not offer.
[[nodiscard]] std::string cipher_from_parts(std::string_view kx, std::string_view cipher,
                                            std::string_view mac, std::string_view prf,
                                            const std::string& subject);

}  // namespace moat::dist::detail
