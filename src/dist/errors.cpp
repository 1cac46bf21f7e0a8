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
