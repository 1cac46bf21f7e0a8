// The external term format: the bytes of each tag, the boundaries between tags, and every
// error a decoder can report.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <moat/dist/external.hpp>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace moat::dist;
using bytes = std::vector<std::uint8_t>;

bytes with(bytes head, std::size_t n, std::uint8_t fill) {
  head.insert(head.end(), n, fill);
  return head;
}

// Encodes, checks the bytes, decodes them back and checks the term.
void round_trip(const term& t, const bytes& expected) {
  const bytes got = encode(t);
  EXPECT_EQ(got, expected) << t;
  EXPECT_EQ(encoded_size(t), expected.size()) << t;
  term back;
  ASSERT_FALSE(decode(got, back)) << t;
  EXPECT_EQ(back, t);
}

std::error_code decode_error(const bytes& b, const decode_limits& limits = {}) {
  term t;
  return decode(b, t, limits);
}

TEST(External, IntegersUseTheSmallestTagErlangUses) {
  round_trip(0, {131, 97, 0});
  round_trip(255, {131, 97, 255});
  round_trip(256, {131, 98, 0, 0, 1, 0});
  round_trip(-1, {131, 98, 255, 255, 255, 255});
  round_trip(INT32_MAX, {131, 98, 0x7f, 0xff, 0xff, 0xff});
  round_trip(std::int64_t{INT32_MAX} + 1, {131, 110, 4, 0, 0, 0, 0, 0x80});
  round_trip(INT32_MIN, {131, 98, 0x80, 0, 0, 0});
  round_trip(std::int64_t{INT32_MIN} - 1, {131, 110, 4, 1, 1, 0, 0, 0x80});
  round_trip(INT64_MIN, {131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x80});
  round_trip(UINT64_MAX, with({131, 110, 8, 0}, 8, 0xff));
}

TEST(External, BignumsOf255BytesAreSmallAndOf256BytesLarge) {
  round_trip(big_integer{false, bytes(255, 0xff)}, with({131, 110, 255, 0}, 255, 0xff));
  round_trip(big_integer{true, bytes(256, 0xff)}, with({131, 111, 0, 0, 1, 0, 1}, 256, 0xff));
}

TEST(External, BignumsThatFitInInt64DecodeAsInt64) {
  term t;
  ASSERT_FALSE(decode(bytes{131, 110, 3, 1, 1, 0, 0}, t));
  EXPECT_EQ(t, term{-1});
  ASSERT_FALSE(decode(bytes{131, 111, 0, 0, 0, 0, 0}, t));
  EXPECT_EQ(t, term{0});
}

TEST(External, FloatsAreNewFloatsAndTheOldStringFormDecodes) {
  round_trip(0.1, {131, 70, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a});
  round_trip(-0.0, {131, 70, 0x80, 0, 0, 0, 0, 0, 0, 0});
  bytes old = {131, 99};
  const std::string text = "1.50000000000000000000e+00";
  old.insert(old.end(), text.begin(), text.end());
  old.resize(2 + 31, 0);
  term t;
  ASSERT_FALSE(decode(old, t));
  EXPECT_EQ(t, term{1.5});
}

TEST(External, AtomsAreUtf8SmallUpTo255BytesAndLatin1OnesDecode) {
  round_trip(atom{"ok"}, {131, 119, 2, 'o', 'k'});
  round_trip(atom{std::string(255, 'a')}, with({131, 119, 255}, 255, 'a'));
  std::string e256;
  for (int i = 0; i < 128; ++i) e256 += "\xc3\xa9";  // 128 characters, 256 bytes
  bytes expected = {131, 118, 1, 0};
  expected.insert(expected.end(), e256.begin(), e256.end());
  round_trip(atom{e256}, expected);
  term t;
  ASSERT_FALSE(decode(bytes{131, 100, 0, 2, 'h', 0xe9}, t));
  EXPECT_EQ(t, term(atom{"h\xc3\xa9"}));
  ASSERT_FALSE(decode(bytes{131, 115, 1, 'x'}, t));
  EXPECT_EQ(t, term(atom{"x"}));
  round_trip(true, {131, 119, 4, 't', 'r', 'u', 'e'});
}

TEST(External, ListsOfBytesUpTo65535AreStrings) {
  round_trip(term{}, {131, 106});
  round_trip(charlist("ab"), {131, 107, 0, 2, 'a', 'b'});
  round_trip(charlist(std::string(65535, 'a')), with({131, 107, 0xff, 0xff}, 65535, 'a'));
  bytes long_list = {131, 108, 0, 1, 0, 0};
  for (int i = 0; i < 65536; ++i) long_list.insert(long_list.end(), {97, 'a'});
  long_list.push_back(106);
  round_trip(charlist(std::string(65536, 'a')), long_list);
  round_trip(list{256}, {131, 108, 0, 0, 0, 1, 98, 0, 0, 1, 0, 106});
  round_trip(list::improper({1}, 2), {131, 108, 0, 0, 0, 1, 97, 1, 97, 2});
}

TEST(External, ListTailsThatAreListsJoinTheList) {
  term t;
  ASSERT_FALSE(decode(bytes{131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 107, 0, 1, 3}, t));
  EXPECT_EQ(t, (list{1, 2, 3}));
}

TEST(External, BinariesAndBitstrings) {
  round_trip(binary{"ab"}, {131, 109, 0, 0, 0, 2, 'a', 'b'});
  round_trip(binary{}, {131, 109, 0, 0, 0, 0});
  round_trip(bitstring({1, 0x40}, 3), {131, 77, 0, 0, 0, 2, 3, 1, 0x40});
  term t;
  ASSERT_FALSE(decode(bytes{131, 77, 0, 0, 0, 1, 8, 7}, t));
  EXPECT_EQ(t, term(binary(bytes{7})));
}

TEST(External, TuplesOf255ElementsAreSmallAndOf256Large) {
  round_trip(tuple{}, {131, 104, 0});
  bytes small = {131, 104, 255};
  for (int i = 0; i < 255; ++i) small.insert(small.end(), {97, 1});
  round_trip(tuple(std::vector<term>(255, 1)), small);
  auto big = tuple(std::vector<term>(256, 7));
  bytes expected = {131, 105, 0, 0, 1, 0};
  for (int i = 0; i < 256; ++i) expected.insert(expected.end(), {97, 7});
  round_trip(big, expected);
}

TEST(External, MapsKeepTheOrderOfTheirPairs) {
  round_trip(map{{atom{"b"}, 1}, {atom{"a"}, 2}},
             {131, 116, 0, 0, 0, 2, 119, 1, 'b', 97, 1, 119, 1, 'a', 97, 2});
}

TEST(External, PidsPortsReferencesAndExports) {
  const bytes node = {119, 3, 'n', '@', 'h'};
  bytes p = {131, 88};
  p.insert(p.end(), node.begin(), node.end());
  p.insert(p.end(), {0, 0, 0, 85, 0, 0, 0, 1, 0, 0, 0, 9});
  round_trip(pid{atom{"n@h"}, 85, 1, 9}, p);
  bytes q = {131, 89};
  q.insert(q.end(), node.begin(), node.end());
  q.insert(q.end(), {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2});
  round_trip(port{atom{"n@h"}, 0xffffffffU, 2}, q);
  bytes v4 = {131, 120};
  v4.insert(v4.end(), node.begin(), node.end());
  v4.insert(v4.end(), {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2});
  round_trip(port{atom{"n@h"}, std::uint64_t{1} << 32U, 2}, v4);
  bytes r = {131, 90, 0, 2};
  r.insert(r.end(), node.begin(), node.end());
  r.insert(r.end(), {0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2});
  round_trip(reference(atom{"n@h"}, 3, std::vector<std::uint32_t>{1, 2}), r);
  round_trip(export_fun{atom{"m"}, atom{"f"}, 2}, {131, 113, 119, 1, 'm', 119, 1, 'f', 97, 2});
}

TEST(External, OldPidPortAndReferenceFormsDecode) {
  term t;
  ASSERT_FALSE(decode(bytes{131, 103, 100, 0, 1, 'n', 0, 0, 0, 5, 0, 0, 0, 6, 3}, t));
  EXPECT_EQ(t, term(pid{atom{"n"}, 5, 6, 3}));
  ASSERT_FALSE(decode(bytes{131, 102, 115, 1, 'n', 0, 0, 0, 5, 2}, t));
  EXPECT_EQ(t, term(port{atom{"n"}, 5, 2}));
  ASSERT_FALSE(decode(bytes{131, 114, 0, 1, 119, 1, 'n', 1, 0, 0, 0, 9}, t));
  EXPECT_EQ(t, term(reference(atom{"n"}, 1, std::vector<std::uint32_t>{9})));
  ASSERT_FALSE(decode(bytes{131, 101, 119, 1, 'n', 0, 0, 0, 9, 1}, t));
  EXPECT_EQ(t, term(reference(atom{"n"}, 1, std::vector<std::uint32_t>{9})));
}

TEST(External, FunsAreKeptAsTheirBytes) {
  bytes f = {131, 112, 0, 0, 0, 32, 1};
  f.insert(f.end(), 16 + 4 + 4, 0);
  f.insert(f.end(), {119, 1, 'm'});
  term t;
  ASSERT_FALSE(decode(f, t));
  ASSERT_EQ(t.kind(), term_kind::fun);
  EXPECT_EQ(t.get_if<fun>()->arity(), 1U);
  EXPECT_EQ(encode(t), f);
}

TEST(External, CompressedTermsInflateWithinTheLimit) {
  const term original = charlist(std::string(1000, 'z'));
  const bytes plain = encode(original);
  uLongf n = compressBound(static_cast<uLong>(plain.size()));
  bytes z(n);
  ASSERT_EQ(compress(z.data(), &n, plain.data() + 1, static_cast<uLong>(plain.size() - 1)), Z_OK);
  z.resize(n);
  const auto size = static_cast<std::uint32_t>(plain.size() - 1);
  bytes c = {131,
             80,
             static_cast<std::uint8_t>(size >> 24U),
             static_cast<std::uint8_t>(size >> 16U),
             static_cast<std::uint8_t>(size >> 8U),
             static_cast<std::uint8_t>(size)};
  c.insert(c.end(), z.begin(), z.end());
  term t;
  ASSERT_FALSE(decode(c, t));
  EXPECT_EQ(t, original);
  EXPECT_EQ(decode_error(c, {.max_inflated_size = 100}), term_errc::too_large);
  EXPECT_EQ(decode_error(c, {.allow_compressed = false}), term_errc::bad_compression);
  bytes broken = c;
  broken[8] ^= 0xff;
  EXPECT_EQ(decode_error(broken), term_errc::bad_compression);
  bytes wrong_size = c;
  wrong_size[5] = static_cast<std::uint8_t>(wrong_size[5] + 1);
  EXPECT_NE(decode_error(wrong_size), std::error_code{});
}

TEST(External, DecodePrefixSaysHowManyBytesTheFirstTermTook) {
  bytes msg = encode(tuple{2, atom{""}, pid{atom{"a@b"}, 1, 0, 0}});
  const std::size_t first = msg.size();
  encode_to(msg, binary{"payload"});
  term control;
  std::size_t used = 0;
  ASSERT_FALSE(decode_prefix(msg, control, used));
  EXPECT_EQ(used, first);
  EXPECT_TRUE(control.is_tuple(3));
  term payload;
  ASSERT_FALSE(decode(std::span(msg).subspan(used), payload));
  EXPECT_EQ(payload, term{"payload"});
  EXPECT_EQ(decode_error(msg), term_errc::trailing_bytes);
}

TEST(External, BareTermsAfterADistributionHeaderHaveNoVersionByte) {
  bytes out = {131, 68, 0};  // a distribution header without atom cache references
  encode_body_to(out, tuple{2, atom{""}, pid{atom{"a@b"}, 1, 0, 0}});
  encode_body_to(out, atom{"msg"});
  const std::span<const std::uint8_t> body = std::span(out).subspan(3);
  term control;
  std::size_t used = 0;
  ASSERT_FALSE(decode_body_prefix(body, control, used));
  EXPECT_TRUE(control.is_tuple(3));
  term payload;
  std::size_t used2 = 0;
  ASSERT_FALSE(decode_body_prefix(body.subspan(used), payload, used2));
  EXPECT_TRUE(payload.is_atom("msg"));
  EXPECT_EQ(used + used2, body.size());
  EXPECT_EQ(decode_body_prefix(body.first(used - 1), control, used), term_errc::truncated);
}

TEST(External, EncodeToAppendsToWhatIsThere) {
  bytes out = {112};
  encode_to(out, atom{"a"});
  EXPECT_EQ(out, (bytes{112, 131, 119, 1, 'a'}));
}

TEST(External, EveryCutOfAValidTermIsTruncated) {
  const bytes full =
      encode(tuple{1, 300, 1.5, atom{"abc"}, binary{"xy"}, list{1, 1000}, map{{1, 2}},
                   pid{atom{"n@h"}, 1, 2, 3}, big_integer{false, bytes(9, 1)}, bitstring({1}, 1)});
  for (std::size_t n = 0; n < full.size(); ++n) {
    const bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const auto ec = decode_error(cut);
    EXPECT_TRUE(ec == term_errc::truncated || ec == term_errc::too_large)
        << n << ": " << ec.message();
  }
}

TEST(External, RefusesWhatIsNotATermWithItsOwnCode) {
  EXPECT_EQ(decode_error({}), term_errc::truncated);
  EXPECT_EQ(decode_error({130, 97, 1}), term_errc::bad_version);
  EXPECT_EQ(decode_error({131, 117}), term_errc::unknown_tag);
  EXPECT_EQ(decode_error({131, 255}), term_errc::unknown_tag);
  EXPECT_EQ(decode_error({131, 121, 1, 2, 3}), term_errc::local_term);
  EXPECT_EQ(decode_error({131, 82, 0}), term_errc::atom_cache_ref);
  EXPECT_EQ(decode_error(with({131, 100, 1, 0}, 256, 'a')), term_errc::atom_too_long);
  std::string wide;
  for (int i = 0; i < 256; ++i) wide += "\xc3\xa9";
  bytes wide_atom = {131, 118, 2, 0};
  wide_atom.insert(wide_atom.end(), wide.begin(), wide.end());
  EXPECT_EQ(decode_error(wide_atom), term_errc::atom_too_long);
  EXPECT_EQ(decode_error({131, 119, 2, 0xc3, 'a'}), term_errc::invalid_utf8);
  EXPECT_EQ(decode_error({131, 119, 2, 0xc0, 0x80}), term_errc::invalid_utf8);  // overlong
  EXPECT_EQ(decode_error(with({131, 105, 0, 0, 3, 0xe8}, 10, 106)), term_errc::too_large);
  EXPECT_EQ(decode_error(with({131, 108, 0xff, 0xff, 0xff, 0xff}, 10, 106)), term_errc::too_large);
  EXPECT_EQ(decode_error(with({131, 116, 0, 0, 0, 6}, 11, 106)), term_errc::too_large);
  EXPECT_EQ(decode_error({131, 97, 1, 0}), term_errc::trailing_bytes);
  EXPECT_EQ(decode_error({131, 70, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}), term_errc::invalid_float);
  EXPECT_EQ(decode_error({131, 70, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}), term_errc::invalid_float);
  EXPECT_EQ(decode_error(with({131, 99, 'x'}, 30, 0)), term_errc::invalid_float);
  EXPECT_EQ(decode_error({131, 77, 0, 0, 0, 1, 9, 0}), term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 77, 0, 0, 0, 1, 0, 0}), term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 90, 0, 0, 119, 1, 'n', 0, 0, 0, 0}), term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 90, 0, 6, 119, 1, 'n'}), term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 110, 1, 2, 1}), term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 113, 119, 1, 'm', 119, 1, 'f', 98, 0, 0, 0, 1}),
            term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 88, 97, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
            term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 112, 0, 0, 0, 5, 0}), term_errc::invalid_field);
  EXPECT_EQ(decode_error({131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3}),
            term_errc::duplicate_map_key);
  EXPECT_EQ(decode_error({131, 80, 0, 0, 0, 10, 1, 2, 3}), term_errc::bad_compression);
}

TEST(External, NestingDeeperThanTheLimitIsRefused) {
  auto nested = [](std::size_t depth) {
    bytes b = {131};
    for (std::size_t i = 1; i < depth; ++i) b.insert(b.end(), {104, 1});
    b.push_back(106);
    return b;
  };
  term t;
  EXPECT_FALSE(decode(nested(1000), t));
  EXPECT_EQ(decode_error(nested(1001)), term_errc::too_deep);
  EXPECT_EQ(decode_error(nested(11), {.max_depth = 10}), term_errc::too_deep);
  EXPECT_FALSE(decode(nested(10), t, {.max_depth = 10}));
}

TEST(External, EveryErrorCodeHasItsOwnMessage) {
  std::set<std::string> seen;
  for (int v = static_cast<int>(term_errc::truncated); v <= static_cast<int>(term_errc::wrong_type);
       ++v) {
    const std::error_code ec = static_cast<term_errc>(v);
    EXPECT_EQ(std::string(ec.category().name()), "moat.dist.term");
    EXPECT_NE(ec.message().rfind("unknown moat.dist.term error", 0), 0U);
    EXPECT_TRUE(seen.insert(ec.message()).second) << ec.message();
  }
  EXPECT_EQ(seen.size(), 15U);
}

}  // namespace
