// The Prometheus text exposition format (prometheus.hpp).
#include "admin/prometheus.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace moat::admin::detail {
namespace {

bool name_char(char c, bool first, bool colon) noexcept {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (colon && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, colon)) return false;
  return true;
}

// HELP text: backslash and newline escaped; label values: those and the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (const char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
  return valid_name(name, true);
}

bool valid_label_name(std::string_view name) noexcept {
  return valid_name(name, false) && name.substr(0, 2) != "__";
}

void prometheus_text::family(std::string_view name, type t, std::string_view help) {
  if (!valid_metric_name(name))
    throw std::invalid_argument(fmt::format("'{}' is not a metric name", name));
  if (t == type::counter && !name.ends_with("_total"))
    throw std::invalid_argument(fmt::format("counter '{}' is not named ..._total", name));
  if (!seen_.emplace(name).second)
    throw std::invalid_argument(fmt::format("family '{}' written twice", name));
  family_ = name;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += t == type::counter ? " counter\n" : " gauge\n";
}

void prometheus_text::labels_and_value(std::initializer_list<label> labels,
                                       std::string_view value) {
  if (family_.empty()) throw std::logic_error("a Prometheus sample before its family");
  out_ += family_;
  if (labels.size() != 0) {
    out_ += '{';
    bool first = true;
    for (const auto& l : labels) {
      if (!valid_label_name(l.name))
        throw std::invalid_argument(fmt::format("'{}' is not a label name", l.name));
      if (!first) out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      append_escaped(out_, l.value, true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void prometheus_text::sample(std::initializer_list<label> labels, double value) {
  labels_and_value(labels, format_double(value));
}

void prometheus_text::sample(std::initializer_list<label> labels, std::uint64_t value) {
  labels_and_value(labels, std::to_string(value));
}

}  // namespace moat::admin::detail
