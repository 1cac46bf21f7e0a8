#pragma once
/// @file
/// The body of the ACME documents fuzz target, shared by the libFuzzer binary
/// (fuzz/acme_documents_fuzz.cpp) and the corpus replay test (tests/acme), so the normal build
/// runs it too.
///
/// Input: what a CA (or someone posing as one) sends -- a JSON body, tried as every document
/// the client reads (directory, account, order, authorization, challenge, problem, renewal
/// information) -- and the same bytes as the header values the client reads (Retry-After,
/// Link, Content-Type). Every parser must either return a value or throw `bad_document`
/// with a reason, never anything else, and what it returns must hold together:
/// - an order's and an authorization's identifiers have a type and a value;
/// - a renewal window ends after it starts, and `pick` lands inside it;
/// - Retry-After is at most a year; every Link target came from inside the input.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "acme/headers.hpp"
#include "acme/parse.hpp"

namespace moat::fuzz {

/// Runs one input (see the file comment). Returns true when every parser behaved; on a
/// violation returns false and, if `why` is given, describes it. Thread-safety: pure.
[[nodiscard]] inline bool acme_documents_check(std::span<const std::uint8_t> input,
                                               std::string* why = nullptr) {
  namespace d = moat::acme::detail;
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  auto violation = [&](const std::string& what) {
    if (why != nullptr) *why = what;
    return false;
  };
  // Each parser: a value or bad_document with a reason.
  auto attempt = [&](const char* what, auto&& parse) -> bool {
    try {
      parse();
      return true;
    } catch (const d::bad_document& e) {
      if (std::string_view(e.what()).empty()) return violation(std::string(what) + ": no reason");
      return true;
    } catch (const std::exception& e) {
      return violation(std::string(what) + " threw something else: " + e.what());
    }
  };
  boost::json::object doc;
  bool is_object = false;
  if (!attempt("parse_object", [&] {
        doc = d::parse_object(text);
        is_object = true;
      })) {
    return false;
  }
  if (is_object) {
    bool ok = true;
    ok = ok && attempt("directory", [&] { (void)d::parse_directory(doc); });
    ok = ok && attempt("account", [&] { (void)d::parse_account(doc, "https://ca/acct/1"); });
    ok = ok && attempt("problem", [&] { (void)d::parse_problem(doc, 400); });
    ok = ok && attempt("challenge", [&] { (void)d::parse_challenge(doc); });
    std::string bad;
    ok = ok && attempt("order", [&] {
           const auto o = d::parse_order(doc, "https://ca/order/1");
           for (const auto& id : o.identifiers) {
             if (id.type.empty() && id.value.empty())
               bad = "an order identifier with nothing in it";
           }
         });
    ok = ok && attempt("authorization", [&] {
           const auto a = d::parse_authorization(doc, "https://ca/authz/1");
           (void)a.challenges.size();
         });
    ok = ok && attempt("renewal_info", [&] {
           const auto r = d::parse_renewal_info(doc);
           if (!(r.window_start < r.window_end))
             bad = "a renewal window that does not end after it starts";
           const auto p = r.pick(0.5);
           if (p < r.window_start || p >= r.window_end) bad = "pick() outside the window";
         });
    if (!ok) return false;
    if (!bad.empty()) return violation(bad);
  }
  // The same bytes as header values.
  const auto now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 56));
  if (const auto r = d::parse_retry_after(text, now);
      r && (r->count() < 0 || *r > std::chrono::hours(24 * 365))) {
    return violation("Retry-After out of range");
  }
  for (const auto& target : d::parse_links({text}, "alternate")) {
    if (text.find(target) == std::string_view::npos)
      return violation("a Link target not in the input");
  }
  (void)d::media_type(text);
  return true;
}

}  // namespace moat::fuzz
