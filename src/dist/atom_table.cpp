// The atom table: every atom name once, for the life of the process (see `atom` in
// term_values.hpp). Lookups go first to a small cache of the calling thread, then to one of
// several shards of the table, each with its own lock, so that threads decoding at once rarely
// meet.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "moat/dist/term_values.hpp"

namespace moat::dist {
namespace {

using detail::atom_entry;

struct key {
  std::string_view name;
  std::size_t hash;
  friend bool operator==(const key& a, const key& b) noexcept { return a.name == b.name; }
};
struct key_hash {
  std::size_t operator()(const key& k) const noexcept { return k.hash; }
};

class atom_table {
 public:
  atom_table() {
    // The atoms every node uses exist from the start, whatever the limits.
    for (const char* n : {"true", "false", "ok", "error", "undefined", "nonode@nohost", "normal",
                          "noproc", "noconnection", "EXIT", "DOWN", "process", "badarg"}) {
      const std::string_view v(n);
      (void)add(v, std::hash<std::string_view>{}(v), true);
    }
  }

  const atom_entry* find_or_add(std::string_view name, std::size_t h) {
    return add(name, h, false);
  }

  std::atomic<std::size_t> max_atoms{atom_limits{}.max_atoms};
  std::atomic<std::size_t> max_bytes{atom_limits{}.max_bytes};
  std::atomic<std::size_t> atoms{0};
  std::atomic<std::size_t> bytes{0};

 private:
  static constexpr std::size_t shard_count = 64;
  struct shard {
    std::mutex mu;
    std::unordered_map<key, const atom_entry*, key_hash> index;
  };

  const atom_entry* add(std::string_view name, std::size_t h, bool always) {
    auto& s = shards_[(h >> 7U) % shard_count];
    const std::lock_guard lock(s.mu);
    if (auto it = s.index.find(key{name, h}); it != s.index.end()) return it->second;
    // Counted before the checks, so that threads adding at once cannot pass a limit together.
    const std::size_t atoms_before = atoms.fetch_add(1, std::memory_order_relaxed);
    const std::size_t bytes_before = bytes.fetch_add(name.size(), std::memory_order_relaxed);
    const bool fits =
        atoms_before < max_atoms.load() && bytes_before + name.size() <= max_bytes.load();
    if (!fits && !always) {
      atoms.fetch_sub(1, std::memory_order_relaxed);
      bytes.fetch_sub(name.size(), std::memory_order_relaxed);
      return nullptr;
    }
    // Never freed: atoms live as long as the process (the table, reachable from a static,
    // owns them).
    const auto* e = new atom_entry{std::string(name), h};
    s.index.emplace(key{e->name, h}, e);
    return e;
  }

  std::array<shard, shard_count> shards_;
};

atom_table& table() {
  static atom_table& t = *new atom_table;  // never destroyed: atoms outlive static destructors
  return t;
}

// A hash for the thread cache that reads at most 16 bytes: the name's length, its first and
// its last 8 bytes (the cache compares the whole name anyway).
std::size_t quick_hash(std::string_view name) noexcept {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  const std::size_t n = name.size();
  std::memcpy(&head, name.data(), std::min<std::size_t>(n, 8));
  if (n > 8)
    std::memcpy(&tail, name.data() + n - std::min<std::size_t>(n - 8, 8),
                std::min<std::size_t>(n - 8, 8));
  std::uint64_t h = (head ^ (tail * 0x9E3779B97F4A7C15ULL) ^ n) * 0xFF51AFD7ED558CCDULL;
  return static_cast<std::size_t>(h ^ (h >> 29U));
}

// The calling thread's most recent atoms, by quick_hash.
struct thread_cache {
  static constexpr std::size_t size = 1024;
  std::array<const atom_entry*, size> slots{};
};

}  // namespace

namespace {
thread_local thread_cache recent_atoms;
}

bool atom::try_recent(std::string_view name, atom& out) noexcept {
  if (name.empty()) {
    out = atom();
    return true;
  }
  const atom_entry* e = recent_atoms.slots[quick_hash(name) % thread_cache::size];
  if (e == nullptr || e->name != name) return false;
  out = atom(e);
  return true;
}

bool atom::try_from_checked(std::string_view name, atom& out) {
  if (try_recent(name, out)) return true;
  const atom_entry* e = table().find_or_add(name, std::hash<std::string_view>{}(name));
  if (e == nullptr) return false;
  recent_atoms.slots[quick_hash(name) % thread_cache::size] = e;
  out = atom(e);
  return true;
}

void set_atom_limits(const atom_limits& limits) noexcept {
  table().max_atoms.store(limits.max_atoms);
  table().max_bytes.store(limits.max_bytes);
}

atom_limits current_atom_limits() noexcept {
  return {table().max_atoms.load(), table().max_bytes.load()};
}

atom_usage current_atom_usage() noexcept {
  return {table().atoms.load(std::memory_order_relaxed),
          table().bytes.load(std::memory_order_relaxed)};
}

}  // namespace moat::dist
