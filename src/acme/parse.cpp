#include "acme/parse.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdio>

namespace moat::acme::detail {

namespace json = boost::json;

namespace {

[[noreturn]] void bad(std::string what) {
  throw bad_document(std::move(what));
}

const json::value* member(const json::object& o, std::string_view name) {
  const auto it = o.find(name);
  return it == o.end() ? nullptr : &it->value();
}

std::string required_string(const json::object& o, std::string_view name) {
  const json::value* v = member(o, name);
  if (v == nullptr) bad("member '" + std::string(name) + "' is missing");
  if (!v->is_string()) bad("member '" + std::string(name) + "' is not a string");
  return std::string(v->get_string());
}

std::string optional_string(const json::object& o, std::string_view name) {
  const json::value* v = member(o, name);
  if (v == nullptr || v->is_null()) return {};
  if (!v->is_string()) bad("member '" + std::string(name) + "' is not a string");
  return std::string(v->get_string());
}

std::vector<std::string> string_array(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  const json::value* v = member(o, name);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) bad("member '" + std::string(name) + "' is not an array");
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) bad("member '" + std::string(name) + "' holds a non-string");
    out.emplace_back(e.get_string());
  }
  return out;
}

std::optional<sys_time> optional_time(const json::object& o, std::string_view name) {
  const std::string s = optional_string(o, name);
  if (s.empty()) return std::nullopt;
  return parse_time(s, name);
}

const json::object& object_member(const json::object& o, std::string_view name) {
  const json::value* v = member(o, name);
  if (v == nullptr) bad("member '" + std::string(name) + "' is missing");
  if (!v->is_object()) bad("member '" + std::string(name) + "' is not an object");
  return v->get_object();
}

std::optional<problem> optional_problem(const json::object& o, std::string_view name) {
  const json::value* v = member(o, name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_object()) bad("member '" + std::string(name) + "' is not an object");
  return parse_problem(v->get_object(), 0);
}

int digits(std::string_view s, std::size_t pos, std::size_t n, std::string_view what) {
  if (pos + n > s.size()) bad("'" + std::string(what) + "' is not an RFC 3339 time");
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') bad("'" + std::string(what) + "' is not an RFC 3339 time");
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

json::object parse_object(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = 32;
  std::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) bad("the body is not JSON (" + ec.message() + ")");
  if (!v.is_object()) bad("the body is not a JSON object");
  return std::move(v.get_object());
}

sys_time parse_time(std::string_view s, std::string_view what) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  const auto check = [&](std::size_t pos, char c) {
    if (pos >= s.size() || (s[pos] != c && !(c == 'T' && (s[pos] == 't' || s[pos] == ' ')))) {
      bad("'" + std::string(what) + "' is not an RFC 3339 time");
    }
  };
  const int year = digits(s, 0, 4, what);
  check(4, '-');
  const int month = digits(s, 5, 2, what);
  check(7, '-');
  const int day = digits(s, 8, 2, what);
  check(10, 'T');
  const int hour = digits(s, 11, 2, what);
  check(13, ':');
  const int minute = digits(s, 14, 2, what);
  check(16, ':');
  const int second = digits(s, 17, 2, what);
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    long long scale = 100'000'000;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac += std::chrono::nanoseconds((s[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) bad("'" + std::string(what) + "' is not an RFC 3339 time");
  }
  std::chrono::minutes offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    const int oh = digits(s, pos + 1, 2, what);
    check(pos + 3, ':');
    const int om = digits(s, pos + 4, 2, what);
    offset = std::chrono::minutes(sign * (oh * 60 + om));
    pos += 6;
  } else {
    bad("'" + std::string(what) + "' is not an RFC 3339 time (no time zone)");
  }
  if (pos != s.size()) bad("'" + std::string(what) + "' is not an RFC 3339 time");
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) {
    bad("'" + std::string(what) + "' is not a valid date and time");
  }
  // system_clock counts nanoseconds in 64 bits: 1678 to 2262. A CA has no business outside
  // 1970 to 2200, and a date there must not overflow into another one.
  if (year < 1970 || year > 2200) {
    bad("'" + std::string(what) + "' is out of range (years 1970 to 2200)");
  }
  const auto t = std::chrono::sys_days(ymd) + std::chrono::hours(hour) +
                 std::chrono::minutes(minute) + std::chrono::seconds(second) - offset;
  return std::chrono::time_point_cast<sys_time::duration>(t) +
         std::chrono::duration_cast<sys_time::duration>(frac);
}

std::string format_time(sys_time t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto days = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::hh_mm_ss hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

object_status parse_status(std::string_view s) {
  static constexpr std::pair<std::string_view, object_status> names[] = {
      {"pending", object_status::pending},       {"ready", object_status::ready},
      {"processing", object_status::processing}, {"valid", object_status::valid},
      {"invalid", object_status::invalid},       {"deactivated", object_status::deactivated},
      {"expired", object_status::expired},       {"revoked", object_status::revoked}};
  for (const auto& [name, st] : names) {
    if (name == s) return st;
  }
  bad("'status' is not a known status ('" + std::string(s.substr(0, 40)) + "')");
}

identifier parse_identifier(const json::value& v) {
  if (!v.is_object()) bad("an identifier is not an object");
  const auto& o = v.get_object();
  return identifier{required_string(o, "type"), required_string(o, "value")};
}

problem parse_problem(const json::object& o, int http_status) {
  problem p;
  p.type = optional_string(o, "type");
  if (p.type.empty()) p.type = "about:blank";
  p.title = optional_string(o, "title");
  p.detail = optional_string(o, "detail");
  p.instance = optional_string(o, "instance");
  p.status = http_status;
  if (const json::value* s = member(o, "status"); s != nullptr && s->is_int64()) {
    if (p.status == 0) p.status = static_cast<int>(s->get_int64());
  }
  if (const json::value* subs = member(o, "subproblems"); subs != nullptr && subs->is_array()) {
    for (const auto& e : subs->get_array()) {
      if (!e.is_object()) continue;
      const auto& so = e.get_object();
      subproblem sp{optional_string(so, "type"), optional_string(so, "detail"), std::nullopt};
      if (const json::value* id = member(so, "identifier"); id != nullptr && id->is_object()) {
        sp.id = parse_identifier(*id);
      }
      p.subproblems.push_back(std::move(sp));
    }
  }
  return p;
}

directory parse_directory(const json::object& o) {
  directory d;
  d.new_nonce = required_string(o, "newNonce");
  d.new_account = required_string(o, "newAccount");
  d.new_order = required_string(o, "newOrder");
  d.new_authz = optional_string(o, "newAuthz");
  d.revoke_cert = optional_string(o, "revokeCert");
  d.key_change = optional_string(o, "keyChange");
  d.renewal_info = optional_string(o, "renewalInfo");
  if (const json::value* m = member(o, "meta"); m != nullptr && m->is_object()) {
    const auto& meta = m->get_object();
    d.terms_of_service = optional_string(meta, "termsOfService");
    d.website = optional_string(meta, "website");
    d.caa_identities = string_array(meta, "caaIdentities");
    if (const json::value* e = member(meta, "externalAccountRequired"); e != nullptr) {
      if (!e->is_bool()) bad("member 'externalAccountRequired' is not a boolean");
      d.external_account_required = e->get_bool();
    }
    if (const json::value* p = member(meta, "profiles"); p != nullptr && !p->is_null()) {
      if (!p->is_object()) bad("member 'profiles' is not an object");
      for (const auto& [name, desc] : p->get_object()) {
        d.profiles.emplace(std::string(name),
                           desc.is_string() ? std::string(desc.get_string()) : std::string());
      }
    }
  }
  return d;
}

account parse_account(const json::object& o, std::string url) {
  account a;
  a.url = std::move(url);
  a.status = parse_status(required_string(o, "status"));
  a.contact = string_array(o, "contact");
  a.orders = optional_string(o, "orders");
  return a;
}

challenge parse_challenge(const json::object& o) {
  challenge c;
  c.type = required_string(o, "type");
  c.url = required_string(o, "url");
  c.status = parse_status(required_string(o, "status"));
  c.token = optional_string(o, "token");
  c.validated = optional_time(o, "validated");
  c.error = optional_problem(o, "error");
  return c;
}

authorization parse_authorization(const json::object& o, std::string url) {
  authorization a;
  a.url = std::move(url);
  const json::value* id = member(o, "identifier");
  if (id == nullptr) bad("member 'identifier' is missing");
  a.id = parse_identifier(*id);
  a.status = parse_status(required_string(o, "status"));
  a.expires = optional_time(o, "expires");
  if (const json::value* w = member(o, "wildcard"); w != nullptr && w->is_bool()) {
    a.wildcard = w->get_bool();
  }
  const json::value* cs = member(o, "challenges");
  if (cs == nullptr || !cs->is_array()) bad("member 'challenges' is missing or not an array");
  for (const auto& c : cs->get_array()) {
    if (!c.is_object()) bad("a challenge is not an object");
    a.challenges.push_back(parse_challenge(c.get_object()));
  }
  return a;
}

order parse_order(const json::object& o, std::string url) {
  order r;
  r.url = std::move(url);
  r.status = parse_status(required_string(o, "status"));
  r.expires = optional_time(o, "expires");
  const json::value* ids = member(o, "identifiers");
  if (ids == nullptr || !ids->is_array()) bad("member 'identifiers' is missing or not an array");
  for (const auto& i : ids->get_array()) r.identifiers.push_back(parse_identifier(i));
  r.authorizations = string_array(o, "authorizations");
  r.finalize = required_string(o, "finalize");
  r.certificate = optional_string(o, "certificate");
  r.profile = optional_string(o, "profile");
  r.replaces = optional_string(o, "replaces");
  r.error = optional_problem(o, "error");
  return r;
}

renewal_info parse_renewal_info(const json::object& o) {
  renewal_info r;
  const auto& w = object_member(o, "suggestedWindow");
  r.window_start = parse_time(required_string(w, "start"), "start");
  r.window_end = parse_time(required_string(w, "end"), "end");
  if (r.window_end <= r.window_start) bad("'suggestedWindow' ends before it starts");
  r.explanation_url = optional_string(o, "explanationURL");
  return r;
}

}  // namespace moat::acme::detail
