#include "acme/headers.hpp"

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>

namespace moat::acme::detail {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (the form servers must send).
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view s) {
  static constexpr std::array<std::string_view, 12> months = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s[3] != ',' || s.substr(26) != "GMT") return std::nullopt;
  const auto num = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const auto day = num(5, 2);
  const auto year = num(12, 4);
  const auto hour = num(17, 2);
  const auto minute = num(20, 2);
  const auto second = num(23, 2);
  const auto m = std::find(months.begin(), months.end(), s.substr(8, 3));
  if (!day || !year || !hour || !minute || !second || m == months.end()) return std::nullopt;
  const std::chrono::year_month_day ymd{
      std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(m - months.begin() + 1)),
      std::chrono::day(static_cast<unsigned>(*day))};
  // system_clock holds 1678..2262; a date outside 1970..2200 is not a Retry-After to believe.
  if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 60 || *year < 1970 || *year > 2200) {
    return std::nullopt;
  }
  return std::chrono::sys_days(ymd) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
         std::chrono::seconds(*second);
}

}  // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  constexpr std::chrono::seconds cap = std::chrono::hours(24 * 365);
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return cap;
    long long v = 0;
    for (const char c : value) v = v * 10 + (c - '0');
    return std::min(std::chrono::seconds(v), cap);
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  if (*when <= now) return std::chrono::seconds(0);
  return std::min(std::chrono::ceil<std::chrono::seconds>(*when - now), cap);
}

std::vector<std::string> parse_links(const std::vector<std::string_view>& values,
                                     std::string_view rel) {
  std::vector<std::string> out;
  for (std::string_view field : values) {
    // link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), separated by commas.
    // A comma inside <...> or a quoted string does not separate links.
    std::size_t pos = 0;
    while (pos < field.size()) {
      const std::size_t open = field.find('<', pos);
      if (open == std::string_view::npos) break;
      const std::size_t close = field.find('>', open);
      if (close == std::string_view::npos) break;
      const std::string_view target = field.substr(open + 1, close - open - 1);
      // The parameters run to the next comma outside quotes.
      std::size_t end = close + 1;
      bool quoted = false;
      while (end < field.size() && (quoted || field[end] != ',')) {
        if (field[end] == '"') quoted = !quoted;
        ++end;
      }
      std::string_view params = field.substr(close + 1, end - close - 1);
      bool match = false;
      while (!params.empty()) {
        const std::size_t semi = params.find(';');
        std::string_view param = trim(params.substr(0, semi));
        params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
        const std::size_t eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        if (lower(trim(param.substr(0, eq))) != "rel") continue;
        std::string_view v = trim(param.substr(eq + 1));
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        // rel may list several relation types separated by spaces.
        while (!v.empty()) {
          const std::size_t sp = v.find(' ');
          if (lower(v.substr(0, sp)) == lower(rel)) match = true;
          v = sp == std::string_view::npos ? std::string_view{} : v.substr(sp + 1);
        }
      }
      if (match) out.emplace_back(target);
      pos = end + 1;
    }
  }
  return out;
}

std::string media_type(std::string_view content_type) {
  return lower(trim(content_type.substr(0, content_type.find(';'))));
}

std::string resolve_url(std::string_view base, std::string_view ref) {
  const auto b = boost::urls::parse_uri(base);
  const auto r = boost::urls::parse_uri_reference(ref);
  if (!b || !r) return std::string(ref);
  boost::urls::url out;
  if (!boost::urls::resolve(*b, *r, out)) return std::string(ref);
  return std::string(out.buffer());
}

}  // namespace moat::acme::detail
