#include "cli/settings.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <moat/error.hpp>
#include <optional>

#include "dist/toml_file.hpp"

namespace moat::cli {
namespace {

using detail::describe_toml;
using detail::number_text;

[[noreturn]] void refuse(const std::string& subject, std::errc code, const std::string& why) {
  throw config_error(subject, std::make_error_code(code), why);
}

// A whole number given as text (a flag's value); nullopt if it is not one.
std::optional<std::int64_t> parse_whole(const std::string& s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// A number given as text (a flag's value); nullopt if it is not one. NaN and infinities are
// numbers here (they are refused by the range check, with the value shown).
std::optional<double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (end != s.data() + s.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) return std::numeric_limits<double>::infinity();
  if (ec != std::errc{}) return std::nullopt;
  return v;
}

}  // namespace

settings::entry& settings::add(std::string name, std::string help, kind type) {
  entry& e = entries_.emplace_back();
  e.name = std::move(name);
  e.help = std::move(help);
  e.type = type;
  return e;
}

void settings::text(std::string name, std::string help, std::string& target,
                    std::vector<std::string> choices, text_check check) {
  entry& e = add(std::move(name), std::move(help), kind::text);
  e.target = &target;
  e.choices = std::move(choices);
  e.check = std::move(check);
}

void settings::text_list(std::string name, std::string help, std::vector<std::string>& target,
                         text_check check) {
  entry& e = add(std::move(name), std::move(help), kind::text_list);
  e.target = &target;
  e.check = std::move(check);
}

void settings::boolean(std::string name, std::string help, bool& target) {
  add(std::move(name), std::move(help), kind::boolean).target = &target;
}

void settings::count(std::string name, std::string help, unsigned& target, std::uint64_t min,
                     std::uint64_t max) {
  entry& e = add(std::move(name), std::move(help), kind::count);
  e.min = static_cast<double>(min);
  e.max = static_cast<double>(std::min<std::uint64_t>(max, std::numeric_limits<unsigned>::max()));
  e.set_count = [&target](std::uint64_t v) {
    target = static_cast<unsigned>(v);
  };
  e.raw = std::to_string(target);
}

void settings::count(std::string name, std::string help, std::size_t& target, std::uint64_t min,
                     std::uint64_t max) {
  entry& e = add(std::move(name), std::move(help), kind::count);
  e.min = static_cast<double>(min);
  e.max = static_cast<double>(max);
  e.set_count = [&target](std::uint64_t v) {
    target = static_cast<std::size_t>(v);
  };
  e.raw = std::to_string(target);
}

void settings::seconds(std::string name, std::string help, double& target, double min, double max) {
  entry& e = add(std::move(name), std::move(help), kind::seconds);
  e.target = &target;
  e.min = min;
  e.max = max;
}

std::string settings::flag_of(const entry& e) {
  std::string f = "--" + e.name;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

std::string settings::accepted(const entry& e) {
  switch (e.type) {
    case kind::count:
      return fmt::format("a whole number from {} to {}", number_text(e.min), number_text(e.max));
    case kind::seconds:
      return fmt::format("a number of seconds from {} to {}", number_text(e.min),
                         number_text(e.max));
    case kind::boolean:
      return "true or false";
    case kind::text_list:
      return "a string or an array of strings";
    case kind::text:
      if (!e.choices.empty()) return fmt::format("one of {}", fmt::join(e.choices, ", "));
      return "a string";
  }
  return {};
}

void settings::set_text(entry& e, const std::string& value, const std::string& subject) {
  if (!e.choices.empty() &&
      std::find(e.choices.begin(), e.choices.end(), value) == e.choices.end()) {
    refuse(subject, std::errc::invalid_argument,
           fmt::format("must be {}, got '{}'", accepted(e), value));
  }
  if (e.check) e.check(value, subject);
  if (e.type == kind::text_list) {
    static_cast<std::vector<std::string>*>(e.target)->push_back(value);
  } else {
    *static_cast<std::string*>(e.target) = value;
  }
}

void settings::set_number(entry& e, double value, bool whole, const std::string& got,
                          const std::string& subject) {
  const bool is_whole = std::isfinite(value) && value == std::floor(value);
  if (e.type == kind::count && !whole && !is_whole) {
    refuse(subject, std::errc::invalid_argument,
           fmt::format("must be {}, got {}", accepted(e), got));
  }
  if (std::isnan(value)) {
    refuse(subject, std::errc::invalid_argument,
           fmt::format("must be {}, got {}", accepted(e), got));
  }
  if (!(value >= e.min && value <= e.max)) {
    refuse(subject, std::errc::result_out_of_range,
           fmt::format("must be {}, got {}", accepted(e), got));
  }
  if (e.type == kind::count) {
    e.set_count(static_cast<std::uint64_t>(value));
  } else {
    *static_cast<double*>(e.target) = value;
  }
}

void settings::add_flags(CLI::App& cmd) {
  for (entry& e : entries_) {
    const std::string flag = flag_of(e);
    switch (e.type) {
      case kind::boolean:
        e.option = cmd.add_flag(flag, e.raw_flag, e.help);
        break;
      case kind::text_list:
        e.option = cmd.add_option(flag, e.raw_list, e.help + " (repeatable)");
        break;
      case kind::text: {
        const auto& current = *static_cast<const std::string*>(e.target);
        std::string help = e.help;
        if (!e.choices.empty()) help += fmt::format(" ({})", fmt::join(e.choices, "|"));
        e.option = cmd.add_option(flag, e.raw, help);
        if (!current.empty()) e.option->default_str(current);
        break;
      }
      case kind::count:
      case kind::seconds: {
        std::string current = e.raw;  // count: the target's value, captured when added
        if (e.type == kind::seconds) current = number_text(*static_cast<const double*>(e.target));
        e.raw.clear();
        e.option = cmd.add_option(
            flag, e.raw,
            fmt::format("{} ({} to {})", e.help, number_text(e.min), number_text(e.max)));
        e.option->type_name(e.type == kind::count ? "N" : "SECONDS");
        e.option->default_str(current);
        break;
      }
    }
  }
}

void settings::apply_flags() {
  for (entry& e : entries_) {
    if (e.option == nullptr || e.option->count() == 0) continue;
    const std::string subject = flag_of(e);
    switch (e.type) {
      case kind::boolean:
        *static_cast<bool*>(e.target) = e.raw_flag;
        break;
      case kind::text_list:
        static_cast<std::vector<std::string>*>(e.target)->clear();
        for (const auto& v : e.raw_list) set_text(e, v, subject);
        break;
      case kind::text:
        set_text(e, e.raw, subject);
        break;
      case kind::count:
        if (const auto v = parse_whole(e.raw)) {
          set_number(e, static_cast<double>(*v), true, e.raw, subject);
        } else {
          refuse(subject, std::errc::invalid_argument,
                 fmt::format("must be {}, got '{}'", accepted(e), e.raw));
        }
        break;
      case kind::seconds:
        if (const auto v = parse_number(e.raw)) {
          set_number(e, *v, false, e.raw, subject);
        } else {
          refuse(subject, std::errc::invalid_argument,
                 fmt::format("must be {}, got '{}'", accepted(e), e.raw));
        }
        break;
    }
  }
}

void settings::load_toml(const std::string& path) {
  const toml::table t = detail::parse_toml_file(path, fmt::format("config '{}'", path));
  for (const auto& [name, node] : t) {
    const std::string key(name.str());
    const std::string subject = fmt::format("config '{}': {}", path, key);
    const auto it = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const entry& e) { return e.name == key; });
    if (it == entries_.end()) {
      refuse(subject, std::errc::invalid_argument,
             fmt::format("unknown setting; the known ones are {}", known_keys()));
    }
    entry& e = *it;
    const toml::node& v = node;
    auto wrong_type = [&]() {
      refuse(subject, std::errc::invalid_argument,
             fmt::format("must be {}, got {}", accepted(e), describe_toml(v)));
    };
    switch (e.type) {
      case kind::boolean:
        if (auto b = v.value_exact<bool>()) {
          *static_cast<bool*>(e.target) = *b;
        } else {
          wrong_type();
        }
        break;
      case kind::text_list: {
        auto& list = *static_cast<std::vector<std::string>*>(e.target);
        list.clear();
        if (auto s = v.value_exact<std::string>()) {
          set_text(e, *s, subject);
        } else if (const auto* arr = v.as_array()) {
          for (const auto& item : *arr) {
            if (auto si = item.value_exact<std::string>()) {
              set_text(e, *si, subject);
            } else {
              refuse(subject, std::errc::invalid_argument,
                     fmt::format("must be {}, got an array holding {}", accepted(e),
                                 describe_toml(item)));
            }
          }
        } else {
          wrong_type();
        }
        break;
      }
      case kind::text:
        if (auto s = v.value_exact<std::string>()) {
          set_text(e, *s, subject);
        } else if (auto i = v.value_exact<std::int64_t>(); i && !e.choices.empty()) {
          set_text(e, std::to_string(*i), subject);
        } else {
          wrong_type();
        }
        break;
      case kind::count:
      case kind::seconds:
        if (auto i = v.value_exact<std::int64_t>()) {
          set_number(e, static_cast<double>(*i), true, describe_toml(v), subject);
        } else if (auto d = v.value_exact<double>()) {
          set_number(e, *d, false, describe_toml(v), subject);
        } else {
          wrong_type();
        }
        break;
    }
  }
}

std::string settings::known_keys() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& e : entries_) names.push_back(e.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace moat::cli
