// moat as other projects get it: `cmake --install` into a temporary prefix, then the tls echo
// example of docs/tls.md built outside the tree with find_package(moat) and with pkg-config,
// and run (docs/install.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace moat {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The flags a consumer of a sanitized build needs too (the libraries call the runtime).
std::string sanitizer_flags() {
  return MOAT_SANITIZED ? "-fsanitize=address,undefined -fno-sanitize=vptr" : "";
}

class Installed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::temp_dir();
    const auto r = test::run_process(
        {MOAT_CMAKE, "--install", MOAT_BUILD_DIR, "--prefix", prefix().string()}, 120s);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path prefix() { return dir_->path() / "prefix"; }
  static fs::path work() { return dir_->path(); }
  static fs::path example() { return test::source_dir() / "examples" / "tls_echo.cpp"; }

 private:
  static test::temp_dir* dir_;
};
test::temp_dir* Installed::dir_ = nullptr;

TEST_F(Installed, TheTreeHasTheHeadersTheLibrariesThePackageFilesAndTheCommand) {
  for (const char* part :
       {"pki", "framing", "tls", "server", "http", "acme", "dist", "dist_term", "admin"})
    EXPECT_TRUE(fs::exists(prefix() / "lib" / (std::string("libmoat_") + part + ".a"))) << part;
  EXPECT_TRUE(fs::exists(prefix() / "include/moat/tls/socket.hpp"));
  EXPECT_TRUE(fs::exists(prefix() / "include/moat/dist/node.hpp"));
  EXPECT_TRUE(fs::exists(prefix() / "lib/cmake/moat/moat-config.cmake"));
  EXPECT_TRUE(fs::exists(prefix() / "lib/cmake/moat/moat-config-version.cmake"));
  EXPECT_TRUE(fs::exists(prefix() / "lib/pkgconfig/moat.pc"));
  EXPECT_TRUE(fs::exists(prefix() / "share/doc/moat/install.md"));
  // The service unit names the command where this prefix put it.
  std::ifstream unit(prefix() / "lib/systemd/system/moat.service");
  const std::string text{std::istreambuf_iterator<char>(unit), {}};
  EXPECT_NE(text.find("ExecStart=" + (prefix() / "bin/moat").string() + " serve"),
            std::string::npos)
      << text;
  // No internal header is installed: they stay in src/.
  EXPECT_FALSE(fs::exists(prefix() / "include/tls"));
  const auto r = test::run_process({(prefix() / "bin/moat").string(), "--help"}, 30s);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("node"), std::string::npos) << r.output;
}

TEST_F(Installed, AProjectOutsideTheTreeBuildsWithFindPackageAndRuns) {
  const auto build = work() / "cmake-consumer";
  auto r = test::run_process(
      {MOAT_CMAKE, "-S", (test::source_dir() / "tests/install/consumer").string(), "-B",
       build.string(), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
       "-DCMAKE_CXX_COMPILER=" MOAT_CXX, "-DCMAKE_PREFIX_PATH=" + prefix().string(),
       "-DCMAKE_CXX_FLAGS=" + sanitizer_flags(), "-DMOAT_EXAMPLE=" + example().string()},
      120s);
  ASSERT_EQ(r.status, 0) << r.output;
  r = test::run_process({MOAT_CMAKE, "--build", build.string()}, 300s);
  ASSERT_EQ(r.status, 0) << r.output;
  r = test::run_process({(build / "tls_echo").string()}, 60s);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("echo: hello"), std::string::npos) << r.output;
}

TEST_F(Installed, FindPackageRefusesAnotherMinorVersion) {
  const auto build = work() / "cmake-version";
  const auto src = work() / "version-src";
  fs::create_directories(src);
  test::write_file(src / "CMakeLists.txt",
                   "cmake_minimum_required(VERSION 3.25)\nproject(v LANGUAGES CXX)\n"
                   "find_package(moat 0.2 CONFIG REQUIRED)\n");
  const auto r = test::run_process({MOAT_CMAKE, "-S", src.string(), "-B", build.string(),
                                    "-DCMAKE_PREFIX_PATH=" + prefix().string()},
                                   120s);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("0.1.0"), std::string::npos) << r.output;
}

TEST_F(Installed, AProgramBuildsWithPkgConfigAndRuns) {
  if (!test::have_program("pkg-config")) GTEST_SKIP() << "pkg-config is not installed";
  const auto out = work() / "pc-consumer";
  const std::string cmd = "PKG_CONFIG_PATH='" + (prefix() / "lib/pkgconfig").string() + "' && " +
                          "export PKG_CONFIG_PATH && " MOAT_CXX " -std=c++20 -O1 " +
                          sanitizer_flags() + " '" + example().string() + "' -o '" + out.string() +
                          "' $(pkg-config --cflags --libs moat)";
  auto r = test::run_process({"sh", "-c", cmd}, 300s);
  ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output;
  r = test::run_process({out.string()}, 60s);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("echo: hello"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace moat
