// Erlang's text syntax: reading terms and files of terms, printing them as ~w does, and
// errors that say where and why.
#include <gtest/gtest.h>

#include <moat/dist/term_text.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace moat::dist;

text_error error_of(std::string_view text) {
  text_error e;
  EXPECT_FALSE(parse_term(text, e).has_value()) << text;
  return e;
}

TEST(TermText, ReadsAtomsBareAndQuotedWithEscapes) {
  EXPECT_EQ(parse_term("ok"), term(atom{"ok"}));
  EXPECT_EQ(parse_term("node@host_1"), term(atom{"node@host_1"}));
  EXPECT_EQ(parse_term("'Hello World'"), term(atom{"Hello World"}));
  EXPECT_EQ(parse_term(R"('a\nb\'c\\d\x41\x{65E5}\101\^A\s')"), term(atom{"a\nb'c\\dA\xe6\x97\xa5"
                                                                          "A\x01 "}));
  EXPECT_EQ(parse_term("héllo"), term(atom{"héllo"}));
  EXPECT_EQ(parse_term("true"), term{true});
}

TEST(TermText, ReadsIntegersInEveryNotation) {
  EXPECT_EQ(parse_term("42"), term{42});
  EXPECT_EQ(parse_term("-42"), term{-42});
  EXPECT_EQ(parse_term("+7"), term{7});
  EXPECT_EQ(parse_term("1_000_000"), term{1000000});
  EXPECT_EQ(parse_term("16#FF"), term{255});
  EXPECT_EQ(parse_term("2#1010"), term{10});
  EXPECT_EQ(parse_term("36#zz"), term{36 * 36 - 1});
  EXPECT_EQ(parse_term("$a"), term{97});
  EXPECT_EQ(parse_term("$\\n"), term{10});
  EXPECT_EQ(parse_term("$日"), term{0x65E5});
  EXPECT_EQ(parse_term("18446744073709551615"), term{UINT64_MAX});
  EXPECT_EQ(parse_term("-9223372036854775808"), term{INT64_MIN});
  EXPECT_EQ(parse_term("16#10000000000000000"),
            term(big_integer{false, {0, 0, 0, 0, 0, 0, 0, 0, 1}}));
}

TEST(TermText, ReadsFloats) {
  EXPECT_EQ(parse_term("1.5"), term{1.5});
  EXPECT_EQ(parse_term("-0.0"), term{-0.0});
  EXPECT_EQ(parse_term("2.5e-3"), term{0.0025});
  EXPECT_EQ(parse_term("1.0E10"), term{1e10});
  EXPECT_EQ(parse_term("1_0.5"), term{10.5});
}

TEST(TermText, ReadsStringsAsCharlistsAndBinaries) {
  EXPECT_EQ(parse_term(R"("abc")"), charlist("abc"));
  EXPECT_EQ(parse_term(R"("a\tb" "c")"), charlist("a\tbc"));
  EXPECT_EQ(parse_term(R"("日本")"), charlist("日本"));
  EXPECT_EQ(parse_term(R"("")"), term{});
  EXPECT_EQ(parse_term(R"(<<"bytes">>)"), term{"bytes"});
  EXPECT_EQ(parse_term("<<1,2,3>>"), term(binary(std::vector<std::uint8_t>{1, 2, 3})));
  EXPECT_EQ(parse_term(R"(<<"é"/utf8>>)"), term{"\xc3\xa9"});
  EXPECT_EQ(parse_term(R"(<<"é">>)"), term(binary(std::vector<std::uint8_t>{0xe9})));
  EXPECT_EQ(parse_term("<<1,2:3>>"), term(bitstring({1, 0x40}, 3)));
  EXPECT_EQ(parse_term("<<256:16, -1>>"), term(binary(std::vector<std::uint8_t>{1, 0, 255})));
  EXPECT_EQ(parse_term("<<>>"), term(binary{}));
  EXPECT_EQ(parse_term("<<$a/utf8, 16#65E5/utf8>>"), term{"a\xe6\x97\xa5"});
}

TEST(TermText, ReadsTuplesListsMapsAndExports) {
  EXPECT_EQ(parse_term("{ok, [1, 2 | 3], #{a => {}, \"k\" => []}}"),
            term(tuple{atom{"ok"}, list::improper({1, 2}, 3),
                       map{{atom{"a"}, tuple{}}, {charlist("k"), list{}}}}));
  EXPECT_EQ(parse_term("[a|[b]]"), term(list{atom{"a"}, atom{"b"}}));
  EXPECT_EQ(parse_term("#{a => 1, a => 2}"), term(map{{atom{"a"}, 2}}));
  EXPECT_EQ(parse_term("fun lists:map/2"), term(export_fun{atom{"lists"}, atom{"map"}, 2}));
  EXPECT_EQ(parse_term("'fun'"), term(atom{"fun"}));
}

TEST(TermText, ReadsTheSslDistOptfileExample) {
  const auto terms = consult(R"(% TLS distribution options
[{server, [{certfile, "/x.pem"}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 {client, [{cacertfile, "/ca.pem"}, {verify, verify_peer}]}].
)");
  ASSERT_EQ(terms.size(), 1U);
  const auto* l = terms[0].as_list();
  ASSERT_NE(l, nullptr);
  ASSERT_EQ(l->size(), 2U);
  const auto& server = *(*l)[0].as_tuple();
  EXPECT_TRUE(server[0].is_atom("server"));
  const auto& opts = *server[1].as_list();
  EXPECT_EQ(opts[0], term(tuple{atom{"certfile"}, charlist("/x.pem")}));
  EXPECT_EQ((*opts[0].as_tuple())[1].as<std::string>(), "/x.pem");
  EXPECT_EQ(opts[2], term(tuple{atom{"fail_if_no_peer_cert"}, true}));
}

TEST(TermText, ConsultReadsEveryTermEndingInADot) {
  EXPECT_EQ(consult("a. {b, 1}.\n%c.\n\"d\".% end"),
            (std::vector<term>{atom{"a"}, tuple{atom{"b"}, 1}, charlist("d")}));
  EXPECT_TRUE(consult("  % nothing\n").empty());
  EXPECT_EQ(consult("1.5.").size(), 1U);
  EXPECT_THROW((void)consult("a"), term_syntax_error);
  EXPECT_THROW((void)consult("a.b."), term_syntax_error);
}

TEST(TermText, ErrorsSayLineColumnAndReason) {
  auto e = error_of("{ok,\n  [1, 2,, 3]}");
  EXPECT_EQ(e.line, 2U);
  EXPECT_EQ(e.column, 9U);
  EXPECT_EQ(e.message(), "line 2, column 9: expected a term, found ','");
}

TEST(TermText, RefusesWhatIsNotATerm) {
  EXPECT_EQ(error_of("X").reason, "a variable is not a term");
  EXPECT_EQ(error_of("\"abc").reason, "unterminated string");
  EXPECT_EQ(error_of("'abc").reason, "unterminated quoted atom");
  EXPECT_EQ(error_of("{a b}").reason, "expected , or } in a tuple");
  EXPECT_EQ(error_of("[a b]").reason, "expected , | or ] in a list");
  EXPECT_EQ(error_of("#{a 1}").reason, "expected => after a map key");
  EXPECT_EQ(error_of("37#1").reason, "a base outside 2..36");
  EXPECT_EQ(error_of("a b").reason, "expected the end of the text after the term");
  EXPECT_EQ(error_of("").reason, "expected a term, found the end of the text");
  EXPECT_EQ(error_of("'" + std::string(256, 'a') + "'").reason,
            "an atom longer than 255 characters");
  EXPECT_EQ(error_of("<<1.5>>").reason, "float segments are not supported");
  EXPECT_EQ(error_of("<<1/little>>").reason, "unsupported segment type little");
  EXPECT_EQ(error_of("1.0e999").reason, "a float out of range");
  EXPECT_EQ(error_of("fun m:f/256").reason, "expected a number in range");
  EXPECT_EQ(error_of("#Ref<a.1>").reason, "expected . and the reference's ids");
  EXPECT_EQ(error_of(std::string(1001, '[') + std::string(1001, ']')).reason,
            "terms nested deeper than 1000");
  EXPECT_EQ(error_of(std::string(5000, '1')).reason, "an integer of more than 4000 digits");
  try {
    (void)parse_term("\n\n  @");
    ADD_FAILURE() << "@ parsed";
  } catch (const term_syntax_error& err) {
    EXPECT_EQ(err.error().line, 3U);
    EXPECT_EQ(err.error().column, 3U);
    EXPECT_EQ(std::string(err.what()), "line 3, column 3: expected a term, found '@'");
  }
}

TEST(TermText, PrintsAsErlangsTildeW) {
  EXPECT_EQ(format_term(tuple{atom{"ok"}, 1, 2.5, list{}, "ab", charlist("ab")}),
            "{ok,1,2.5,[],<<97,98>>,[97,98]}");
  EXPECT_EQ(format_term(list::improper({1}, atom{"t"})), "[1|t]");
  EXPECT_EQ(format_term(map{{atom{"a"}, 1}, {atom{"b"}, list{}}}), "#{a => 1,b => []}");
  EXPECT_EQ(format_term(atom{"Abc"}), "'Abc'");
  EXPECT_EQ(format_term(atom{""}), "''");
  EXPECT_EQ(format_term(atom{"end"}), "'end'");
  EXPECT_EQ(format_term(atom{"a'b\n"}), R"('a\'b\n')");
  EXPECT_EQ(format_term(atom{"\x01"}), R"('\001')");
  EXPECT_EQ(format_term(atom{"日"}), R"('\x{65E5}')");
  EXPECT_EQ(format_term(bitstring({1, 0x40}, 3)), "<<1,2:3>>");
  EXPECT_EQ(format_term(export_fun{atom{"lists"}, atom{"map"}, 2}), "fun lists:map/2");
  EXPECT_EQ(format_term(term{UINT64_MAX}), "18446744073709551615");
  EXPECT_EQ(format_term(big_integer{true, std::vector<std::uint8_t>(9, 0xff)}),
            "-4722366482869645213695");
}

TEST(TermText, PrintsTextReadablyInTheReadableStyle) {
  const term t =
      tuple{charlist("héllo\n"), binary{"ascii"}, binary{"日本"}, binary{"\xff"}, list{}, binary{},
            list{1, 2},          charlist("a\"b")};
  EXPECT_EQ(format_term(t, term_style::readable),
            R"({"héllo\n",<<"ascii">>,<<"日本"/utf8>>,<<255>>,[],<<>>,[1,2],"a\"b"})");
  EXPECT_EQ(parse_term(format_term(t, term_style::readable)), t);
  std::ostringstream os;
  os << term(charlist("x"));
  EXPECT_EQ(os.str(), "\"x\"");
}

TEST(TermText, PrintsFloatsInTheShorterOfErlangsTwoForms) {
  const std::vector<std::pair<double, const char*>> cases = {
      {0.1, "0.1"},
      {1.0, "1.0"},
      {100.0, "100.0"},
      {1000.0, "1.0e3"},
      {0.0001, "0.0001"},
      {1.23e-4, "1.23e-4"},
      {1e-5, "1.0e-5"},
      {-0.0, "-0.0"},
      {12345.678, "12345.678"},
      {123456.0, "123456.0"},
      {12000.0, "1.2e4"},
      {9007199254740991.0, "9007199254740991.0"},
      {9007199254740992.0, "9.007199254740992e15"},
      {5e-324, "5.0e-324"},
      {-2.5e-3, "-0.0025"},
  };
  for (const auto& [d, text] : cases) EXPECT_EQ(format_term(d), text) << d;
}

TEST(TermText, PrintsPidsPortsRefsAndFunsInAFormItReadsBack) {
  const term p = pid{atom{"nonode@nohost"}, 85, 0, 3};
  EXPECT_EQ(format_term(p), "#Pid<nonode@nohost.85.0.3>");
  const term q = port{atom{"a@b.example"}, std::uint64_t{1} << 40U, 2};
  EXPECT_EQ(format_term(q), "#Port<'a@b.example'.1099511627776.2>");
  const term r = reference(atom{"n@h"}, 1, std::vector<std::uint32_t>{1, 2, 3});
  EXPECT_EQ(format_term(r), "#Ref<n@h.1.1.2.3>");
  std::vector<std::uint8_t> f = {112, 0, 0, 0, 32, 1};
  f.insert(f.end(), 24, 0);
  f.insert(f.end(), {119, 1, 'm'});
  const term fn = fun(f);
  for (const term& t : {p, q, r, fn}) EXPECT_EQ(parse_term(format_term(t)), t) << t;
}

TEST(TermText, FormatThenParseGivesTheSameTerm) {
  const std::vector<term> terms = {
      tuple{atom{"ok"}, -1, 0.1, 1e300, -5e-324, atom{"with space"}, atom{"ß"}},
      list::improper({charlist("x"), binary{"\xff"}}, tuple{}),
      map{{1, 1.0}, {1.0, 1}, {map{}, list{}}},
      big_integer{false, std::vector<std::uint8_t>(40, 0x5a)},
      bitstring({0xff, 0xff, 0x80}, 1),
      atom{"a\\b\x7f\xc2\x80"},
  };
  for (const auto& t : terms) {
    EXPECT_EQ(parse_term(format_term(t)), t) << format_term(t);
    EXPECT_EQ(parse_term(format_term(t) + "."), t) << format_term(t);
  }
}

}  // namespace
