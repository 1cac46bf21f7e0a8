// Round trips with a real Erlang node: terms Erlang makes (every tag, in every encoding it
// offers) are decoded and encoded back, and Erlang checks the bytes; terms built in C++ are
// encoded and Erlang checks what they decode to. Two VM runs for the whole suite.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <moat/dist/external.hpp>
#include <moat/dist/term_text.hpp>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace {

using namespace moat::dist;
namespace test = moat::test;
using bytes = std::vector<std::uint8_t>;

// Writes each term of terms() as term_to_binary with minor versions 2, 1 and 0, compressed,
// and as io_lib:format("~w").
constexpr const char* generate_script = R"erl(#!/usr/bin/env escript
-mode(compile).
main([Dir]) ->
    Terms = terms(),
    W = fun(Name, Data) -> ok = file:write_file(filename:join(Dir, Name), Data) end,
    lists:foldl(
      fun(T, I) ->
          N = integer_to_list(I),
          W(N ++ ".v2", term_to_binary(T, [{minor_version, 2}])),
          W(N ++ ".v1", term_to_binary(T)),
          W(N ++ ".v0", term_to_binary(T, [{minor_version, 0}])),
          W(N ++ ".z", term_to_binary(T, [compressed, {minor_version, 2}])),
          W(N ++ ".w", unicode:characters_to_binary(io_lib:format("~w", [T]))),
          I + 1
      end, 0, Terms),
    W("count", integer_to_list(length(Terms))),
    io:format("generated~n").

terms() ->
    Deep = fun(Wrap) -> lists:foldl(fun(_, Acc) -> Wrap(Acc) end, x, lists:seq(1, 300)) end,
    [0, 1, 255, 256, -1, 2147483647, 2147483648, -2147483648, -2147483649,
     9223372036854775807, 9223372036854775808, -9223372036854775808, -9223372036854775809,
     (1 bsl 2040) - 1, 1 bsl 2040, -(1 bsl 3000), 1 bsl 64,
     0.0, -0.0, 0.1, 1.0, 100.0, 1000.0, 9007199254740991.0, 9007199254740992.0, 12000.0,
     123456.0, 0.0025, 1.0e15, 1.0e22, 123456789012345680.0, -1.5e-7, 0.0001, 1.23e-4, 1.0e300, -2.5e-300, 5.0e-324, 12345.678,
     1.7976931348623157e308, 3.14,
     ok, '', 'hello world', 'héllo', 'Ok', 'a\nb', 'else', 'fun', 'with@at', 'quote\'s',
     '日本語', list_to_atom(lists:duplicate(255, $a)), list_to_atom(lists:duplicate(255, 16#65E5)),
     list_to_atom(lists:duplicate(200, $é)), true, false,
     <<>>, <<"bytes">>, <<1, 2, 3:4>>, <<1:1>>, list_to_binary(lists:seq(0, 255)),
     {}, {a}, {ok, 42}, list_to_tuple(lists:seq(1, 255)), list_to_tuple(lists:seq(1, 256)),
     [], "abc", [256], lists:duplicate(65535, $a), lists:duplicate(65536, $a), [1 | 2],
     [a, b | c], [[]], [1.0, "x", <<"y">>], [-1, 0], "héllo", [16#65E5],
     #{}, #{a => 1, <<"b">> => [2]}, maps:from_list([{I, I * I} || I <- lists:seq(1, 40)]),
     #{#{k => v} => {t}}, #{1 => a, 1.0 => b},
     self(), make_ref(), hd(erlang:ports()),
     fun() -> ok end, fun lists:map/2, (fun(X) -> fun() -> X end end)({42, self()}),
     Deep(fun(A) -> [A] end), Deep(fun(A) -> {A} end), Deep(fun(A) -> #{k => A} end),
     {self(), make_ref(), #{list => [1, 2, 3], bin => <<"x">>}, [{nested, [1 | {improper}]}]}].
)erl";

// Checks our re-encodings (N.back) byte for byte, and the C++ terms (cppN.bin) against the
// expressions in cppN.erl (a fun of arity 1 is a predicate instead).
constexpr const char* check_script = R"erl(#!/usr/bin/env escript
-mode(compile).
main([Dir]) ->
    Read = fun(Name) -> {ok, B} = file:read_file(filename:join(Dir, Name)), B end,
    Count = binary_to_integer(Read("count")),
    Back = [I || I <- lists:seq(0, Count - 1), not check_back(Read, integer_to_list(I))],
    CppCount = binary_to_integer(Read("cpp_count")),
    Cpp = [I || I <- lists:seq(0, CppCount - 1), not check_cpp(Read, integer_to_list(I))],
    io:format("failed: ~w ~w~n", [Back, Cpp]),
    case {Back, Cpp} of
        {[], []} -> io:format("ALL OK ~w ~w~n", [Count, CppCount]);
        _ -> halt(1)
    end.

check_back(Read, N) ->
    Orig = Read(N ++ ".v2"),
    Ours = Read(N ++ ".back"),
    T = binary_to_term(Orig),
    case catch binary_to_term(Ours) of
        T2 when T2 =:= T, Ours =:= Orig -> true;
        Other -> io:format("term ~s: ~w~n ours ~w~n orig ~w~n", [N, Other, Ours, Orig]), false
    end.

check_cpp(Read, N) ->
    Bin = Read("cpp" ++ N ++ ".bin"),
    {ok, Toks, _} = erl_scan:string(unicode:characters_to_list(Read("cpp" ++ N ++ ".erl"))),
    {ok, Exprs} = erl_parse:parse_exprs(Toks),
    {value, Expected, _} = erl_eval:exprs(Exprs, []),
    Got = (catch binary_to_term(Bin)),
    Ok = case Expected of
             F when is_function(F, 1) -> (catch F(Got)) =:= true;
             _ -> Got =:= Expected andalso Bin =:= term_to_binary(Expected, [{minor_version, 2}])
         end,
    Ok orelse io:format("cpp term ~s: got ~w~n expected ~w~n bytes ~w~n", [N, Got, Expected, Bin]),
    Ok.
)erl";

bytes read_bytes(const std::filesystem::path& p) {
  const std::string s = test::read_file(p);
  return {s.begin(), s.end()};
}

void write_bytes(const std::filesystem::path& p, const bytes& b) {
  test::write_file(p, std::string(b.begin(), b.end()));
}

// C++ terms and the Erlang expression each must decode to.
std::vector<std::pair<term, std::string>> cpp_terms() {
  std::string wide;
  for (int i = 0; i < 255; ++i) wide += "日";
  return {
      {42, "42"},
      {-300, "-300"},
      {UINT64_MAX, "18446744073709551615"},
      {INT64_MIN, "-9223372036854775808"},
      {big_integer{true, bytes(300, 0xab)},
       "-binary:decode_unsigned(binary:copy(<<16#ab>>, 300), little)"},
      {0.1, "0.1"},
      {-0.0, "fun(F) -> F == 0.0 andalso is_float(F) end"},
      {true, "true"},
      {atom{"héllo wörld"}, "'héllo wörld'"},
      {atom{wide}, "list_to_atom(lists:duplicate(255, 16#65E5))"},
      {"binary text", "<<\"binary text\">>"},
      {charlist("héllo"), "\"héllo\""},
      {charlist("日本"), "[16#65E5, 16#672C]"},
      {bitstring({0xff, 0x80}, 1), "<<255, 1:1>>"},
      {tuple{atom{"ok"}, 1.5, list{}}, "{ok, 1.5, []}"},
      {moat::dist::make_tuple(atom{"error"}, "why"), "{error, <<\"why\">>}"},
      {list::improper({1, 2}, atom{"tail"}), "[1, 2 | tail]"},
      {std::vector<int>{1, 2, 3000}, "[1, 2, 3000]"},
      {std::map<std::string, int>{{"a", 1}, {"b", 2}}, "#{<<\"a\">> => 1, <<\"b\">> => 2}"},
      {map{{atom{"a"}, 1}, {atom{"b"}, map{}}}, "#{a => 1, b => #{}}"},
      {export_fun{atom{"lists"}, atom{"map"}, 2}, "fun lists:map/2"},
      {tuple(std::vector<term>(300, atom{"x"})), "list_to_tuple(lists:duplicate(300, x))"},
      {pid{atom{"other@host"}, 85, 3, 7},
       "fun(P) -> is_pid(P) andalso node(P) =:= 'other@host' end"},
      {port{atom{"other@host"}, std::uint64_t{1} << 40U, 7},
       "fun(P) -> is_port(P) andalso node(P) =:= 'other@host' end"},
      {reference(atom{"other@host"}, 7, std::vector<std::uint32_t>{1, 2, 3}),
       "fun(R) -> is_reference(R) andalso node(R) =:= 'other@host' end"},
  };
}

class ErlangInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_program("escript")) return;
    dir_ = std::make_unique<test::temp_dir>();
    test::write_file(*dir_ / "generate.escript", generate_script);
    const auto out = test::run_process(
        {"escript", (*dir_ / "generate.escript").string(), dir_->path().string()});
    generated_ = out.status == 0 && out.output.find("generated") != std::string::npos;
    if (!generated_) {
      ADD_FAILURE() << "the Erlang generator failed: " << out.output;
      return;
    }
    count_ = std::stoul(test::read_file(*dir_ / "count"));
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "escript is not installed";
    ASSERT_TRUE(generated_);
  }

  static std::filesystem::path file(std::size_t i, const std::string& ext) {
    return *dir_ / (std::to_string(i) + ext);
  }

  static inline std::unique_ptr<test::temp_dir> dir_;
  static inline bool generated_ = false;
  static inline std::size_t count_ = 0;
};

TEST_F(ErlangInterop, ErlangsTermsDecodeInEveryEncodingAndEncodeBackToErlangsBytes) {
  ASSERT_GE(count_, 80U);
  for (std::size_t i = 0; i < count_; ++i) {
    const bytes v2 = read_bytes(file(i, ".v2"));
    term t;
    ASSERT_FALSE(decode(v2, t)) << "term " << i;
    EXPECT_EQ(encode(t), v2) << "term " << i << ": " << t;
    for (const char* other : {".v1", ".v0", ".z"}) {
      term o;
      const auto ec = decode(read_bytes(file(i, other)), o);
      ASSERT_FALSE(ec) << "term " << i << other << ": " << ec.message();
      // A fun is kept as its bytes, and older encodings spell its atoms differently.
      if (t.kind() != term_kind::fun) {
        EXPECT_EQ(o, t) << "term " << i << other;
      }
    }
    write_bytes(file(i, ".back"), encode(t));
  }
  const auto cpp = cpp_terms();
  for (std::size_t i = 0; i < cpp.size(); ++i) {
    write_bytes(*dir_ / ("cpp" + std::to_string(i) + ".bin"), encode(cpp[i].first));
    test::write_file(*dir_ / ("cpp" + std::to_string(i) + ".erl"), cpp[i].second + ".");
  }
  test::write_file(*dir_ / "cpp_count", std::to_string(cpp.size()));
  test::write_file(*dir_ / "check.escript", check_script);
  const auto out =
      test::run_process({"escript", (*dir_ / "check.escript").string(), dir_->path().string()});
  EXPECT_EQ(out.status, 0) << out.output;
  EXPECT_NE(out.output.find("ALL OK"), std::string::npos) << out.output;
}

TEST_F(ErlangInterop, FormatTermPrintsWhatTildeWPrintsAndReadsItBack) {
  for (std::size_t i = 0; i < count_; ++i) {
    term t;
    ASSERT_FALSE(decode(read_bytes(file(i, ".v2")), t)) << "term " << i;
    EXPECT_EQ(parse_term(format_term(t)), t) << "term " << i << ": " << format_term(t);
    const std::string erlang = test::read_file(file(i, ".w"));
    // Erlang prints pids, ports, references and funs in forms only it can place.
    if (erlang.find("#Fun") != std::string::npos || erlang.find("#Ref") != std::string::npos ||
        erlang.find("#Port") != std::string::npos || erlang.find("<0.") != std::string::npos) {
      continue;
    }
    // A map of more than 32 keys is a hash map, which ~w walks in another order.
    if (!(t.is_map() && t.as_map()->size() > 32)) {
      EXPECT_EQ(format_term(t), erlang) << "term " << i;
    }
    EXPECT_EQ(parse_term(erlang), t) << "term " << i << ": " << erlang;
  }
}

}  // namespace
