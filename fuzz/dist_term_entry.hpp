#pragma once
/// @file
/// The body of the term codec fuzz target, shared by the libFuzzer binary
/// (fuzz/dist_term_fuzz.cpp) and the corpus replay test (tests/dist), so the entry is
/// exercised by the normal build too.
///
/// The input is fed to the decoder as it is, and to the text readers as text. Whatever
/// decodes must encode to bytes that decode to an equal term (and encode again to the same
/// bytes), print as text that reads back to an equal term, and compare equal to itself under
/// `<=>`; `decode_prefix` must agree with `decode`. Whatever parses as text must do the same.

#include <cstddef>
#include <cstdint>
#include <moat/dist/external.hpp>
#include <moat/dist/term_text.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::fuzz {

namespace dist_term_detail {

// The invariants every valid term keeps.
inline bool check_term(const moat::dist::term& t, const char*& what) {
  using namespace moat::dist;
  const std::vector<std::uint8_t> bytes = encode(t);
  if (bytes.size() != encoded_size(t)) return (what = "encoded_size differs from encode"), false;
  term back;
  if (decode(bytes, back)) return (what = "an encoded term does not decode"), false;
  if (!(back == t)) return (what = "an encoded term decodes to another term"), false;
  if ((back <=> t) != 0) return (what = "<=> disagrees with =="), false;
  if (encode(back) != bytes) return (what = "re-encoding changed the bytes"), false;
  for (const auto style : {term_style::plain, term_style::readable}) {
    const std::string text = format_term(t, style);
    text_error error;
    const auto parsed = parse_term(text, error);
    if (!parsed) return (what = "format_term printed text parse_term refuses"), false;
    if (!(*parsed == t)) return (what = "format_term then parse_term changed the term"), false;
  }
  return true;
}

}  // namespace dist_term_detail

/// Runs one fuzz input (see the file comment). Returns true when the codec behaved; on a
/// violation returns false and, if `why` is given, describes it.
/// Thread-safety: pure (uses only locals).
[[nodiscard]] inline bool dist_term_check(std::span<const std::uint8_t> input,
                                          std::string* why = nullptr) {
  using namespace moat::dist;
  const char* what = nullptr;
  auto violation = [&] {
    if (why != nullptr) *why = what;
    return false;
  };

  term t;
  const std::error_code ec = decode(input, t);
  term first;
  std::size_t used = 0;
  const std::error_code pec = decode_prefix(input, first, used);
  if (!ec) {
    if (pec || used != input.size() || !(first == t)) {
      what = "decode_prefix disagrees with decode";
      return violation();
    }
    if (!dist_term_detail::check_term(t, what)) return violation();
  } else if (!pec && (ec != make_error_code(term_errc::trailing_bytes) || used >= input.size())) {
    what = "decode_prefix accepted what decode refused for another reason than trailing bytes";
    return violation();
  }

  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  text_error error;
  if (auto parsed = parse_term(text, error)) {
    if (!dist_term_detail::check_term(*parsed, what)) return violation();
  } else if (error.line == 0 || error.column == 0 || error.reason.empty()) {
    what = "a text error without a position or a reason";
    return violation();
  }
  if (auto terms = consult(text, error)) {
    for (const auto& c : *terms) {
      if (!dist_term_detail::check_term(c, what)) return violation();
    }
  }
  return true;
}

}  // namespace moat::fuzz
