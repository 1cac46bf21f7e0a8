// The term type: building, matching, conversions, exact equality and Erlang's term order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <moat/dist/term.hpp>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace {

using namespace moat::dist;

TEST(Term, IsBuiltFromPlainCppValues) {
  EXPECT_EQ(term{42}.kind(), term_kind::integer);
  EXPECT_EQ(term{2.5}.kind(), term_kind::float_);
  EXPECT_TRUE(term{true}.is_atom("true"));
  EXPECT_TRUE(term{false}.is_atom("false"));
  EXPECT_TRUE(term{"text"}.is_binary());
  EXPECT_TRUE(term{std::string("text")}.is_binary());
  EXPECT_EQ(term{"text"}.as_binary()->view(), "text");
  EXPECT_TRUE(term{}.is_nil());
  const term v = std::vector<int>{1, 2, 3};
  EXPECT_EQ(v, (list{1, 2, 3}));
  const term m = std::map<std::string, int>{{"a", 1}, {"b", 2}};
  ASSERT_TRUE(m.is_map());
  EXPECT_EQ(*m.as_map()->find(term{"b"}), term{2});
  EXPECT_EQ(m.as_map()->find(term{"c"}), nullptr);
}

TEST(Term, TuplesAndListsAreBuiltWithBracesOrHelpers) {
  const term t = tuple{atom{"ok"}, 42};
  ASSERT_TRUE(t.is_tuple(2));
  EXPECT_TRUE((*t.as_tuple())[0].is_atom("ok"));
  EXPECT_EQ(t, term(moat::dist::make_tuple(atom{"ok"}, 42)));
  EXPECT_EQ(term(make_list(1, "x", atom{"y"})), (list{1, "x", atom{"y"}}));
  EXPECT_EQ(term(tuple(std::vector<term>{1, 2})), (tuple{1, 2}));
}

TEST(Term, CharlistIsTheListOfCodePoints) {
  EXPECT_EQ(charlist("hé"), (list{104, 233}));
  EXPECT_EQ(charlist(""), term{});
  EXPECT_THROW((void)charlist("\xff"), std::system_error);
  EXPECT_EQ(charlist("日本").as<std::string>(), "日本");
}

TEST(Term, AtomsRefuseMoreThan255CharactersAndInvalidUtf8) {
  EXPECT_NO_THROW(atom(std::string(255, 'a')));
  std::string wide;
  for (int i = 0; i < 255; ++i) wide += "日";
  EXPECT_NO_THROW(atom{wide});
  try {
    atom a(std::string(256, 'a'));
    ADD_FAILURE() << "an atom of 256 characters was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), term_errc::atom_too_long);
  }
  try {
    atom a(std::string("a\xc3"));
    ADD_FAILURE() << "invalid UTF-8 was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), term_errc::invalid_utf8);
  }
  EXPECT_TRUE(atom{"ok"} == "ok");
}

TEST(Term, ExactEqualityTellsIntegersFromFloats) {
  EXPECT_NE(term{1}, term{1.0});
  EXPECT_EQ(term{1}, term{std::int64_t{1}});
  EXPECT_EQ(term{0.0}, term{-0.0});
  EXPECT_NE(term{atom{"a"}}, term{"a"});
  EXPECT_EQ(term(list{1, 2}), charlist("\x01\x02"));
}

TEST(Term, MapsAreEqualWhateverTheOrderOfTheirPairs) {
  const term a = map{{atom{"x"}, 1}, {atom{"y"}, 2}};
  const term b = map{{atom{"y"}, 2}, {atom{"x"}, 1}};
  EXPECT_EQ(a, b);
  EXPECT_EQ(a <=> b, std::weak_ordering::equivalent);
  std::vector<std::pair<term, term>> big1;
  std::vector<std::pair<term, term>> big2;
  for (int i = 0; i < 40; ++i) big1.emplace_back(i, i * i);
  for (int i = 39; i >= 0; --i) big2.emplace_back(i, i * i);
  EXPECT_EQ(term(map(big1)), term(map(big2)));
  big2[0].second = 0;
  EXPECT_NE(term(map(big1)), term(map(big2)));
  EXPECT_THROW((map{{1, 2}, {1, 3}}), std::system_error);
}

TEST(Term, OrderFollowsErlangTermOrderAcrossTypes) {
  const std::vector<term> ascending = {
      -1.5,
      1,
      1.0,
      1.5,
      atom{"a"},
      reference(atom{"n@h"}, 1, std::vector<std::uint32_t>{1, 2, 3}),
      export_fun{atom{"m"}, atom{"f"}, 1},
      port{atom{"n@h"}, 1, 1},
      pid{atom{"n@h"}, 1, 0, 1},
      tuple{},
      tuple{1, 2},
      map{},
      term{},
      list::improper({1}, 2),
      list{1},
      list{1, 2},
      binary{},
      bitstring({0x00}, 1),
      binary{"a"},
  };
  for (std::size_t i = 0; i + 1 < ascending.size(); ++i) {
    EXPECT_LT(ascending[i], ascending[i + 1])
        << i << ": " << ascending[i] << " < " << ascending[i + 1];
    EXPECT_GT(ascending[i + 1], ascending[i]) << i;
  }
  std::map<term, int> keyed;
  for (std::size_t i = 0; i < ascending.size(); ++i) keyed[ascending[i]] = static_cast<int>(i);
  EXPECT_EQ(keyed.size(), ascending.size());
}

TEST(Term, NumbersCompareByValueAcrossIntegersBignumsAndFloats) {
  const term big = big_integer{false, {0, 0, 0, 0, 0, 0, 0, 0, 1}};  // 2^64
  const term neg_big = big_integer{true, {0, 0, 0, 0, 0, 0, 0, 0, 1}};
  EXPECT_LT(term{INT64_MAX}, big);
  EXPECT_LT(neg_big, term{INT64_MIN});
  EXPECT_LT(term{1.8e19}, big);  // 2^64 ~ 1.8447e19
  EXPECT_LT(big, term{1.9e19});
  EXPECT_LT(big, term{std::ldexp(1.0, 64)});  // equal value: the integer first
  EXPECT_LT(term{-1.9e19}, neg_big);
  EXPECT_LT(term{9007199254740993}, term{9007199254740994.0});
  EXPECT_GT(term{9007199254740993}, term{9007199254740992.0});
}

TEST(Term, BigIntegersThatFitInInt64BecomeInt64) {
  EXPECT_EQ(term(big_integer{false, {5, 0, 0}}), term{5});
  EXPECT_EQ(term(big_integer{true, {0, 0, 0, 0, 0, 0, 0, 0x80}}), term{INT64_MIN});
  EXPECT_EQ(term(big_integer{true, {}}), term{0});
  EXPECT_EQ(term{UINT64_MAX}.kind(), term_kind::big_integer);
  EXPECT_EQ(term{UINT64_MAX}.try_as<std::uint64_t>(), UINT64_MAX);
  EXPECT_EQ(term{UINT64_MAX}.try_as<std::int64_t>(), std::nullopt);
}

TEST(Term, ImproperListsKeepTheirTailAndNormalise) {
  const term l = list::improper({1}, list{2, 3});
  EXPECT_EQ(l, (list{1, 2, 3}));
  const term i = list::improper({1, 2}, 3);
  ASSERT_FALSE(i.as_list()->is_proper());
  EXPECT_EQ(*i.as_list()->tail(), term{3});
  EXPECT_EQ(term(list::improper({}, atom{"x"})), term(atom{"x"}));
  const term copy = i;
  EXPECT_EQ(copy, i);
}

TEST(Term, BitstringsKeepTheirUsedBitsOnly) {
  const term b = bitstring({1, 0xff}, 3);
  EXPECT_EQ(b.get_if<bitstring>()->bytes().back(), 0xe0);
  EXPECT_EQ(b.get_if<bitstring>()->bit_size(), 11U);
  EXPECT_TRUE(term(bitstring({1, 2}, 8)).is_binary());
  EXPECT_THROW(bitstring({}, 3), std::system_error);
  EXPECT_THROW(bitstring({1}, 9), std::system_error);
  EXPECT_TRUE(b.is_bitstring());
  EXPECT_TRUE(term{"x"}.is_bitstring());
}

TEST(Term, ConvertsToPlainValuesOrSaysWhyNot) {
  EXPECT_EQ(term{300}.as<int>(), 300);
  EXPECT_EQ(term{300}.try_as<std::uint8_t>(), std::nullopt);
  EXPECT_EQ(term{-1}.try_as<unsigned>(), std::nullopt);
  EXPECT_EQ(term{2.5}.as<double>(), 2.5);
  EXPECT_EQ(term{2}.try_as<double>(), std::nullopt);
  EXPECT_EQ(term{true}.as<bool>(), true);
  EXPECT_EQ(term{"bin"}.as<std::string>(), "bin");
  EXPECT_EQ(charlist("list").as<std::string>(), "list");
  EXPECT_EQ(term{}.as<std::string>(), "");
  EXPECT_EQ(term(list{1, -1}).try_as<std::string>(), std::nullopt);
  EXPECT_EQ(term(atom{"a"}).as<atom>(), atom{"a"});
  try {
    (void)term(atom{"a"}).as<int>();
    ADD_FAILURE() << "an atom converted to int";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), term_errc::wrong_type);
  }
}

TEST(Term, ReferencesAndFunsCheckTheirFields) {
  EXPECT_THROW(reference(atom{"n@h"}, 0, std::vector<std::uint32_t>{}), std::system_error);
  EXPECT_THROW(reference(atom{"n@h"}, 0, std::vector<std::uint32_t>(6, 1)), std::system_error);
  EXPECT_EQ(reference(atom{"n@h"}, 0, std::vector<std::uint32_t>(5, 1)).ids().size(), 5U);
  EXPECT_THROW(fun(std::vector<std::uint8_t>{112, 0, 0, 0, 3}), std::system_error);
}

TEST(Term, IsVisitable) {
  const term t = tuple{1, atom{"a"}};
  const bool is_tuple = std::visit(
      [](const auto& v) { return std::is_same_v<std::decay_t<decltype(v)>, tuple>; }, t.value());
  EXPECT_TRUE(is_tuple);
}

}  // namespace

namespace {

using namespace moat::dist;

TEST(Term, PidsPortsAndReferencesKeyOrderedAndUnorderedContainers) {
  const pid a{atom{"n@h"}, 1, 0, 1};
  const pid b{atom{"n@h"}, 2, 0, 1};
  EXPECT_LT(a, b);
  std::unordered_map<pid, int> by_pid{{a, 1}, {b, 2}};
  EXPECT_EQ(by_pid.at(b), 2);
  const reference r1(atom{"n@h"}, 1, std::vector<std::uint32_t>{1, 2});
  const reference r2(atom{"n@h"}, 1, std::vector<std::uint32_t>{1, 3});
  EXPECT_LT(r1, r2);
  std::unordered_map<reference, int> by_ref{{r1, 1}, {r2, 2}};
  EXPECT_EQ(by_ref.at(r1), 1);
  std::unordered_map<atom, int> by_atom{{atom{"x"}, 1}};
  EXPECT_EQ(by_atom.count(atom{"x"}), 1U);
  EXPECT_LT((port{atom{"n@h"}, 1, 0}), (port{atom{"n@h"}, 2, 0}));
}

}  // namespace
