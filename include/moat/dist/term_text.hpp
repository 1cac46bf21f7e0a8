#pragma once
/// @file
/// Erlang's text syntax for terms: reading one term (`parse_term`) or a file of terms each
/// ending in a dot (`consult`, as `file:consult/1` reads `sys.config` or `-ssl_dist_optfile`
/// files), and printing a term as `io:format("~w", [T])` does, or readably for logs
/// (`format_term`).
///
/// Read: atoms (bare and 'quoted' with escapes), integers (`1_000`, `16#FF`, `$c`, bignums,
/// a leading `-` or `+`), floats (`1.5`, `2.0e-3`), "strings" (lists of code points;
/// adjacent strings join), binaries (`<<"text">>`, `<<1,2,3>>`, `<<"é"/utf8>>`, `<<5:3>>`:
/// integer segments of up to 64 bits, string segments, types integer, binary, utf8, and
/// signed / unsigned / big), tuples, lists with `[H|T]` tails, maps `#{K => V}` (a key given
/// twice keeps its last value, as Erlang evaluates it), `fun M:F/A` (an export), `%`
/// comments, and the forms `format_term` prints for what has no Erlang syntax (below).
/// Text is UTF-8. No variables, operators or expressions besides a sign on a number.
///
/// Printed forms without an Erlang syntax (Erlang prints `<0.85.0>`, which needs the node
/// table to read): `#Pid<Node.Id.Serial.Creation>`, `#Port<Node.Id.Creation>`,
/// `#Ref<Node.Creation.Id1.Id2...>` and `#Fun<hex of its NEW_FUN_EXT bytes>`, Node written as
/// an atom (`#Pid<nonode@nohost.85.0.0>`, `#Pid<'a@b.example'.1.0.3>`). `parse_term` reads
/// them back; Erlang does not.
///
/// All functions are pure and thread-safe.

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "moat/dist/term.hpp"

namespace moat::dist {

/// Where text fails to be a term, and why. Lines and columns count from 1; a column counts
/// characters (code points).
struct text_error {
  std::size_t line{};
  std::size_t column{};
  std::string reason{};
  /// "line L, column C: reason".
  [[nodiscard]] std::string message() const;
};

/// Thrown by the throwing `parse_term` / `consult`; `what()` is `error().message()`.
class term_syntax_error : public std::runtime_error {
 public:
  explicit term_syntax_error(text_error e);
  [[nodiscard]] const text_error& error() const noexcept { return error_; }

 private:
  text_error error_;
};

/// Nesting depth the readers accept (tuples, lists, maps, binaries).
inline constexpr std::size_t max_text_depth = 1000;

/// One term, optionally followed by a dot; whitespace and comments around it are fine.
/// @throws term_syntax_error.
[[nodiscard]] term parse_term(std::string_view text);
/// As above; nullopt and `error` filled instead of throwing.
[[nodiscard]] std::optional<term> parse_term(std::string_view text, text_error& error);

/// Every term of `text`, each ending in a dot followed by whitespace, a comment or the end
/// (`file:consult/1`). @throws term_syntax_error.
[[nodiscard]] std::vector<term> consult(std::string_view text);
/// As above; nullopt and `error` filled instead of throwing.
[[nodiscard]] std::optional<std::vector<term>> consult(std::string_view text, text_error& error);

/// How `format_term` prints lists of characters and binaries of text.
enum class term_style {
  /// As `io:format("~w", [T])`: their numbers (`[104,105]`, `<<104,105>>`).
  plain,
  /// As `io:format("~tp", [T])` on one line, for logs: a non-empty proper list of printable
  /// characters as `"text"`, a non-empty binary of printable ASCII as `<<"text">>` and of
  /// printable UTF-8 as `<<"text"/utf8>>`; the rest as `plain`.
  readable,
};

/// `t` in Erlang syntax (UTF-8), with the forms above for pids, ports, references and funs.
/// `parse_term(format_term(t, style)) == t` for every term and style.
[[nodiscard]] std::string format_term(const term& t, term_style style = term_style::plain);
/// Appends `format_term(t, style)` to `out`.
void format_term_to(std::string& out, const term& t, term_style style = term_style::plain);

}  // namespace moat::dist
