#include "dist/toml_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <moat/error.hpp>
#include <sstream>
#include <system_error>

namespace moat::detail {
namespace {

[[noreturn]] void refuse_syntax(const std::string& subject, const toml::parse_error& err) {
  const auto& where = err.source().begin;
  throw config_error(
      subject, std::make_error_code(std::errc::invalid_argument),
      fmt::format("line {}, column {}: {}", where.line, where.column, err.description()));
}

}  // namespace

toml::table parse_toml_file(const std::string& path, const std::string& subject) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    throw config_error(subject, exists
                                    ? std::error_code(e != 0 ? e : EACCES, std::generic_category())
                                    : std::make_error_code(std::errc::no_such_file_or_directory));
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return toml::parse(text.str(), path);
  } catch (const toml::parse_error& err) {
    refuse_syntax(subject, err);
  }
}

toml::table parse_toml_text(std::string_view text, const std::string& subject) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& err) {
    refuse_syntax(subject, err);
  }
}

std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return fmt::format("{}", static_cast<long long>(v));
  }
  return fmt::format("{}", v);
}

std::string describe_toml(const toml::node& v) {
  if (auto i = v.value_exact<std::int64_t>()) return std::to_string(*i);
  if (auto d = v.value_exact<double>()) return number_text(*d);
  if (auto s = v.value_exact<std::string>()) return "'" + *s + "'";
  if (auto b = v.value_exact<bool>()) return *b ? "true" : "false";
  if (v.is_array()) return "an array";
  if (v.is_table()) return "a table";
  return "a date or time";
}

}  // namespace moat::detail
