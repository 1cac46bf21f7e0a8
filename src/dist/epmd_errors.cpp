// The EPMD error category, epmd_error's message, and which port EPMD is on.
#include <boost/throw_exception.hpp>
#include <cstdlib>
#include <string>

#include "moat/dist/epmd.hpp"
#include "moat/dist/node_name.hpp"
#include "moat/error.hpp"

namespace moat::dist {
namespace {

class epmd_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.dist.epmd"; }
  std::string message(int value) const override {
    switch (static_cast<epmd_errc>(value)) {
      case epmd_errc::not_running:
        return "no EPMD is running there (connection refused)";
      case epmd_errc::unreachable:
        return "EPMD could not be reached";
      case epmd_errc::host_not_found:
        return "the host name does not resolve";
      case epmd_errc::timeout:
        return "EPMD did not answer in time";
      case epmd_errc::name_taken:
        return "EPMD refused the registration: the name is registered already (or EPMD "
               "refuses it)";
      case epmd_errc::not_registered:
        return "no node of that name is registered with EPMD";
      case epmd_errc::malformed_reply:
        return "EPMD's reply is malformed";
      case epmd_errc::no_reply:
        return "EPMD closed the connection without a reply (epmd refuses registrations from "
               "other hosts that way)";
      case epmd_errc::protocol_too_old:
        return "the node's distribution protocol is too old (version 6, OTP 23 or later, is "
               "needed)";
      case epmd_errc::invalid_name:
        return "not a name EPMD registers (1 to 255 UTF-8 characters, no NUL; an extra field "
               "of at most 1020 bytes)";
      case epmd_errc::invalid_port:
        return "not a port number (a decimal number from 1 to 65535)";
      case epmd_errc::connection_lost:
        return "the connection to EPMD was lost: the name is no longer registered";
      case epmd_errc::unregistered:
        return "the registration was closed";
      case epmd_errc::not_epmd:
        return "something answers on that port, but not as EPMD does";
    }
    return "unknown moat.dist.epmd error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& epmd_category() noexcept {
  static const epmd_category_impl instance;
  return instance;
}

std::string epmd_error::message() const {
  std::string s = "EPMD at " + endpoint_text(host, port) + ": " + code.message();
  if (!detail.empty()) s += ": " + detail;
  return s;
}

void throw_exception_from_error(const epmd_error& e, const boost::source_location& loc) {
  boost::throw_exception(epmd_exception(e), loc);
}

std::optional<std::uint16_t> parse_epmd_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::uint16_t epmd_port(std::optional<std::uint16_t> given) {
  if (given) {
    if (*given == 0) throw config_error("EPMD port 0", epmd_errc::invalid_port);
    return *given;
  }
  const char* env = std::getenv("ERL_EPMD_PORT");  // NOLINT(concurrency-mt-unsafe)
  if (env == nullptr) return default_epmd_port;
  const auto port = parse_epmd_port(env);
  if (!port) {
    throw config_error("ERL_EPMD_PORT '" + std::string(env) + "'", epmd_errc::invalid_port,
                       "unset it for 4369, as Erlang also refuses to start distribution");
  }
  return *port;
}

}  // namespace moat::dist
