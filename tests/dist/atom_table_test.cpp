// The atom table (term_values.hpp, `atom`): one entry per name whatever thread makes it, and
// limits that a peer sending ever new atoms meets as an error, not as exhausted memory. Its
// own executable: the limits are process-wide.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "moat/dist/external.hpp"
#include "moat/dist/term.hpp"

namespace moat::dist {
namespace {

std::string unique_name(const char* prefix, std::size_t i) {
  return std::string(prefix) + "_" + std::to_string(i);
}

TEST(AtomTable, TheSameNameIsTheSameAtomWhicheverThreadMakesIt) {
  constexpr std::size_t kThreads = 4;
  constexpr std::size_t kNames = 500;
  std::vector<std::vector<atom>> made(kThreads);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (std::size_t i = 0; i < kNames; ++i) made[t].push_back(atom(unique_name("shared", i)));
    });
  }
  for (auto& th : threads) th.join();
  for (std::size_t i = 0; i < kNames; ++i) {
    for (std::size_t t = 1; t < kThreads; ++t) {
      EXPECT_EQ(made[0][i], made[t][i]);
      EXPECT_EQ(made[0][i].hash(), made[t][i].hash());
    }
    EXPECT_EQ(made[0][i].name(), unique_name("shared", i));
  }
  EXPECT_NE(made[0][0], made[0][1]);
  EXPECT_EQ(atom(), atom(""));
  EXPECT_EQ(atom().name(), "");
}

TEST(AtomTable, DecodedAtomsAreTheAtomsMadeFromText) {
  const term t = make_tuple(atom("decoded_once"), pid{atom("n@h"), 1, 2, 3});
  const term back = decode(encode(t));
  EXPECT_EQ(back, t);
  EXPECT_EQ(back.as_tuple()->elements[0].as_atom()->name(), "decoded_once");
}

TEST(AtomTable, TryRecentFindsOnlyAtomsThisThreadUsedAndNeverMakesOne) {
  const auto before = current_atom_usage();
  atom found;
  EXPECT_FALSE(atom::try_recent("recent_never_made", found));
  EXPECT_FALSE(atom::try_recent("\xff\xfe", found));  // not UTF-8: not an atom, no error
  EXPECT_EQ(current_atom_usage().atoms, before.atoms);
  const atom made("recent_made_here");
  ASSERT_TRUE(atom::try_recent("recent_made_here", found));
  EXPECT_EQ(found, made);
  EXPECT_TRUE(atom::try_recent("", found));
  EXPECT_EQ(found, atom());
  // Another thread has not used it: its lookup misses, and making it there gives the same.
  std::thread([&] {
    atom other;
    EXPECT_FALSE(atom::try_recent("recent_made_here", other));
    EXPECT_EQ(atom("recent_made_here"), made);
  }).join();
}

TEST(AtomTable, PastItsLimitsANewAtomIsAnErrorAndEveryAtomMadeBeforeStillWorks) {
  const auto saved = current_atom_limits();
  const auto before = current_atom_usage();
  set_atom_limits({before.atoms + 3, saved.max_bytes});
  std::vector<atom> made;
  for (std::size_t i = 0; i < 3; ++i) made.emplace_back(unique_name("limited", i));
  try {
    (void)atom("one_too_many");
    ADD_FAILURE() << "a fourth new atom was made past the limit";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), make_error_code(term_errc::too_many_atoms));
  }
  // A peer's message with a new atom is refused with the reason; one with known atoms is not.
  term out;
  const auto fresh = encode(make_tuple(atom("ok"), 1));
  std::vector<std::uint8_t> new_atom = {131, 119, 9, 'b', 'r', 'a', 'n', 'd', '_', 'n', 'e', 'w'};
  EXPECT_EQ(decode(new_atom, out), make_error_code(term_errc::too_many_atoms));
  EXPECT_FALSE(decode(fresh, out));
  std::vector<std::uint8_t> known = {131, 119, 9, 'l', 'i', 'm', 'i', 't', 'e', 'd', '_', '0'};
  ASSERT_FALSE(decode(known, out));
  EXPECT_EQ(out, term(made[0]));
  // The byte limit too.
  set_atom_limits({saved.max_atoms, current_atom_usage().bytes + 4});
  EXPECT_EQ(decode(new_atom, out), make_error_code(term_errc::too_many_atoms));
  set_atom_limits(saved);
  ASSERT_FALSE(decode(new_atom, out));
  EXPECT_EQ(out, term(atom("brand_new")));
}

}  // namespace
}  // namespace moat::dist
