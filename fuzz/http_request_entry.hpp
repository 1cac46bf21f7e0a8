#pragma once
/// @file
/// The body of the HTTP request parsing fuzz target, shared by the libFuzzer binary
/// (fuzz/http_request_fuzz.cpp) and the corpus replay test (tests/http), so the entry is
/// exercised by the normal build too.
///
/// Input: one byte that chooses how the rest is cut into pieces (1 to 16 bytes), then the
/// bytes a client sends on a connection (a seed is one or more requests). The rest goes
/// through the server's own I/O-free core -- `request_reader` with small limits (header 512,
/// body 1024 bytes), then `analyse_target`, `finish_response` and `serialize` for each request
/// -- and must:
/// - read the same requests, and end in the same state, whether the bytes come all at once
///   or in pieces (the answer never depends on how TCP cut the stream);
/// - fail only with malformed_message, header_too_large or body_too_large, and stay failed;
/// - keep every body within the limit;
/// - give each accepted target a path that starts with '/' (or is "*") and holds no NUL;
/// - write a request it read so that reading it again gives the same method, target and body.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "http/request_reader.hpp"
#include "http/respond.hpp"
#include "http/target.hpp"
#include "http/wire.hpp"

namespace moat::fuzz {

namespace http_request_detail {

/// What one reading of the stream saw.
struct reading {
  std::vector<std::string> requests;  // method, target, version, body of each
  std::error_code failure;
  bool started = false;  // the last request was incomplete
};

inline std::string summary(const moat::http::request_message& m) {
  return std::string(m.method_string()) + " " + std::string(m.target()) + " " +
         std::to_string(m.version()) + " " + m.body();
}

inline reading read(std::span<const std::uint8_t> wire, std::size_t piece,
                    std::vector<moat::http::request_message>* keep = nullptr,
                    moat::http::detail::request_limits limits = {.header_bytes = 512,
                                                                 .body_bytes = 1024}) {
  using status = moat::http::detail::request_reader::status;
  moat::http::detail::request_reader r(limits);
  reading out;
  auto st = status::need_more;
  for (std::size_t at = 0; at < wire.size() && st != status::failed;) {
    const std::size_t n = std::min(piece, wire.size() - at);
    st = r.feed(wire.subspan(at, n));
    at += n;
    while (st == status::complete) {
      auto m = r.take();
      out.requests.push_back(summary(m));
      if (keep != nullptr) keep->push_back(std::move(m));
      st = r.parse();
    }
  }
  if (st == status::failed) {
    out.failure = r.error();
    if (r.feed({}) != status::failed) out.failure = std::make_error_code(std::errc::io_error);
  }
  out.started = r.started();
  return out;
}

}  // namespace http_request_detail

/// Runs one input (see the file comment). Returns true when the core behaved; on a violation
/// returns false and, if `why` is given, describes it. Thread-safety: pure (uses only locals).
[[nodiscard]] inline bool http_request_check(std::span<const std::uint8_t> input,
                                             std::string* why = nullptr) {
  namespace d = http_request_detail;
  namespace h = moat::http;
  auto violation = [&](const std::string& what) {
    if (why != nullptr) *why = what;
    return false;
  };
  if (input.empty()) return true;
  const std::size_t piece = 1 + input[0] % 16;
  const auto wire = input.subspan(1);

  std::vector<h::request_message> requests;
  const auto whole = d::read(wire, wire.size() == 0 ? 1 : wire.size(), &requests);
  const auto cut = d::read(wire, piece);
  if (whole.requests != cut.requests) return violation("the requests read depend on the pieces");
  if (whole.failure != cut.failure) {
    return violation("the failure depends on the pieces: " + whole.failure.message() + " / " +
                     cut.failure.message());
  }
  if (!whole.failure && whole.started != cut.started) {
    return violation("the state at the end depends on the pieces");
  }
  if (whole.failure && whole.failure != h::errc::malformed_message &&
      whole.failure != h::errc::header_too_large && whole.failure != h::errc::body_too_large) {
    return violation("unexpected failure: " + whole.failure.message());
  }

  for (const auto& m : requests) {
    if (m.body().size() > 1024) return violation("a body beyond the limit");
    if (auto t = h::detail::analyse_target(m)) {
      if (t->path != "*" && (t->path.empty() || t->path.front() != '/')) {
        return violation("a path that does not start with '/': " + t->path);
      }
      if (t->path.find('\0') != std::string::npos) return violation("a NUL in the path");
    }
    // The response path of the server, on this request.
    auto res = h::make_response(boost::beast::http::status::ok, "body");
    h::detail::finish_response(res, m, m.keep_alive());
    std::string out;
    h::detail::serialize(res, m.method() != boost::beast::http::verb::head, out);
    // Written again and read again, a request is the same request. (Beast writes the fields
    // in its own spacing and order, so the head may grow: it is read with larger limits.)
    std::string again;
    h::detail::serialize(m, again);
    std::vector<h::request_message> reread;
    const auto r = d::read({reinterpret_cast<const std::uint8_t*>(again.data()), again.size()},
                           again.size(), &reread, {.header_bytes = 1 << 20, .body_bytes = 1 << 20});
    if (reread.empty() || d::summary(reread.front()) != d::summary(m)) {
      return violation("a request written again reads differently: " + d::summary(m));
    }
    (void)r;
  }
  return true;
}

}  // namespace moat::fuzz
