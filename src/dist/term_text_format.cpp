#include <ostream>

#include "moat/dist/term.hpp"
namespace moat::dist {
std::ostream& operator<<(std::ostream& os, const term&) {
  return os << "<term>";
}
}  // namespace moat::dist
