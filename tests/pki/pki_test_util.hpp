#pragma once
// Helpers for the pki tests: a per-test temporary directory, running the real `openssl`
// command, and catching moat::config_error.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <moat/error.hpp>
#include <moat/pki/pki.hpp>
#include <sstream>
#include <string>

namespace moat::pki::test {

namespace fs = std::filesystem;

/// A fresh directory per test, removed afterwards.
class temp_dir_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "moat-pki-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  [[nodiscard]] fs::path path(const std::string& name) const { return dir_ / name; }

  fs::path dir_;
};

struct run_result {
  int status = -1;
  std::string output;  // stdout and stderr
};

/// Runs a shell command (in `cwd` if given), capturing stdout+stderr.
inline run_result run(const std::string& command, const fs::path& cwd = {}) {
  std::string full = cwd.empty() ? command : "cd '" + cwd.string() + "' && " + command;
  full += " 2>&1";
  run_result r;
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

/// Runs a command that must succeed (fails the test otherwise).
inline std::string must_run(const std::string& command, const fs::path& cwd = {}) {
  run_result r = run(command, cwd);
  EXPECT_EQ(r.status, 0) << command << "\n" << r.output;
  return r.output;
}

inline void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline unsigned file_mode(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<unsigned>(st.st_mode) & 07777U;
}

/// Calls `f`, which must throw moat::config_error; returns it.
template <typename F>
config_error catch_config_error(F&& f) {
  try {
    f();
  } catch (const config_error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected moat::config_error, got: " << e.what();
    return config_error("(wrong exception)", std::error_code{});
  }
  ADD_FAILURE() << "expected moat::config_error, nothing was thrown";
  return config_error("(nothing thrown)", std::error_code{});
}

/// A root CA, an intermediate CA and a leaf, with their keys.
struct test_chain {
  private_key root_key, inter_key, leaf_key;
  certificate root, inter, leaf;
};

inline test_chain make_chain(key_type type = key_type::ecdsa_p256) {
  test_chain c;
  c.root_key = private_key::generate(type);
  c.inter_key = private_key::generate(type);
  c.leaf_key = private_key::generate(type);
  c.root =
      certificate_builder{.common_name = "Test Root", .organisation = "moat tests", .is_ca = true}
          .self_sign(c.root_key);
  c.inter =
      certificate_builder{
          .common_name = "Test Intermediate", .is_ca = true, .path_len_constraint = 0}
          .sign(c.inter_key, c.root, c.root_key);
  c.leaf = certificate_builder{.common_name = "leaf.example",
                               .subject_alt_names = {"DNS:leaf.example", "IP:127.0.0.1"}}
               .sign(c.leaf_key, c.inter, c.inter_key);
  return c;
}

}  // namespace moat::pki::test
