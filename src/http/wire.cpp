// Messages to bytes, and the Date header (see wire.hpp).
#include "http/wire.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/serializer.hpp>
#include <stdexcept>

namespace moat::http::detail {

namespace bhttp = boost::beast::http;

namespace {

template <bool IsRequest>
void write_out(const bhttp::message<IsRequest, bhttp::string_body>& m, bool with_body,
               std::string& out) {
  bhttp::serializer<IsRequest, bhttp::string_body> sr(m);
  sr.split(!with_body);
  boost::beast::error_code ec;
  auto done = [&] {
    return with_body ? sr.is_done() : sr.is_header_done();
  };
  while (!done()) {
    std::size_t taken = 0;
    sr.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
      for (const auto b : boost::beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(b.data()), b.size());
        taken += b.size();
      }
    });
    if (ec) throw std::runtime_error("serializing an HTTP message: " + ec.message());
    sr.consume(taken);
  }
}

}  // namespace

void serialize(const response& m, bool with_body, std::string& out) {
  write_out(m, with_body, out);
}

void serialize(const request_message& m, std::string& out) {
  write_out(m, true, out);
}

std::string http_date(std::chrono::system_clock::time_point t) {
  // The names are fixed English ones whatever the locale (RFC 9110 section 5.6.7).
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::tm tm = fmt::gmtime(std::chrono::system_clock::to_time_t(t));
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", days[tm.tm_wday % 7], tm.tm_mday,
                     months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

const std::string& http_date_now() {
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached;
  const auto now = std::chrono::system_clock::now();
  const auto second = std::chrono::system_clock::to_time_t(now);
  if (second != cached_second) {
    cached = http_date(now);
    cached_second = second;
  }
  return cached;
}

}  // namespace moat::http::detail
