// Builds an Erlang term, encodes it as term_to_binary/1 would, decodes it back, matches it,
// and reads an Erlang options file (file:consult/1 syntax).
#include <cstdio>
#include <moat/dist/external.hpp>
#include <moat/dist/term.hpp>
#include <moat/dist/term_text.hpp>
#include <string>
#include <vector>

namespace dist = moat::dist;

int main() {
  // {reply, <<"hello">>, "charlist", [1, 2, 3], #{count => 3}}
  const dist::term reply =
      dist::tuple{dist::atom{"reply"}, "hello", dist::charlist("charlist"),
                  std::vector<int>{1, 2, 3}, dist::map{{dist::atom{"count"}, 3}}};

  std::vector<std::uint8_t> wire;
  dist::encode_to(wire, reply);  // 131, then the term

  dist::term back;
  if (auto ec = dist::decode(wire, back)) {
    std::fprintf(stderr, "decode: %s\n", ec.message().c_str());
    return 1;
  }
  if (const auto* t = back.as_tuple(); t != nullptr && t->size() == 5 && (*t)[0].is_atom("reply")) {
    std::printf("text: %s, count: %d\n", (*t)[1].as<std::string>().c_str(),
                (*t)[4].as_map()->find(dist::atom{"count"})->as<int>());
  }
  std::printf("%s\n", dist::format_term(back).c_str());  // as io:format("~w") prints it
  std::printf("%s\n", dist::format_term(back, dist::term_style::readable).c_str());  // for logs

  // An -ssl_dist_optfile file, read as file:consult/1 reads it.
  try {
    const auto terms = dist::consult(R"([{server, [{certfile, "/etc/moat/node.pem"}]}].)");
    const auto& server = (*terms.at(0).as_list())[0];
    std::printf("server options: %s\n",
                dist::format_term((*server.as_tuple())[1], dist::term_style::readable).c_str());
  } catch (const dist::term_syntax_error& e) {
    std::fprintf(stderr, "options: %s\n", e.what());
    return 1;
  }
  return 0;
}
