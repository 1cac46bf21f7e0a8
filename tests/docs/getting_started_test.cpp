// docs/getting-started.md, done as a reader does it: every code block in order, in one
// "terminal" whose directory and exported variables carry from block to block, against a moat
// installed from this build tree into a fresh home directory.
//
// - A shell block (```sh) runs with bash -euo pipefail and must succeed. An HTML comment
//   before it can say more: `<!-- test: output has "TEXT" -->` (its output must contain TEXT),
//   `<!-- test: background until "TEXT" -->` (it keeps running -- a server in a second
//   terminal -- and the next block waits until its output shows TEXT; at the end it gets
//   Ctrl-C, SIGINT to its process group, and must exit with status 0).
// - Any other block is a file: its first line is a comment naming it (`// main.cpp`,
//   `# CMakeLists.txt`, `%% client.erl`), and it is written into the terminal's directory for
//   the blocks after it to compile or run. A YAML file is parsed.
// - A block the test cannot check this way fails it: no block goes unchecked.
//
// The guide's ports (7000, 7001, 9100, 9101) become free ones in every block, so that the
// test can run beside others; nothing else in the text changes.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace moat {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct directive {
  std::string kind;  // "output has" or "background until"
  std::string text;
};

struct block {
  std::string lang;
  std::string text;
  int line = 0;  // of the opening fence, for messages
  std::vector<directive> directives;
};

// `"..."` with \" and \\ escapes, starting at s[i] == '"'.
std::string quoted(const std::string& s, std::size_t i, int line) {
  if (i >= s.size() || s[i] != '"') {
    throw std::runtime_error("line " + std::to_string(line) + ": a quoted text is expected");
  }
  std::string out;
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out += s[++i];
    } else if (s[i] == '"') {
      return out;
    } else {
      out += s[i];
    }
  }
  throw std::runtime_error("line " + std::to_string(line) + ": unterminated quoted text");
}

// The fenced blocks of a Markdown text with the test directives just before each.
std::vector<block> parse_guide(const std::string& md) {
  std::vector<block> blocks;
  std::vector<directive> pending;
  std::istringstream in(md);
  std::string l;
  int n = 0;
  std::optional<block> open;
  while (std::getline(in, l)) {
    ++n;
    if (open) {
      if (l.rfind("```", 0) == 0) {
        blocks.push_back(std::move(*open));
        open.reset();
      } else {
        open->text += l + "\n";
      }
      continue;
    }
    if (l.rfind("```", 0) == 0) {
      open = block{.lang = l.substr(3), .text = {}, .line = n, .directives = std::move(pending)};
      pending.clear();
      continue;
    }
    static const std::string prefix = "<!-- test: ";
    if (l.rfind(prefix, 0) == 0) {
      bool known = false;
      for (const std::string kind : {"output has", "background until"}) {
        if (l.compare(prefix.size(), kind.size() + 1, kind + " ") == 0) {
          pending.push_back({kind, quoted(l, prefix.size() + kind.size() + 1, n)});
          known = true;
        }
      }
      if (!known) {
        throw std::runtime_error("line " + std::to_string(n) + ": unknown test directive: " + l);
      }
      continue;
    }
    if (!l.empty() && !pending.empty()) {
      throw std::runtime_error("line " + std::to_string(n) +
                               ": a test directive is not followed by a code block");
    }
  }
  if (open)
    throw std::runtime_error("a code block is not closed (line " + std::to_string(open->line) +
                             ")");
  return blocks;
}

// The file a non-shell block is, from its first line: `// name.cpp`, `# name`, `%% name.erl`.
std::optional<std::string> file_name(const block& b) {
  static const std::regex first(R"(^(?://|#|%%)\s*([A-Za-z0-9_][A-Za-z0-9_.-]*\.[A-Za-z]+)\b)");
  std::smatch m;
  const std::string line = b.text.substr(0, b.text.find('\n'));
  if (!std::regex_search(line, m, first)) return std::nullopt;
  return m[1].str();
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::string single_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

TEST(GettingStarted, TheParserRefusesWhatItCannotCheck) {
  EXPECT_THROW(parse_guide("```sh\necho unterminated\n"), std::runtime_error);
  EXPECT_THROW(parse_guide("<!-- test: output has hello -->\n```sh\necho\n```\n"),
               std::runtime_error);
  EXPECT_THROW(parse_guide("<!-- test: output hello \"x\" -->\n```sh\necho\n```\n"),
               std::runtime_error);
  EXPECT_THROW(parse_guide("<!-- test: output has \"x\" -->\n\nsome prose\n```sh\necho\n```\n"),
               std::runtime_error);
  const auto b = parse_guide(
      "text\n<!-- test: output has \"a \\\"b\\\"\" -->\n```sh\necho 'a \"b\"'\n```\n"
      "```cpp\n// main.cpp -- a program\nint main() {}\n```\n```text\nnothing\n```\n");
  ASSERT_EQ(b.size(), 3U);
  ASSERT_EQ(b[0].directives.size(), 1U);
  EXPECT_EQ(b[0].directives[0].text, "a \"b\"");
  EXPECT_EQ(file_name(b[1]), "main.cpp");
  EXPECT_EQ(file_name(b[2]), std::nullopt);
}

// Lines without their indentation, blank ones left out.
std::vector<std::string> code_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    const auto first = l.find_first_not_of(' ');
    if (first != std::string::npos) out.push_back(l.substr(first));
  }
  return out;
}

// The README's C++ is an excerpt of the guide's program, which the next test compiles and runs.
TEST(GettingStarted, TheReadmesCodeIsAPartOfTheGuidesProgram) {
  const auto readme = parse_guide(read_text(test::source_dir() / "README.md"));
  const auto guide = parse_guide(read_text(test::source_dir() / "docs" / "getting-started.md"));
  std::vector<std::string> program;
  for (const auto& b : guide)
    if (b.lang == "cpp") program = code_lines(b.text);
  ASSERT_FALSE(program.empty());
  int excerpts = 0;
  for (const auto& b : readme) {
    if (b.lang != "cpp") continue;
    ++excerpts;
    const auto excerpt = code_lines(b.text);
    EXPECT_NE(std::search(program.begin(), program.end(), excerpt.begin(), excerpt.end()),
              program.end())
        << "README.md:" << b.line << " is not a part of the guide's program:\n"
        << b.text;
  }
  EXPECT_GE(excerpts, 1);
}

TEST(GettingStarted, EveryBlockRunsInOrderAgainstAFreshInstall) {
  const auto guide = parse_guide(read_text(test::source_dir() / "docs" / "getting-started.md"));
  ASSERT_GE(guide.size(), 10U) << "the guide lost its blocks";

  test::temp_dir dir;
  const fs::path home = dir.path() / "home";
  const fs::path source = dir.path() / "moat";  // stands for moat's source tree: its build/
  const fs::path session = dir.path() / "session";
  fs::create_directories(home);
  fs::create_directories(source);
  fs::create_directories(session);
  fs::create_directory_symlink(MOAT_BUILD_DIR, source / "build");
  test::write_file(session / "cwd", source.string() + "\n");

  std::map<std::string, std::string> ports;
  for (const char* p : {"7000", "7001", "9100", "9101"})
    ports[p] = std::to_string(test::free_port());
  auto localize = [&](std::string text) {
    for (const auto& [from, to] : ports) {
      text = std::regex_replace(text, std::regex("\\b" + from + "\\b"), to);
    }
    return text;
  };
  const std::string env_file = (session / "env").string();
  const std::string cwd_file = (session / "cwd").string();
  // The terminal: its directory and exports carried from the block before.
  auto script = [&](const std::string& body) {
    return "set -euo pipefail\ncd \"$(cat " + single_quoted(cwd_file) + ")\"\n" + "if [ -f " +
           single_quoted(env_file) + " ]; then source " + single_quoted(env_file) + "; fi\n" +
           body + "\nexport -p | grep -Ev '^declare -x (PWD|OLDPWD|SHLVL|_)=' > " +
           single_quoted(env_file) + "\npwd > " + single_quoted(cwd_file) + "\n";
  };
  const std::vector<std::string> env = {
      "env", "HOME=" + home.string(), "CXX=" MOAT_CXX,
      // A consumer of sanitized libraries needs the runtime too (CMake reads CXXFLAGS).
      std::string("CXXFLAGS=") +
          (MOAT_SANITIZED ? "-fsanitize=address,undefined -fno-sanitize=vptr" : "")};
  auto command = [&](const std::string& body) {
    auto argv = env;
    argv.insert(argv.end(), {"bash", "-c", script(body)});
    return argv;
  };

  std::vector<std::pair<int, std::unique_ptr<test::child_process>>> servers;  // {line, process}
  int checked = 0;
  for (const auto& b : guide) {
    const std::string where = "getting-started.md:" + std::to_string(b.line) + "\n" + b.text;
    const std::string text = localize(b.text);
    if (b.lang == "sh") {
      std::optional<std::string> background;
      for (const auto& d : b.directives)
        if (d.kind == "background until") background = d.text;
      if (background) {
        auto p = std::make_unique<test::child_process>(command(text));
        ASSERT_TRUE(p->wait_for_output(*background, 180s))
            << where << "\ndid not show \"" << *background << "\":\n"
            << p->output();
        servers.emplace_back(b.line, std::move(p));
      } else {
        const auto r = test::run_process(command(text), 600s);
        ASSERT_EQ(r.status, 0) << where << "\n" << r.output;
        for (const auto& d : b.directives) {
          EXPECT_NE(r.output.find(d.text), std::string::npos)
              << where << "\nshould show \"" << d.text << "\":\n"
              << r.output;
        }
      }
    } else {
      const auto name = file_name(b);
      ASSERT_TRUE(name) << where << "\nis neither a shell block nor a file the test can write";
      ASSERT_TRUE(b.directives.empty()) << where << "\na file takes no test directive";
      std::string cwd = read_text(cwd_file);
      cwd.erase(cwd.find_last_not_of('\n') + 1);
      const fs::path file = fs::path(cwd) / *name;
      test::write_file(file, text);
      if (b.lang == "yaml") {
        const auto r = test::run_process(
            {"/usr/bin/python3", "-c", "import sys, yaml; yaml.safe_load(open(sys.argv[1]))",
             file.string()},
            60s);
        EXPECT_EQ(r.status, 0) << where << "\n" << r.output;
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(guide.size()));
  // Ctrl-C in each server's terminal, the last started first: each drains and exits cleanly.
  for (auto it = servers.rbegin(); it != servers.rend(); ++it) {
    ::kill(-it->second->pid(), SIGINT);
    const auto status = it->second->wait(60s);
    EXPECT_EQ(status, 0) << "the server of getting-started.md:" << it->first
                         << " did not stop cleanly on Ctrl-C:\n"
                         << it->second->output();
  }
}

}  // namespace
}  // namespace moat
