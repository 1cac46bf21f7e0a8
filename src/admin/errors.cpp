// The admin endpoint's error category (errors.hpp).
#include "moat/admin/errors.hpp"

#include <string>

namespace moat::admin {
namespace {

class admin_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.admin"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::no_address:
        return "no address to listen on";
      case errc::not_loopback:
        return "not a loopback address: the admin endpoint shows peers and certificates, so it "
               "listens on loopback unless remote access is allowed explicitly";
      case errc::bad_token:
        return "the bearer token is empty or holds characters an HTTP header cannot carry";
    }
    return "unknown moat.admin error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const admin_category c;
  return c;
}

}  // namespace moat::admin
