#include "dist/epmd_registry.hpp"

#include <algorithm>
#include <ctime>

namespace moat::dist {
namespace {

std::uint32_t wall_seconds() {
  return static_cast<std::uint32_t>(std::time(nullptr));
}

std::uint32_t bumped(std::uint32_t counter) {
  ++counter;  // wraps at 2^32, to 0, which becomes 4
  return counter < 4 ? 4 : counter;
}

}  // namespace

epmd_registry::epmd_registry(std::function<std::uint32_t()> clock)
    : clock_(clock ? std::move(clock) : std::function<std::uint32_t()>(wall_seconds)) {}

std::uint32_t epmd_registry::creation(std::uint32_t counter,
                                      std::uint16_t highest_version) noexcept {
  return highest_version >= 6 ? counter : counter % 3 + 1;
}

std::optional<std::uint32_t> epmd_registry::add(epmd_wire::node_fields node, std::uint64_t owner,
                                                int fd) {
  if (!epmd_wire::valid_name(node.name) || node.extra.size() > epmd_wire::max_symbol_bytes) {
    return std::nullopt;
  }
  if (find(node.name) != nullptr) return std::nullopt;
  entry e;
  const auto old = std::find_if(unreg_.begin(), unreg_.end(),
                                [&](const entry& u) { return u.node.name == node.name; });
  if (old != unreg_.end()) {
    e.counter = bumped(old->counter);
    unreg_.erase(old);
  } else {
    e.counter = bumped(clock_());
  }
  e.node = std::move(node);
  e.owner = owner;
  e.fd = fd;
  const std::uint32_t c = creation(e.counter, e.node.highest_version);
  reg_.insert(reg_.begin(), std::move(e));
  return c;
}

std::optional<std::string> epmd_registry::remove_owner(std::uint64_t owner) {
  const auto it =
      std::find_if(reg_.begin(), reg_.end(), [&](const entry& e) { return e.owner == owner; });
  if (it == reg_.end()) return std::nullopt;
  std::string name = it->node.name;
  unreg_.push_back(std::move(*it));
  reg_.erase(it);
  if (unreg_.size() > max_unregistered) unreg_.pop_front();
  return name;
}

const epmd_registry::entry* epmd_registry::find(std::string_view name) const {
  const auto it =
      std::find_if(reg_.begin(), reg_.end(), [&](const entry& e) { return e.node.name == name; });
  return it == reg_.end() ? nullptr : &*it;
}

}  // namespace moat::dist
