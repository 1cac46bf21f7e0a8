// A ClientHello split over several TLS records (RFC 8446 section 5.1 allows any fragmentation
// of handshake messages) that arrive in one TCP segment. Found by the tls_server_engine fuzz
// target: the engine handed GnuTLS one record per call and then asked the transport for more,
// although the rest of the ClientHello was already buffered -- so a server waited for bytes
// that would never come, until its handshake timeout.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <moat/tls/socket.hpp>
#include <thread>
#include <vector>

#include "support/support.hpp"
#include "tls_server_engine_entry.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::uint8_t>;

// openssl s_client's TLS 1.3 ClientHello, re-cut into records of at most `size` bytes.
bytes fragmented_client_hello(std::size_t size) {
  std::ifstream in(std::filesystem::path(MOAT_TLS_FUZZ_CORPUS) / "openssl-tls13-clienthello",
                   std::ios::binary);
  const bytes record{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_GT(record.size(), 5U);
  bytes out;
  for (std::size_t at = 5; at < record.size(); at += size) {
    const std::size_t n = std::min(size, record.size() - at);
    out.insert(out.end(), {0x16, 0x03, 0x01, static_cast<std::uint8_t>(n >> 8),
                           static_cast<std::uint8_t>(n & 0xff)});
    out.insert(out.end(), record.begin() + static_cast<std::ptrdiff_t>(at),
               record.begin() + static_cast<std::ptrdiff_t>(at + n));
  }
  return out;
}

TEST(FragmentedHello, AServerAnswersAClientHelloSplitOverRecordsThatArriveTogether) {
  for (std::size_t size : {100U, 7U}) {
    SCOPED_TRACE(size);
    asio::io_context io;
    auto ls = listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0},
                                    fuzz::tls_fuzz_server_context());
    const auto endpoint = ls.local_endpoint();
    const bytes hello = fragmented_client_hello(size);
    // The client sends the whole ClientHello in one write and waits for the ServerHello; it
    // gives up after 20 s (the server's handshake timeout is 60 s, so only an answer ends it
    // sooner).
    bytes answer;
    std::thread client([&] {
      asio::io_context cio;
      asio::ip::tcp::socket s(cio);
      s.connect(endpoint);
      asio::write(s, asio::buffer(hello));
      // A blocking read that gives up after 20 s (SO_RCVTIMEO).
      const timeval limit{20, 0};
      ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      std::array<std::uint8_t, 4096> buf{};
      boost::system::error_code ec;
      while (answer.size() < 5 && !ec) {
        const std::size_t n = s.read_some(asio::buffer(buf), ec);
        answer.insert(answer.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      }
      s.close();  // the server's handshake then ends (truncated)
    });
    const auto ec = test::run(
        io,
        [&]() -> asio::awaitable<std::error_code> {
          auto s = co_await ls.transport_accept();
          if (!s) co_return s.error();
          co_return co_await s->handshake(60s);
        }(),
        90s);
    client.join();
    ASSERT_GE(answer.size(), 5U) << "no ServerHello; the server's handshake ended with "
                                 << reason_name(ec);
    EXPECT_EQ(answer[0], 0x16) << "a handshake record (ServerHello)";
  }
}

TEST(FragmentedHello, TheEngineAnswersAClientHelloSplitOverRecordsInOneCall) {
  for (std::size_t size : {100U, 7U, 1U}) {
    SCOPED_TRACE(size);
    const bytes hello = fragmented_client_hello(size);
    detail::engine e(fuzz::tls_fuzz_server_context());
    auto space = e.prepare_input(hello.size());
    std::copy(hello.begin(), hello.end(), space.begin());
    e.commit_input(hello.size());
    std::error_code ec;
    const auto w = e.handshake(ec);
    EXPECT_FALSE(ec) << reason_name(ec);
    EXPECT_EQ(w, detail::want::output_and_retry);
    EXPECT_GT(e.output().size(), 100U);
    EXPECT_FALSE(e.has_pending_input());
  }
}

}  // namespace
}  // namespace moat::tls
