#pragma once
// TOML configuration files as moat reads them, shared by the dist part's option files
// (optfile.cpp) and the CLI's settings tables (src/cli/settings.cpp): one way to parse a file
// (a syntax error names the file, the line and the column) and one way to show a value in a
// message ("must be ..., got 'x'"). Pure functions; thread-safe.

#include <toml++/toml.h>

#include <string>
#include <string_view>

namespace moat::detail {

/// Parses the TOML file `path`. @throws moat::config_error whose subject is `subject` (e.g.
/// "config '/etc/moat.toml'"), with "line L, column C: why" for a syntax error and the
/// reason for a file that cannot be read.
[[nodiscard]] toml::table parse_toml_file(const std::string& path, const std::string& subject);

/// Parses TOML text; errors as parse_toml_file.
[[nodiscard]] toml::table parse_toml_text(std::string_view text, const std::string& subject);

/// How a TOML value reads in a message: 5, 0.5, 'text', true, "an array", "a table".
[[nodiscard]] std::string describe_toml(const toml::node& v);

/// A number as a person writes it: 5, 0.5, 31536000 (never 5.000000 or 3.1536e+07).
[[nodiscard]] std::string number_text(double v);

}  // namespace moat::detail
