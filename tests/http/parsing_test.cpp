// The I/O-free cores of the http part: the request reader (limits, pipelining, bytes in any
// pieces), the response reader, the target and Host checks, URLs, the response rules and the
// wire format.
#include <gtest/gtest.h>

#include <chrono>
#include <moat/http/http.hpp>
#include <span>
#include <string>
#include <vector>

#include "http/request_reader.hpp"
#include "http/respond.hpp"
#include "http/response_reader.hpp"
#include "http/target.hpp"
#include "http/url.hpp"
#include "http/wire.hpp"

namespace moat::http::detail {
namespace {

namespace bhttp = boost::beast::http;
using status = request_reader::status;

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds `wire` in pieces of `piece` bytes; returns the requests read and the final status.
std::pair<std::vector<request_message>, status> read_all(std::string_view wire, std::size_t piece,
                                                         request_limits limits = {}) {
  request_reader r(limits);
  std::vector<request_message> got;
  status st = status::need_more;
  for (std::size_t at = 0; at < wire.size() && st != status::failed;) {
    const auto n = std::min(piece, wire.size() - at);
    st = r.feed(bytes(wire.substr(at, n)));
    at += n;
    while (st == status::complete) {
      got.push_back(r.take());
      st = r.parse();
    }
  }
  return {std::move(got), st == status::failed ? status::failed : status::need_more};
}

TEST(RequestReader, ReadsPipelinedRequestsTheSameWayWhateverThePieces) {
  const std::string wire =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "\r\n"  // a stray empty line between requests is ignored
      "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{7}, wire.size()}) {
    auto [got, st] = read_all(wire, piece);
    ASSERT_EQ(got.size(), 3U) << "pieces of " << piece;
    EXPECT_EQ(st, status::need_more);
    EXPECT_EQ(got[0].target(), "/a");
    EXPECT_EQ(got[1].method(), bhttp::verb::post);
    EXPECT_EQ(got[1].body(), "hello");
    EXPECT_EQ(got[2].body(), "abc");
  }
}

TEST(RequestReader, RefusesAHeadBeyondTheHeaderLimit) {
  const std::string wire =
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n";
  auto [got, st] = read_all(wire, 16, {.header_bytes = 128, .body_bytes = 1024});
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(st, status::failed);
  request_reader r({.header_bytes = 128, .body_bytes = 1024});
  EXPECT_EQ(r.feed(bytes(wire)), status::failed);
  EXPECT_EQ(r.error(), errc::header_too_large);
}

TEST(RequestReader, RefusesABodyBeyondTheLimitAtTheHeadWhenContentLengthSaysSo) {
  request_reader r({.header_bytes = 1024, .body_bytes = 10});
  EXPECT_EQ(r.feed(bytes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")),
            status::failed);
  EXPECT_EQ(r.error(), errc::body_too_large);
  // Chunked: when the chunks pass the limit.
  request_reader c({.header_bytes = 1024, .body_bytes = 10});
  EXPECT_EQ(c.feed(bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")),
            status::need_more);
  EXPECT_EQ(c.feed(bytes("8\r\n12345678\r\n")), status::need_more);
  EXPECT_EQ(c.feed(bytes("8\r\n12345678\r\n")), status::failed);
  EXPECT_EQ(c.error(), errc::body_too_large);
}

// A chunked body is judged by its whole lines, never by where TCP cut it: a bad chunk
// extension (here a control character in a quoted value) is malformed in any pieces, a chunk
// beyond the limit is too large in any pieces, and a valid body reads the same in any pieces.
TEST(RequestReader, JudgesAChunkedBodyAlikeWhateverThePieces) {
  const std::string head = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const request_limits limits{.header_bytes = 512, .body_bytes = 1024};
  struct example {
    std::string body;
    status verdict;
    std::error_code error;
  };
  const std::vector<example> examples = {
      {"5\r\nhello\r\n6;ext=\"\x13mans\"\r\n world\r\n0\r\n\r\n", status::failed,
       errc::malformed_message},
      {"5\r\nhello\r\n6;e\xb1\x9a\x9a\x9a\x9a\x9a\x9a\x9a\x9a\x9a\x9a\x9a\x9a\r\n world\r\n",
       status::failed, errc::malformed_message},
      {"5\r\nhello\r\n" + std::string(2000, '0') + "5\r\n", status::failed, errc::body_too_large},
      {"401\r\n" + std::string(40, 'x'), status::failed, errc::body_too_large},
      {"5 \r\nhello\r\n0\r\n\r\n", status::failed, errc::malformed_message},
      {"5\nhello\r\n0\r\n\r\n", status::failed, errc::malformed_message},
      {"5\r\nhelloXY0\r\n\r\n", status::failed, errc::malformed_message},
      {"0\r\nBad Trailer\r\n\r\n", status::failed, errc::malformed_message},
      {"5;a=b ; c = \"d\\\"e\"\r\nhello\r\n0;last\r\nT: v\r\n\r\n", status::complete, {}},
  };
  for (const auto& e : examples) {
    const std::string wire = head + e.body;
    for (std::size_t piece = 1; piece <= wire.size(); piece += piece < 20 ? 1 : 37) {
      request_reader r(limits);
      status st = status::need_more;
      for (std::size_t at = 0; at < wire.size() && st == status::need_more; at += piece) {
        st = r.feed(bytes(std::string_view(wire).substr(at, piece)));
      }
      EXPECT_EQ(st, e.verdict) << "pieces of " << piece << ": " << e.body;
      EXPECT_EQ(r.error(), e.error) << "pieces of " << piece << ": " << e.body;
      if (st == status::complete) {
        EXPECT_EQ(r.take().body(), "hello");
      }
    }
  }
}

TEST(RequestReader, CallsGarbageMalformed) {
  for (std::string_view wire :
       {std::string_view("GARBAGE\r\n\r\n"), std::string_view("GET / HTTP/9.9\r\n\r\n"),
        std::string_view("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
        std::string_view("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")}) {
    request_reader r({});
    EXPECT_EQ(r.feed(bytes(wire)), status::failed) << wire;
    EXPECT_EQ(r.error(), errc::malformed_message) << wire;
  }
}

TEST(RequestReader, RefusesTransferCodingsOtherThanOneChunked) {
  for (std::string_view wire :
       {std::string_view("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        std::string_view("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // HTTP/1.0 has no transfer codings: its framing is faulty (RFC 9112 section 6.1).
        std::string_view("POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "0\r\n\r\n")}) {
    request_reader r({});
    EXPECT_EQ(r.feed(bytes(wire)), status::failed) << wire;
    EXPECT_EQ(r.error(), errc::malformed_message) << wire;
  }
  request_reader ok({});
  EXPECT_EQ(ok.feed(bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n"
                          "1\r\na\r\n0\r\n\r\n")),
            status::complete);
}

TEST(RequestReader, ReportsStartedHeaderDoneAndExpectContinue) {
  request_reader r({});
  EXPECT_FALSE(r.started());
  EXPECT_EQ(r.feed(bytes("\r\n")), status::need_more);
  EXPECT_FALSE(r.started());
  EXPECT_EQ(r.feed(bytes("POST /up HTTP/1.1\r\nHost: x\r\n")), status::need_more);
  EXPECT_TRUE(r.started());
  EXPECT_FALSE(r.header_done());
  EXPECT_EQ(r.feed(bytes("Expect: 100-Continue\r\nContent-Length: 3\r\n\r\n")), status::need_more);
  EXPECT_TRUE(r.header_done());
  EXPECT_TRUE(r.expects_continue());
  EXPECT_EQ(r.feed(bytes("abc")), status::complete);
  EXPECT_FALSE(r.expects_continue());
  EXPECT_EQ(r.take().body(), "abc");
  EXPECT_FALSE(r.started());
}

TEST(RequestTarget, DecodesThePathKeepsTheRawQueryAndTakesTheHostWithoutItsPort) {
  request_message m{bhttp::verb::get, "/a%20b/./c/../d?x=%41&y", 11};
  m.set(bhttp::field::host, "Example.COM:8080");
  auto t = analyse_target(m);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->path, "/a b/d");
  EXPECT_EQ(t->encoded_path, "/a%20b/d");
  EXPECT_EQ(t->query, "x=%41&y");
  EXPECT_EQ(t->host, "example.com");
  m.set(bhttp::field::host, "[::1]:80");
  EXPECT_EQ(analyse_target(m)->host, "[::1]");
}

TEST(RequestTarget, TakesTheHostOfAnAbsoluteFormTarget) {
  request_message m{bhttp::verb::get, "http://Other.example:81/p?q", 11};
  m.set(bhttp::field::host, "ignored.example");
  auto t = analyse_target(m);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "other.example");
  EXPECT_EQ(t->path, "/p");
  EXPECT_EQ(t->query, "q");
}

TEST(RequestTarget, RefusesWhatAServerMustNotGuessAt) {
  auto refused = [](std::string target, std::vector<std::string> hosts, unsigned version = 11,
                    bhttp::verb v = bhttp::verb::get) {
    request_message m{v, target, version};
    for (auto& h : hosts) m.insert(bhttp::field::host, h);
    return !analyse_target(m).has_value();
  };
  EXPECT_TRUE(refused("/", {}));                  // HTTP/1.1 without Host
  EXPECT_TRUE(refused("/", {"a", "b"}));          // two Hosts
  EXPECT_TRUE(refused("/", {"user@host"}));       // user info
  EXPECT_TRUE(refused("/", {"bad host"}));        // not a host
  EXPECT_TRUE(refused("/%00", {"x"}));            // a NUL in the path
  EXPECT_TRUE(refused("ftp://x/", {"x"}));        // not http(s)
  EXPECT_TRUE(refused("x", {"x"}));               // no form at all
  EXPECT_TRUE(refused("*", {"x"}));               // "*" is for OPTIONS only
  EXPECT_TRUE(refused("http://h:80p/x", {"x"}));  // a port with a letter in it
  EXPECT_FALSE(refused("*", {"x"}, 11, bhttp::verb::options));
  EXPECT_FALSE(refused("/", {}, 10));  // HTTP/1.0 may omit Host
}

TEST(ClientUrl, TakesAbsoluteUrlsApartWithTheDefaultPorts) {
  auto u = parse_url("HTTPS://Example.com/a/b?c=d#frag");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->secure);
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->host_header, "example.com");
  EXPECT_EQ(u->target, "/a/b?c=d");
  EXPECT_EQ(u->origin, "https://example.com:443");
  auto v6 = parse_url("http://[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->host_header, "[::1]:8080");
  EXPECT_EQ(v6->target, "/");
  EXPECT_EQ(parse_url("http://127.0.0.1:80/")->host_header, "127.0.0.1");
}

TEST(ClientUrl, RefusesUrlsItCannotUse) {
  for (std::string_view bad :
       {"", "not a url", "/relative", "http://", "http:///path", "http://user:pw@host/",
        "http://host:0/", "http://host:99999/", "http://[v1.x]/", "http://host:80p/x",
        "mailto:someone@example.com"}) {
    auto u = parse_url(bad);
    EXPECT_FALSE(u) << bad;
    if (!u && bad != "mailto:someone@example.com") {
      EXPECT_EQ(u.error(), errc::invalid_url) << bad;
    }
  }
  EXPECT_EQ(parse_url("ftp://example.com/").error(), errc::unsupported_scheme);
  EXPECT_EQ(parse_url("mailto:someone@example.com").error(), errc::unsupported_scheme);
}

TEST(ClientUrl, ResolvesRelativeLocations) {
  auto base = *parse_url("https://example.com:8443/a/b?q");
  EXPECT_EQ(resolve_location(base, "c")->text, "https://example.com:8443/a/c");
  EXPECT_EQ(resolve_location(base, "/x?y#z")->text, "https://example.com:8443/x?y");
  EXPECT_EQ(resolve_location(base, "//other.example/p")->origin, "https://other.example:443");
  EXPECT_EQ(resolve_location(base, "http://plain.example/")->origin, "http://plain.example:80");
  EXPECT_FALSE(resolve_location(base, "http://[bad"));
}

TEST(ResponseReader, SkipsInterimResponsesAndHeadBodies) {
  response_reader r(1024, 1024, false);
  EXPECT_EQ(
      r.feed(bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),
      response_reader::status::complete);
  EXPECT_TRUE(r.reusable());
  EXPECT_EQ(r.take().body(), "ok");
  response_reader h(1024, 1024, true);
  EXPECT_EQ(h.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")),
            response_reader::status::complete);
}

TEST(ResponseReader, EndsABodyDelimitedByTheCloseAndCallsOtherEndsEarly) {
  response_reader r(1024, 1024, false);
  EXPECT_EQ(r.feed(bytes("HTTP/1.1 200 OK\r\n\r\nall of it")), response_reader::status::need_more);
  EXPECT_EQ(r.finish(), response_reader::status::complete);
  EXPECT_FALSE(r.reusable());
  EXPECT_EQ(r.take().body(), "all of it");
  response_reader cut(1024, 1024, false);
  EXPECT_EQ(cut.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")),
            response_reader::status::need_more);
  EXPECT_EQ(cut.finish(), response_reader::status::failed);
  EXPECT_EQ(cut.error(), errc::closed_early);
  response_reader nothing(1024, 1024, false);
  EXPECT_EQ(nothing.finish(), response_reader::status::failed);
  EXPECT_EQ(nothing.error(), errc::closed_early);
}

TEST(ResponseReader, AppliesItsLimits) {
  response_reader big_head(64, 1024, false);
  EXPECT_EQ(big_head.feed(bytes("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'x') + "\r\n\r\n")),
            response_reader::status::failed);
  EXPECT_EQ(big_head.error(), errc::header_too_large);
  response_reader big_body(1024, 4, false);
  EXPECT_EQ(big_body.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")),
            response_reader::status::failed);
  EXPECT_EQ(big_body.error(), errc::body_too_large);
}

TEST(ResponseRules, SetLengthDateServerAndConnectionAndDropBodiesWhereNoneBelongs) {
  request_message get{bhttp::verb::get, "/", 11};
  auto r = make_response(bhttp::status::ok, "hello");
  r.set(bhttp::field::transfer_encoding, "chunked");
  finish_response(r, get, false);
  EXPECT_EQ(r[bhttp::field::content_length], "5");
  EXPECT_EQ(r[bhttp::field::server], "moat");
  EXPECT_FALSE(r[bhttp::field::date].empty());
  EXPECT_EQ(r[bhttp::field::connection], "close");
  EXPECT_EQ(r.count(bhttp::field::transfer_encoding), 0U);

  request_message head{bhttp::verb::head, "/", 10};
  auto h = make_response(bhttp::status::ok, "hello");
  finish_response(h, head, true);
  EXPECT_EQ(h[bhttp::field::content_length], "5");
  EXPECT_EQ(h[bhttp::field::connection], "keep-alive");  // HTTP/1.0 asked to keep it
  std::string wire;
  serialize(h, false, wire);
  EXPECT_TRUE(wire.ends_with("\r\n\r\n")) << wire;

  auto none = make_response(bhttp::status::no_content, "dropped");
  finish_response(none, get, true);
  EXPECT_TRUE(none.body().empty());
  EXPECT_EQ(none.count(bhttp::field::content_length), 0U);
  EXPECT_EQ(none.count(bhttp::field::connection), 0U);
}

TEST(ResponseRules, RefuseWithTheStatusOfEachReason) {
  EXPECT_EQ(refusal(errc::malformed_message).result(), bhttp::status::bad_request);
  EXPECT_EQ(refusal(errc::timeout).result(), bhttp::status::request_timeout);
  EXPECT_EQ(refusal(errc::body_too_large).result(), bhttp::status::payload_too_large);
  EXPECT_EQ(refusal(errc::header_too_large).result(),
            bhttp::status::request_header_fields_too_large);
  EXPECT_EQ(refusal(errc::timeout)[bhttp::field::connection], "close");
}

TEST(Wire, WritesTheDateInImfFixdate) {
  using namespace std::chrono;
  const auto t = sys_days{year{1994} / 11 / 6} + hours{8} + minutes{49} + seconds{37};
  EXPECT_EQ(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(http_date_now().size(), 29U);
}

}  // namespace
}  // namespace moat::http::detail
