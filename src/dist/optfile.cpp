// Erlang's -ssl_dist_optfile: `[{server, [Opts]}, {client, [Opts]}].`, read with consult and
// mapped option by option through the table of optfile_options.hpp.
#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <moat/dist/optfile.hpp>
#include <moat/dist/term_text.hpp>
#include <moat/error.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dist/optfile_options.hpp"

namespace moat::dist {
namespace {

using detail::option_kind;
using detail::option_spec;
using detail::option_value;
using detail::refuse;
using detail::tls_side;

std::string shown(const term& t) {
  std::string s = format_term(t, term_style::readable);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

[[noreturn]] void wrong(const std::string& subject, const char* expected, const term& got) {
  refuse(subject, std::errc::invalid_argument,
         fmt::format("expected {}, got {}", expected, shown(got)));
}

// A string as Erlang files give it: a list of characters or a binary.
std::optional<std::string> text_of(const term& t) {
  if (t.is_atom()) return std::nullopt;
  return t.try_as<std::string>();
}

// A name: an atom or a string.
std::optional<std::string> name_of(const term& t) {
  if (const auto* a = t.as_atom()) return a->name();
  if (t.is_nil()) return std::nullopt;
  return text_of(t);
}

// The elements of a proper list that is not a string of characters.
const list* list_of(const term& t) {
  const auto* l = t.as_list();
  return l != nullptr && l->is_proper() ? l : nullptr;
}

std::vector<std::string> names_of(const term& v, const std::string& subject) {
  const auto* l = list_of(v);
  if (l == nullptr) wrong(subject, "a list of atoms", v);
  std::vector<std::string> out;
  for (const auto& e : l->elements) {
    auto n = name_of(e);
    if (!n || e.is_integer()) wrong(subject, "a list of atoms", v);
    out.push_back(std::move(*n));
  }
  return out;
}

// ciphers: "A:B:C", ["A", "B"], [#{key_exchange => K, cipher => C, mac => M, prf => P}],
// [{K, C, M}] or [{K, C, M, P}].
std::vector<std::string> ciphers_of(const term& v, const std::string& subject) {
  std::vector<std::string> out;
  auto add_names = [&](const std::string& text) {
    std::size_t start = 0;
    while (start <= text.size()) {
      const auto colon = text.find(':', start);
      const auto item = text.substr(start, colon == std::string::npos ? colon : colon - start);
      if (!item.empty()) out.push_back(detail::cipher_name(item, subject));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  };
  const auto* l = list_of(v);
  if (l == nullptr) wrong(subject, "a list of cipher suites", v);
  if (!l->elements.empty() && l->elements.front().is_integer()) {
    const auto s = text_of(v);
    if (!s) wrong(subject, "a list of cipher suites", v);
    add_names(*s);
    return out;
  }
  const char* expected =
      "a list of cipher suites (strings, #{key_exchange, cipher, mac, prf} maps or tuples)";
  for (const auto& e : l->elements) {
    if (auto s = text_of(e); s && !e.is_nil()) {
      add_names(*s);
      continue;
    }
    std::string kx;
    std::string cipher;
    std::string mac;
    std::string prf;
    auto atom_at = [&](const term& t, std::string& into) {
      const auto* a = t.as_atom();
      if (a == nullptr) wrong(subject, expected, e);
      into = a->name();
    };
    if (const auto* m = e.as_map()) {
      for (const auto& [k, val] : m->entries) {
        const auto* key = k.as_atom();
        if (key == nullptr) wrong(subject, expected, e);
        if (*key == "key_exchange") {
          atom_at(val, kx);
        } else if (*key == "cipher") {
          atom_at(val, cipher);
        } else if (*key == "mac") {
          atom_at(val, mac);
        } else if (*key == "prf") {
          atom_at(val, prf);
        } else {
          wrong(subject, expected, e);
        }
      }
      if (kx.empty() || cipher.empty() || mac.empty()) wrong(subject, expected, e);
    } else if (const auto* t = e.as_tuple(); t != nullptr && (t->size() == 3 || t->size() == 4)) {
      atom_at((*t)[0], kx);
      atom_at((*t)[1], cipher);
      atom_at((*t)[2], mac);
      if (t->size() == 4) atom_at((*t)[3], prf);
    } else {
      wrong(subject, expected, e);
    }
    out.push_back(detail::cipher_from_parts(kx, cipher, mac, prf, subject));
  }
  return out;
}

// The value of option `spec` as its kind takes it.
option_value value_of(const option_spec& spec, const term& v, const std::string& subject) {
  switch (spec.kind) {
    case option_kind::path:
    case option_kind::secret: {
      if (v.is_fun()) {
        refuse(subject, std::errc::not_supported,
               "moat cannot run an Erlang fun: give the value itself");
      }
      auto s = text_of(v);
      if (!s) wrong(subject, "a string", spec.kind == option_kind::secret ? term(atom("...")) : v);
      return *s;
    }
    case option_kind::boolean:
    case option_kind::ignored_boolean:
      if (!v.is_bool()) wrong(subject, "true or false", v);
      return v.is_atom("true");
    case option_kind::count:
      if (auto n = v.try_as<std::int64_t>(); n && v.is_integer()) return *n;
      wrong(subject, "a whole number", v);
    case option_kind::verify:
      if (v.is_atom("verify_peer")) return tls::verify_mode::peer;
      if (v.is_atom("verify_none")) return tls::verify_mode::none;
      wrong(subject, "verify_peer or verify_none", v);
    case option_kind::versions:
    case option_kind::names:
      return names_of(v, subject);
    case option_kind::ciphers:
      return ciphers_of(v, subject);
    case option_kind::ignored_name:
      if (!name_of(v) || v.is_integer()) wrong(subject, "a string or an atom", v);
      return {};
    case option_kind::ignored_list:
      if (list_of(v) == nullptr) wrong(subject, "a list", v);
      return {};
    case option_kind::unsupported:
      return {};
  }
  return {};
}

void read_section(tls::options& o, tls_side side, const term& opts, const std::string& file) {
  const std::string where = fmt::format("{}: {}", file, detail::side_name(side));
  const auto* l = list_of(opts);
  if (l == nullptr) wrong(where, "a list of {Option, Value} tuples", opts);
  std::set<std::string> seen;
  for (const auto& e : l->elements) {
    const auto* t = e.as_tuple();
    if (t == nullptr || t->size() != 2 || !(*t)[0].is_atom())
      wrong(where, "a list of {Option, Value} tuples", e);
    const std::string& name = (*t)[0].as_atom()->name();
    const std::string subject = fmt::format("{}: {}", where, name);
    const option_spec* spec = detail::find_erlang_option(name);
    if (spec == nullptr) {
      refuse(subject, std::errc::not_supported,
             fmt::format("not an option moat maps; it knows {}", detail::known_erlang_options()));
    }
    if (spec->kind == option_kind::unsupported)
      refuse(subject, std::errc::not_supported, std::string(spec->why));
    if (!seen.insert(name).second) refuse(subject, std::errc::invalid_argument, "given twice");
    detail::apply_option(o, side, *spec, value_of(*spec, (*t)[1], subject), subject);
  }
}

std::string read_text(const std::filesystem::path& path, const std::string& subject) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    throw config_error(subject, e == ENOENT || e == 0
                                    ? std::make_error_code(std::errc::no_such_file_or_directory)
                                    : std::error_code(e, std::generic_category()));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

dist_tls_options parse_ssl_dist_optfile(std::string_view text, std::string_view origin) {
  const std::string file = fmt::format("ssl_dist_optfile '{}'", origin);
  text_error err;
  auto terms = consult(text, err);
  if (!terms) {
    std::string why = err.message();
    if (err.reason.find("fun") != std::string::npos ||
        text.find("fun(") != std::string_view::npos ||
        text.find("fun (") != std::string_view::npos) {
      why +=
          "; moat reads terms, not expressions, so a fun (a verify_fun, a "
          "customize_hostname_check match_fun) cannot be given: moat checks the peer's node "
          "name against its certificate itself (IP addresses against IP entries)";
    }
    refuse(file, std::errc::invalid_argument, why);
  }
  const char* shape = "one term, [{server, [Options]}, {client, [Options]}]";
  if (terms->size() != 1)
    refuse(file, std::errc::invalid_argument,
           fmt::format("expected {}, got {} terms", shape, terms->size()));
  const auto* sections = list_of(terms->front());
  if (sections == nullptr) wrong(file, shape, terms->front());
  dist_tls_options out;
  bool have_server = false;
  bool have_client = false;
  for (const auto& s : sections->elements) {
    const auto* t = s.as_tuple();
    if (t == nullptr || t->size() != 2) wrong(file, shape, s);
    if ((*t)[0].is_atom("server")) {
      if (have_server) refuse(file + ": server", std::errc::invalid_argument, "given twice");
      have_server = true;
      read_section(out.server, tls_side::server, (*t)[1], file);
    } else if ((*t)[0].is_atom("client")) {
      if (have_client) refuse(file + ": client", std::errc::invalid_argument, "given twice");
      have_client = true;
      read_section(out.client, tls_side::client, (*t)[1], file);
    } else {
      wrong(file, "{server, [...]} or {client, [...]}", s);
    }
  }
  return out;
}

dist_tls_options read_ssl_dist_optfile(const std::filesystem::path& path) {
  const std::string text = read_text(path, fmt::format("ssl_dist_optfile '{}'", path.string()));
  return parse_ssl_dist_optfile(text, path.string());
}

}  // namespace moat::dist
