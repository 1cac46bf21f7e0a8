// `moat serve --admin`: the admin endpoint of the real command, asked with curl, and its
// status page loaded in headless Chromium -- a screenshot read back by OCR (tesseract) and the
// page's DOM after its script ran -- showing the listener and a live connection count that
// changes when a client connects.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <moat/tls/context.hpp>
#include <moat/tls/socket.hpp>
#include <regex>
#include <string>

#include "support/support.hpp"

namespace moat {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;

struct serve_admin : ::testing::Test {
  test::temp_dir dir;
  unsigned short port = test::free_port();
  unsigned short admin_port = test::free_port();
  std::string admin_url() const { return "http://127.0.0.1:" + std::to_string(admin_port); }

  std::unique_ptr<test::child_process> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{MOAT_BINARY,  "serve",
                                  "--listen",   "127.0.0.1:" + std::to_string(port),
                                  "--data-dir", (dir.path() / "data").string(),
                                  "--admin",    "127.0.0.1:" + std::to_string(admin_port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<test::child_process>(argv);
  }

  test::process_outcome curl(const std::string& path, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{"curl", "-sS", "-w", "\nstatus=%{http_code}\n"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(admin_url() + path);
    return test::run_process(argv, 30s);
  }

  // A client that stays connected while it lives.
  struct client {
    asio::io_context io;
    std::optional<tls::socket> socket;
  };
  std::unique_ptr<client> connect_client() {
    auto c = std::make_unique<client>();
    tls::options o;
    o.cacertfile = dir.path() / "data" / "local-ca" / "ca.pem";
    tls::context ctx(tls::role::client, o);
    c->socket = test::run(c->io, [&]() -> asio::awaitable<std::optional<tls::socket>> {
      auto s =
          co_await tls::socket::connect(c->io.get_executor(), "localhost", port, ctx,
                                        test::scaled(10s), {.packet = framing::packet_mode::u32});
      EXPECT_TRUE(s) << s.error().message();
      if (!s) co_return std::nullopt;
      co_return std::move(*s);
    }());
    return c;
  }

  // The page after its script ran, and a screenshot of it at 1280x800 (scaled 2x for OCR).
  struct rendered {
    std::string dom;
    std::string ocr;
  };
  rendered load_page(const std::string& name) {
    const std::vector<std::string> common{"chromium",
                                          "--headless=new",
                                          "--no-sandbox",
                                          "--disable-gpu",
                                          "--hide-scrollbars",
                                          "--no-first-run",
                                          "--user-data-dir=" + (dir.path() / "chromium").string(),
                                          "--window-size=1280,800",
                                          "--virtual-time-budget=4000"};
    auto dom_argv = common;
    dom_argv.push_back("--dump-dom");
    dom_argv.push_back(admin_url() + "/");
    const auto dom = test::run_process(dom_argv, 120s);
    EXPECT_EQ(dom.status, 0) << dom.output;
    const auto png = dir.path() / (name + ".png");
    auto shot_argv = common;
    shot_argv.push_back("--force-device-scale-factor=2");
    shot_argv.push_back("--screenshot=" + png.string());
    shot_argv.push_back(admin_url() + "/");
    const auto shot = test::run_process(shot_argv, 120s);
    EXPECT_EQ(shot.status, 0) << shot.output;
    EXPECT_TRUE(fs::exists(png)) << shot.output;
    const auto ocr = test::run_process({"tesseract", png.string(), "stdout"}, 120s);
    EXPECT_EQ(ocr.status, 0) << ocr.output;
    return {dom.output, ocr.output};
  }
};

TEST_F(serve_admin, MetricsAndStatusAreServedOnTheAdminAddress) {
  auto p = start();
  ASSERT_TRUE(p->wait_for_output("admin: serving")) << p->output();
  auto m = curl("/metrics");
  ASSERT_EQ(m.status, 0) << m.output;
  EXPECT_NE(m.output.find("status=200"), std::string::npos) << m.output;
  EXPECT_NE(m.output.find("moat_listener_connections{listener=\"serve\"} 0\n"), std::string::npos)
      << m.output;
  auto c = connect_client();
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(10s);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    seen = curl("/metrics").output.find("moat_listener_connections{listener=\"serve\"} 1\n") !=
           std::string::npos;
    if (!seen) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(seen) << curl("/metrics").output;
  const auto st = curl("/status.json");
  EXPECT_NE(st.output.find("\"name\":\"serve\""), std::string::npos) << st.output;
}

TEST_F(serve_admin, ANonLoopbackAdminAddressExitsTwoUnlessAllowed) {
  test::child_process p({MOAT_BINARY, "serve", "--listen", "127.0.0.1:" + std::to_string(port),
                         "--data-dir", (dir.path() / "data").string(), "--admin",
                         "0.0.0.0:" + std::to_string(admin_port)});
  EXPECT_EQ(p.wait(test::scaled(20s)), 2) << p.output();
  EXPECT_NE(p.output().find("not a loopback address"), std::string::npos) << p.output();
}

TEST_F(serve_admin, TheTokenFromItsFileIsRequiredForTheData) {
  test::write_file(dir.path() / "token", "  tok-123\n");
  auto p = start({"--admin-token-file", (dir.path() / "token").string()});
  ASSERT_TRUE(p->wait_for_output("admin: serving")) << p->output();
  EXPECT_NE(curl("/metrics").output.find("status=401"), std::string::npos);
  EXPECT_NE(curl("/metrics", {"-H", "Authorization: Bearer tok-123"}).output.find("status=200"),
            std::string::npos);
  EXPECT_NE(curl("/").output.find("status=200"), std::string::npos);
  test::write_file(dir.path() / "empty", "\n");
  test::child_process bad({MOAT_BINARY, "serve", "--admin", "127.0.0.1:1", "--admin-token-file",
                           (dir.path() / "empty").string()});
  EXPECT_EQ(bad.wait(test::scaled(20s)), 2) << bad.output();
  EXPECT_NE(bad.output().find("is empty"), std::string::npos) << bad.output();
}

TEST_F(serve_admin, TheStatusPageInChromiumShowsTheListenerAndALiveConnectionCountThatChanges) {
  for (const char* tool : {"chromium", "tesseract"})
    ASSERT_TRUE(test::have_program(tool)) << tool << " is not installed (scripts/setup.sh)";
  auto p = start();
  ASSERT_TRUE(p->wait_for_output("admin: serving")) << p->output();

  const auto before = load_page("before");
  EXPECT_NE(before.dom.find("<span id=\"live-count\" class=\"muted\">(0)</span>"),
            std::string::npos)
      << before.dom;
  EXPECT_NE(before.dom.find("data-fits=\"true\""), std::string::npos)
      << "the page does not fit 1280x800:\n"
      << before.dom;
  EXPECT_NE(before.ocr.find("serve"), std::string::npos) << before.ocr;
  EXPECT_TRUE(std::regex_search(before.ocr, std::regex(R"(Live connections \((0|O|o)\))")))
      << before.ocr;

  auto c = connect_client();
  const auto after = load_page("after");
  EXPECT_NE(after.dom.find("<span id=\"live-count\" class=\"muted\">(1)</span>"), std::string::npos)
      << after.dom;
  EXPECT_TRUE(std::regex_search(after.ocr, std::regex(R"(Live connections \((1|l|I)\))")))
      << after.ocr;
  EXPECT_NE(after.ocr.find("127.0.0.1"), std::string::npos) << after.ocr;
}

}  // namespace
}  // namespace moat
