#pragma once
// The embedded EPMD's table of names (no I/O): registered nodes, each owned by the connection
// that registered it, and the names that were registered before, whose creation counter a new
// registration of the same name continues -- epmd's rules: a new name starts its counter at
// the clock (seconds), every registration bumps it, counters below 4 become 4, a version-6
// node gets the counter as its 32-bit creation and an older one counter % 3 + 1. So a creation
// is never 0 and differs from the previous registration of the same name.
// Not thread-safe: the server guards it with its mutex.

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dist/epmd_wire.hpp"

namespace moat::dist {

class epmd_registry {
 public:
  /// How many unregistered names keep their counter (epmd's MAX_UNREG_COUNT).
  static constexpr std::size_t max_unregistered = 1000;

  struct entry {
    epmd_wire::node_fields node{};
    std::uint32_t counter = 0;
    std::uint64_t owner = 0;  ///< the connection that registered it
    int fd = -1;              ///< for DUMP_REQ's lines
  };

  /// `clock` gives seconds (default: time(nullptr)); it seeds new names' counters.
  explicit epmd_registry(std::function<std::uint32_t()> clock = {});

  /// Registers `node` for `owner`: its creation, or nullopt if the name is taken or not one
  /// EPMD takes (epmd_wire::valid_name, an extra of at most max_symbol_bytes).
  [[nodiscard]] std::optional<std::uint32_t> add(epmd_wire::node_fields node, std::uint64_t owner,
                                                 int fd);
  /// Drops `owner`'s registration, if it has one; its name.
  std::optional<std::string> remove_owner(std::uint64_t owner);
  [[nodiscard]] const entry* find(std::string_view name) const;
  /// Registered nodes, newest first (epmd's order).
  [[nodiscard]] const std::vector<entry>& registered() const noexcept { return reg_; }
  /// Names registered before, oldest first, with the port they had.
  [[nodiscard]] const std::deque<entry>& unregistered() const noexcept { return unreg_; }

  /// The creation a node of `highest_version` gets from `counter`.
  [[nodiscard]] static std::uint32_t creation(std::uint32_t counter,
                                              std::uint16_t highest_version) noexcept;

 private:
  std::function<std::uint32_t()> clock_;
  std::vector<entry> reg_;
  std::deque<entry> unreg_;
};

}  // namespace moat::dist
