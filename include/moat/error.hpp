#pragma once
/// @file
/// The error type every part of moat throws for configuration problems.
///
/// I/O paths complete with `std::error_code` in each part's own category
/// (`moat::pki::errc`, `moat::tls::errc`, `moat::framing::errc`, ...). Problems in what the
/// user configured -- a file, an option, a password -- are found before any socket is
/// accepted and are thrown as `moat::config_error`, whose message names the file or option
/// and the reason, e.g. `certfile '/x/cert.pem': no PEM certificate found (is it DER?)`.

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace moat {

/// A configuration error: what was configured (`subject`: an option name, or an option name
/// and a file), the specific code, and a complete message for humans.
/// Thread-safety: immutable after construction.
class config_error : public std::runtime_error {
 public:
  /// @param subject what the error is about, e.g. `certfile '/etc/moat/cert.pem'`.
  /// @param code the specific reason; its message is appended to the subject.
  /// @param detail optional extra text (a hint on how to fix it), appended in parentheses.
  config_error(std::string subject, std::error_code code, const std::string& detail = {})
      : std::runtime_error(compose(subject, code, detail)),
        subject_(std::move(subject)),
        code_(code) {}

  /// What the error is about: an option name, or an option and a file.
  [[nodiscard]] const std::string& subject() const noexcept { return subject_; }
  /// The specific reason, in a moat error category.
  [[nodiscard]] std::error_code code() const noexcept { return code_; }

 private:
  static std::string compose(const std::string& subject, std::error_code code,
                             const std::string& detail) {
    std::string s = subject.empty() ? code.message() : subject + ": " + code.message();
    if (!detail.empty()) s += " (" + detail + ")";
    return s;
  }

  std::string subject_;
  std::error_code code_;
};

}  // namespace moat
