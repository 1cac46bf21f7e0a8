#pragma once
// Internal: the CA's JSON documents to moat's resource values, without I/O. Every function
// throws bad_document naming what is wrong ("member 'finalize' is missing", "'status' is not
// a known status"), which the client turns into errc::bad_response with its context.
#include <boost/json/value.hpp>
#include <moat/acme/errors.hpp>
#include <moat/acme/resources.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace moat::acme::detail {

/// A document that does not follow RFC 8555.
struct bad_document : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parses JSON text: an object at the top, at most 32 levels deep. Throws bad_document.
[[nodiscard]] boost::json::object parse_object(std::string_view text);

/// RFC 3339 date-time ("2026-12-02T10:00:00Z", fractions and offsets allowed). Throws
/// bad_document naming `what`.
[[nodiscard]] sys_time parse_time(std::string_view text, std::string_view what);

/// RFC 3339 in UTC with seconds: "2026-12-02T10:00:00Z".
[[nodiscard]] std::string format_time(sys_time t);

[[nodiscard]] object_status parse_status(std::string_view s);
[[nodiscard]] identifier parse_identifier(const boost::json::value& v);
[[nodiscard]] problem parse_problem(const boost::json::object& o, int http_status);
[[nodiscard]] directory parse_directory(const boost::json::object& o);
[[nodiscard]] account parse_account(const boost::json::object& o, std::string url);
[[nodiscard]] order parse_order(const boost::json::object& o, std::string url);
[[nodiscard]] authorization parse_authorization(const boost::json::object& o, std::string url);
[[nodiscard]] challenge parse_challenge(const boost::json::object& o);
[[nodiscard]] renewal_info parse_renewal_info(const boost::json::object& o);

}  // namespace moat::acme::detail
