#include "moat/dist/errors.hpp"

#include <string>

namespace moat::dist {
namespace {

class dist_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.dist"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_node_name:
        return "not a node name (expected name@host, the name made of letters, digits, _ and -)";
      case errc::name_mode_mismatch:
        return "the host part does not fit the name mode (short names take a host without dots, "
               "long names a fully qualified host or an IP address)";
      case errc::handshake_malformed:
        return "malformed distribution handshake message";
      case errc::peer_too_old:
        return "the peer lacks capabilities every node since OTP 25 has";
      case errc::wrong_node:
        return "the node that answered is not the one dialled";
      case errc::bad_cookie:
        return "wrong cookie (the challenge digest did not match)";
      case errc::refused_by_peer:
        return "the peer refused the connection";
      case errc::already_connected:
        return "a connection to that node is already up or being set up";
      case errc::identity_mismatch:
        return "the peer's certificate does not name the host of the node name it claims";
      case errc::not_allowed:
        return "the peer is not on the allowed list";
      case errc::peer_name_mode:
        return "the peer uses the other name mode (short names against long names)";
      case errc::setup_timeout:
        return "the distribution handshake did not finish in time";
      case errc::tick_timeout:
        return "nothing came from the peer within the tick time";
      case errc::malformed_message:
        return "malformed distribution message";
      case errc::peer_overloaded:
        return "the peer does not take messages as fast as they are sent (send_buffer_limit)";
      case errc::disconnected:
        return "disconnected on request";
    }
    return "unknown moat.dist error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const dist_category instance;
  return instance;
}

}  // namespace moat::dist
