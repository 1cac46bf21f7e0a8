#include "moat/dist/term_errors.hpp"

#include <string>

namespace moat::dist {
namespace {

class term_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.dist.term"; }
  std::string message(int value) const override {
    switch (static_cast<term_errc>(value)) {
      case term_errc::truncated:
        return "the term's bytes end inside the term";
      case term_errc::bad_version:
        return "not the external term format (the first byte is not the version 131)";
      case term_errc::unknown_tag:
        return "unknown or unsupported term tag";
      case term_errc::local_term:
        return "a node-local term (LOCAL_EXT), only meaningful on the node that made it";
      case term_errc::atom_cache_ref:
        return "an atom cache reference outside a distribution header (moat uses no atom "
               "cache)";
      case term_errc::atom_too_long:
        return "an atom longer than 255 characters";
      case term_errc::invalid_utf8:
        return "text that is not valid UTF-8";
      case term_errc::too_deep:
        return "terms nested deeper than the limit";
      case term_errc::too_large:
        return "a length larger than the input or the limit allows";
      case term_errc::trailing_bytes:
        return "bytes left after the term";
      case term_errc::invalid_float:
        return "a float that is not a finite number";
      case term_errc::invalid_field:
        return "a field of the term is out of its range";
      case term_errc::duplicate_map_key:
        return "a map with the same key twice";
      case term_errc::bad_compression:
        return "a compressed term that does not inflate to the size it announces, or "
               "compressed terms are not accepted";
      case term_errc::wrong_type:
        return "the term is not of the requested type";
      case term_errc::too_many_atoms:
        return "a new atom past the atom table's limits (moat::dist::atom_limits)";
    }
    return "unknown moat.dist.term error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& term_category() noexcept {
  static const term_category_impl instance;
  return instance;
}

}  // namespace moat::dist
