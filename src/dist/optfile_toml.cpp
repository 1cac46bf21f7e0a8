// The TLS options of a node as TOML: `[server]` and `[client]` tables whose keys are the
// names of tls::options, mapped through the table of optfile_options.hpp as the Erlang
// optfile is.
#include <fmt/format.h>

#include <moat/dist/optfile.hpp>
#include <moat/error.hpp>

#include "dist/optfile_options.hpp"
#include "dist/toml_file.hpp"

namespace moat::dist {
namespace {

using detail::option_kind;
using detail::option_spec;
using detail::option_value;
using detail::refuse;
using detail::tls_side;

[[noreturn]] void wrong(const std::string& subject, const char* expected, const toml::node& got,
                        bool secret = false) {
  refuse(subject, std::errc::invalid_argument,
         fmt::format("must be {}, got {}", expected,
                     secret && got.is_string() ? "a string" : moat::detail::describe_toml(got)));
}

std::vector<std::string> strings_of(const toml::node& v, const std::string& subject) {
  std::vector<std::string> out;
  if (auto s = v.value_exact<std::string>()) {
    out.push_back(*s);
    return out;
  }
  const auto* arr = v.as_array();
  if (arr == nullptr) wrong(subject, "a string or an array of strings", v);
  for (const auto& item : *arr) {
    auto s = item.value_exact<std::string>();
    if (!s) wrong(subject, "an array of strings", item);
    out.push_back(*s);
  }
  return out;
}

option_value value_of(const option_spec& spec, const toml::node& v, const std::string& subject) {
  switch (spec.kind) {
    case option_kind::path:
    case option_kind::secret:
      if (auto s = v.value_exact<std::string>()) return *s;
      wrong(subject, "a string", v, spec.kind == option_kind::secret);
    case option_kind::boolean:
    case option_kind::ignored_boolean:
      if (auto b = v.value_exact<bool>()) return *b;
      wrong(subject, "true or false", v);
    case option_kind::count:
      if (auto n = v.value_exact<std::int64_t>()) return *n;
      wrong(subject, "a whole number", v);
    case option_kind::verify:
      if (auto s = v.value_exact<std::string>()) {
        if (*s == "peer" || *s == "verify_peer") return tls::verify_mode::peer;
        if (*s == "none" || *s == "verify_none") return tls::verify_mode::none;
      }
      wrong(subject, "'peer' or 'none'", v);
    case option_kind::versions:
    case option_kind::names:
      return strings_of(v, subject);
    case option_kind::ciphers: {
      std::vector<std::string> out;
      for (const auto& n : strings_of(v, subject)) out.push_back(detail::cipher_name(n, subject));
      return out;
    }
    case option_kind::ignored_name:
    case option_kind::ignored_list:
    case option_kind::unsupported:
      return {};
  }
  return {};
}

dist_tls_options from_table(const toml::table& t, const std::string& file) {
  dist_tls_options out;
  for (const auto& [name, node] : t) {
    const std::string section(name.str());
    const std::string where = fmt::format("{}: {}", file, section);
    tls::options* o = nullptr;
    tls_side side = tls_side::server;
    if (section == "server") {
      o = &out.server;
    } else if (section == "client") {
      o = &out.client;
      side = tls_side::client;
    } else {
      refuse(where, std::errc::invalid_argument,
             "unknown section; the file has a [server] and a [client] table");
    }
    const auto* options = node.as_table();
    if (options == nullptr) wrong(where, "a table", node);
    for (const auto& [key_name, value] : *options) {
      const std::string key(key_name.str());
      const std::string subject = fmt::format("{}.{}", where, key);
      const option_spec* spec = detail::find_toml_option(key);
      if (spec == nullptr) {
        refuse(subject, std::errc::not_supported,
               fmt::format("unknown option; the known ones are {}", detail::known_toml_options()));
      }
      detail::apply_option(*o, side, *spec, value_of(*spec, value, subject), subject);
    }
  }
  return out;
}

}  // namespace

dist_tls_options parse_dist_tls_toml(std::string_view text, std::string_view origin) {
  const std::string file = fmt::format("config '{}'", origin);
  return from_table(moat::detail::parse_toml_text(text, file), file);
}

dist_tls_options read_dist_tls_toml(const std::filesystem::path& path) {
  const std::string file = fmt::format("config '{}'", path.string());
  return from_table(moat::detail::parse_toml_file(path.string(), file), file);
}

}  // namespace moat::dist
