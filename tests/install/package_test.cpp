// The Debian package (`cpack -G DEB`, docs/install.md): built from this build tree (once, by
// the CTest fixture DebianPackage.build) and looked at with dpkg-deb -- its fields, its files, and the systemd
// unit for `moat serve` it carries.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace moat {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class DebianPackage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_program("dpkg-deb")) return;
    dir_ = new test::temp_dir();
    // Under CTest the fixture DebianPackage.build has built it (and removes it after);
    // otherwise this program builds its own.
    fs::path from = MOAT_DEB_DIR;
    std::string output = "(built by DebianPackage.build)";
    if (!fs::is_directory(from)) {
      from = dir_->path();
      const auto r = test::run_process({MOAT_CPACK, "-G", "DEB", "-B", from.string(), "--config",
                                        MOAT_BUILD_DIR "/CPackConfig.cmake"},
                                       300s);
      ASSERT_EQ(r.status, 0) << r.output;
      output = r.output;
    }
    for (const auto& e : fs::directory_iterator(from))
      if (e.path().extension() == ".deb") deb_ = new fs::path(e.path());
    ASSERT_NE(deb_, nullptr) << "no .deb in " << from << ":\n" << output;
    const auto x = test::run_process(
        {"dpkg-deb", "-x", deb_->string(), (dir_->path() / "root").string()}, 120s);
    ASSERT_EQ(x.status, 0) << x.output;
  }
  static void TearDownTestSuite() {
    delete deb_;
    deb_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!test::have_program("dpkg-deb")) GTEST_SKIP() << "dpkg-deb is not installed";
    ASSERT_NE(deb_, nullptr);
  }
  static std::string dpkg_deb(const std::string& what, const std::string& extra = {}) {
    std::vector<std::string> argv{"dpkg-deb", what, deb_->string()};
    if (!extra.empty()) argv.push_back(extra);
    const auto r = test::run_process(argv, 120s);
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  }
  static fs::path root() { return dir_->path() / "root"; }

 private:
  static test::temp_dir* dir_;
  static fs::path* deb_;
};
test::temp_dir* DebianPackage::dir_ = nullptr;
fs::path* DebianPackage::deb_ = nullptr;

TEST_F(DebianPackage, ItsFieldsNameThePackageItsVersionAndTheLibrariesTheCommandNeeds) {
  EXPECT_EQ(dpkg_deb("-f", "Package"), "moat\n");
  EXPECT_EQ(dpkg_deb("-f", "Version"), MOAT_VERSION "\n");
  EXPECT_EQ(dpkg_deb("-f", "Architecture"), "amd64\n");
  const auto depends = dpkg_deb("-f", "Depends");
  EXPECT_NE(depends.find("libgnutls30"), std::string::npos) << depends;
  EXPECT_NE(depends.find("libc6"), std::string::npos) << depends;
}

TEST_F(DebianPackage, ItHoldsTheCommandHeadersLibrariesPackageFilesUnitAndDocsUnderUsr) {
  const auto files = dpkg_deb("-c");
  for (const char* path :
       {"./usr/bin/moat", "./usr/include/moat/tls/socket.hpp", "./usr/include/moat/dist/node.hpp",
        "./usr/lib/libmoat_tls.a", "./usr/lib/libmoat_dist.a",
        "./usr/lib/cmake/moat/moat-config.cmake", "./usr/lib/cmake/moat/moat-config-version.cmake",
        "./usr/lib/pkgconfig/moat.pc", "./usr/lib/systemd/system/moat.service",
        "./usr/share/doc/moat/install.md"})
    EXPECT_NE(files.find(std::string(path) + "\n"), std::string::npos) << path << "\n" << files;
  EXPECT_EQ(files.find("/usr/local/"), std::string::npos) << files;
  const auto r = test::run_process({(root() / "usr/bin/moat").string(), "--help"}, 30s);
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST_F(DebianPackage, TheUnitRunsMoatServeConfinedWithAStateDirectoryAndLowPorts) {
  std::ifstream in(root() / "usr/lib/systemd/system/moat.service");
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string unit = ss.str();
  for (const char* line :
       {"ExecStart=/usr/bin/moat serve --data-dir ${STATE_DIRECTORY} $MOAT_SERVE_ARGS",
        "EnvironmentFile=-/etc/default/moat", "ProtectSystem=strict", "StateDirectory=moat",
        "DynamicUser=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes",
        "ExecReload=kill -HUP $MAINPID", "RestartPreventExitStatus=2",
        "WantedBy=multi-user.target"})
    EXPECT_NE(unit.find(std::string("\n") + line + "\n"), std::string::npos) << line << "\n"
                                                                             << unit;
  EXPECT_EQ(unit.find("@"), std::string::npos) << "an unreplaced @variable@:\n" << unit;
}

// Debian strips what it ships: the command has no debug information, and the static libraries
// keep their symbols (to link) but not theirs -- three quarters of their size in a build with
// line tables.
TEST_F(DebianPackage, TheCommandAndTheLibrariesCarryNoDebugInformation) {
  std::vector<fs::path> objects{root() / "usr/bin/moat"};
  for (const auto& e : fs::directory_iterator(root() / "usr/lib"))
    if (e.path().extension() == ".a") objects.push_back(e.path());
  ASSERT_GE(objects.size(), 10U);
  for (const auto& o : objects) {
    const auto sections = test::run_process({"objdump", "-h", o.string()}, 120s);
    ASSERT_EQ(sections.status, 0) << sections.output;
    EXPECT_EQ(sections.output.find(".debug_"), std::string::npos)
        << o << " carries debug information";
    if (o.extension() == ".a") {
      const auto symbols = test::run_process({"nm", "--defined-only", o.string()}, 120s);
      EXPECT_NE(symbols.output.find(" T "), std::string::npos) << o << " lost its symbols";
    }
  }
}

}  // namespace
}  // namespace moat
