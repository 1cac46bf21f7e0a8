#pragma once
// The reader of Erlang's text syntax (internal): one recursive-descent parser whose scalar
// rules live in term_text_parse.cpp and compound ones in term_text_parse_compound.cpp.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dist/utf8.hpp"
#include "moat/dist/term.hpp"

namespace moat::dist::detail {

/// Where and why parsing stopped (thrown inside the parser, turned into text_error).
struct failure {
  std::size_t pos;
  std::string reason;
};

class parser {
 public:
  explicit parser(std::string_view s) noexcept : s_(s) {}

  [[noreturn]] void fail(std::string reason) const { throw failure{pos_, std::move(reason)}; }
  [[noreturn]] void fail_at(std::size_t pos, std::string reason) const {
    throw failure{pos, std::move(reason)};
  }

  [[nodiscard]] bool at_end() const noexcept { return pos_ >= s_.size(); }
  [[nodiscard]] char peek(std::size_t k = 0) const noexcept {
    return pos_ + k < s_.size() ? s_[pos_ + k] : '\0';
  }
  [[nodiscard]] bool starts(std::string_view p) const noexcept {
    return s_.substr(pos_).starts_with(p);
  }
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }

  void skip_ws() noexcept {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++pos_;
      } else if (c == '%') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  void expect(std::string_view token, const char* what) {
    skip_ws();
    if (!starts(token)) fail(std::string("expected ") + what);
    pos_ += token.size();
  }

  // The code point at the current position (advancing), failing on invalid UTF-8.
  char32_t next_char() {
    const auto c = utf8_next(s_, pos_);
    if (!c) fail("invalid UTF-8");
    return *c;
  }

  term value(std::size_t depth);
  static term charlist_of(const std::vector<char32_t>& cps);

 private:
  term tuple_(std::size_t depth);
  term list_(std::size_t depth);
  term map_(std::size_t depth);
  term binary_();
  void segment(std::vector<std::uint8_t>& bytes, std::size_t& bits);
  term special();
  term number(bool negative);
  term export_();
  atom atom_();
  atom make_atom(std::string name, std::size_t start) const;
  std::string digits(int base);
  std::uint64_t plain_uint(std::uint64_t max);
  char32_t escape();
  std::vector<char32_t> quoted(char quote);
  std::vector<char32_t> strings();

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace moat::dist::detail
