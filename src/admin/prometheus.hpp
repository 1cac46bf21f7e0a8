#pragma once
// The Prometheus text exposition format (version 0.0.4), written one metric family at a
// time: its HELP and TYPE lines, then its samples. Names and label names are checked;
// HELP text and label values are escaped as the format says.

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>

namespace moat::admin::detail {

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
[[nodiscard]] bool valid_metric_name(std::string_view name) noexcept;
/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
[[nodiscard]] bool valid_label_name(std::string_view name) noexcept;

class prometheus_text {
 public:
  enum class type { counter, gauge };
  struct label {
    std::string_view name;
    std::string_view value;
  };

  /// Starts a family. Counters are named with `_total`, as the conventions say.
  /// @throws std::invalid_argument for a name that is not a metric name, a counter without
  /// `_total`, or a family started twice.
  void family(std::string_view name, type t, std::string_view help);
  /// A sample of the current family. @throws std::logic_error before any family;
  /// std::invalid_argument for a bad label name.
  void sample(std::initializer_list<label> labels, double value);
  void sample(std::initializer_list<label> labels, std::uint64_t value);

  [[nodiscard]] const std::string& text() const noexcept { return out_; }

 private:
  void labels_and_value(std::initializer_list<label> labels, std::string_view value);

  std::string out_;
  std::string family_;
  std::set<std::string, std::less<>> seen_;  // the families written, to refuse a repeat
};

}  // namespace moat::admin::detail
