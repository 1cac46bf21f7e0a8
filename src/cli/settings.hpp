#pragma once
// A command's settings as one typed table: each entry makes both a flag (`--max-connections`)
// and a config-file key (`max_connections`), with one conversion and one range check for
// both, so a value is accepted or refused the same way wherever it comes from. Errors are
// moat::config_error naming the flag, or the file and the key, and what is accepted.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace moat::cli {

/// Checks a text value beyond its type; throws moat::config_error whose subject is `subject`
/// (the flag, or the file and the key).
using text_check = std::function<void(const std::string& value, const std::string& subject)>;

/// The settings of one command. Register every setting, then `add_flags` once; when the
/// command runs, `load_toml` (if a file is given) and then `apply_flags`, so flags win.
/// The targets are borrowed and must outlive this table. Not thread-safe.
class settings {
 public:
  /// A string; `choices`, if not empty, are the accepted values (a config file may also give
  /// one of them as an integer, e.g. `packet = 4`).
  void text(std::string name, std::string help, std::string& target,
            std::vector<std::string> choices = {}, text_check check = {});
  /// A list of strings: the flag is repeatable; the file gives a string or an array of them.
  void text_list(std::string name, std::string help, std::vector<std::string>& target,
                 text_check check = {});
  /// On/off: a flag without a value; `true`/`false` in the file.
  void boolean(std::string name, std::string help, bool& target);
  /// A whole number from `min` to `max`.
  void count(std::string name, std::string help, unsigned& target, std::uint64_t min,
             std::uint64_t max);
  void count(std::string name, std::string help, std::size_t& target, std::uint64_t min,
             std::uint64_t max);
  /// A number of seconds (fractions allowed) from `min` to `max`; never NaN or infinite.
  void seconds(std::string name, std::string help, double& target, double min, double max);

  /// Adds one option per setting to `cmd`: `--name-with-dashes`, its help with the accepted
  /// values and the default (the target's value now).
  void add_flags(CLI::App& cmd);
  /// Applies the settings in a TOML file. Throws config_error ("config '<path>': <key>") for
  /// a file that does not parse, an unknown key (listing the known ones) or a bad value.
  void load_toml(const std::string& path);
  /// Applies the flags given on the command line. Throws config_error ("--flag").
  void apply_flags();
  /// The config-file keys, comma-separated, in the order registered.
  [[nodiscard]] std::string known_keys() const;

 private:
  enum class kind { text, text_list, boolean, count, seconds };
  struct entry {
    std::string name;
    std::string help;
    kind type = kind::text;
    std::vector<std::string> choices;
    text_check check;
    double min = 0;  // count and seconds: the accepted range
    double max = 0;
    std::function<void(std::uint64_t)> set_count;
    void* target = nullptr;  // std::string*, std::vector<std::string>*, bool* or double*
    // What the command line gave (bound to CLI11).
    CLI::Option* option = nullptr;
    std::string raw;
    std::vector<std::string> raw_list;
    bool raw_flag = false;
  };

  entry& add(std::string name, std::string help, kind type);
  [[nodiscard]] static std::string flag_of(const entry& e);
  [[nodiscard]] static std::string accepted(const entry& e);
  void set_text(entry& e, const std::string& value, const std::string& subject);
  void set_number(entry& e, double value, bool whole, const std::string& got,
                  const std::string& subject);

  std::deque<entry> entries_;  // stable addresses: CLI11 keeps pointers into them
};

}  // namespace moat::cli
