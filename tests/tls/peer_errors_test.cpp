// What a peer sending bad bytes to a moat server reads as: a moat reason named after the
// alert sent (never the TLS library's own error name), for the engine fed the bytes directly
// and for a real server socket.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <moat/tls/socket.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/support.hpp"
#include "tls/gnutls_util.hpp"
#include "tls_server_engine_entry.hpp"

namespace moat::tls {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::uint8_t>;

bool names_the_library(const std::string& s) {
  return s.find("GNUTLS") != std::string::npos || s.find("gnutls") != std::string::npos;
}

bytes text(const std::string& s) {
  return {s.begin(), s.end()};
}

bytes corpus_file(const std::string& name) {
  const auto path = std::filesystem::path(MOAT_TLS_FUZZ_CORPUS) / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

fuzz::tls_server_outcome feed(const bytes& input) {
  fuzz::tls_server_outcome out;
  std::string why;
  EXPECT_TRUE(fuzz::tls_server_engine_check(input, &out, &why)) << why;
  return out;
}

TEST(PeerErrors, AnHttpRequestToATlsServerIsAnUnexpectedMessage) {
  const auto r = feed(text("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  EXPECT_EQ(r.error.category(), category()) << r.error.category().name();
  EXPECT_EQ(reason_name(r.error), "unexpected_message");
  EXPECT_EQ(r.alert_sent, 10);  // unexpected_message
}

TEST(PeerErrors, RandomBytesNeverYieldAReasonNamedByTheTlsLibrary) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    bytes input(1 + rng() % 600);
    for (auto& b : input) b = static_cast<std::uint8_t>(rng());
    if (i % 2 == 0) input[0] = 0x16;  // half of them look like a handshake record
    if (i % 4 == 0 && input.size() > 2) input[1] = 0x03;
    const auto r = feed(input);
    EXPECT_TRUE(r.error) << "input " << i;
    EXPECT_FALSE(names_the_library(reason_name(r.error)))
        << "input " << i << ": " << reason_name(r.error);
  }
}

TEST(PeerErrors, EachMalformedOrUnacceptableClientHelloHasItsOwnReason) {
  struct row {
    const char* file;
    const char* reason;
    std::uint8_t alert;
  };
  for (const row& c : {
           row{"http-request", "unexpected_message", 10},
           row{"appdata-before-handshake", "unexpected_message", 10},
           row{"record-overflow-header", "record_overflow", 22},
           // A ClientHello whose cipher_suites length runs past its end.
           row{"bad-cipher-suites-length", "decode_error", 50},
           // Half a ClientHello, then the end of the stream: cut short, not malformed.
           row{"truncated-clienthello", "truncated", 50},
           row{"openssl-cbc-only-clienthello", "no_shared_cipher", 40},
           row{"openssl-ffdhe-only-clienthello", "no_shared_group", 40},
           row{"openssl-tls10-clienthello", "unsupported_version", 70},
           row{"openssl-fallback-scsv-clienthello", "inappropriate_fallback", 86},
           // Half a ClientHello, then an alert record saying close_notify (found by fuzzing).
           row{"close-notify-inside-a-fragmented-clienthello", "closed", 80},
           // A close_notify alert record (any level) after part of a ClientHello: alert
           // number 0 once made an error_code that reads as success (found by fuzzing).
           row{"close-notify-alert-during-the-handshake", "closed", 0},
           // A ClientHello, then a record that does not decrypt but ends like a plaintext
           // close_notify alert, which the engine reports as what the peer said (found by
           // fuzzing: alert number 0 again read as success).
           row{"clienthello-then-bytes-that-look-like-a-plaintext-close-notify", "closed", 0},
       }) {
    SCOPED_TRACE(c.file);
    const auto r = feed(corpus_file(c.file));
    EXPECT_EQ(reason_name(r.error), c.reason) << format_error(r.error);
    EXPECT_EQ(r.error.category(), category()) << r.error.category().name();
    EXPECT_EQ(int{r.alert_sent}, int{c.alert});
  }
}

TEST(PeerErrors, AValidClientHelloIsAnsweredAndTheEndOfTheStreamIsATruncation) {
  for (const char* file : {"openssl-tls13-clienthello", "openssl-tls12-clienthello",
                           "gnutls-cli-tls13-clienthello", "gnutls-cli-tls12-clienthello"}) {
    SCOPED_TRACE(file);
    const auto r = feed(corpus_file(file));
    EXPECT_GT(r.output_bytes, 100U);  // ServerHello and the rest of the server's flight
    EXPECT_EQ(reason_name(r.error), "truncated") << format_error(r.error);
    EXPECT_FALSE(r.handshake_done);
  }
}

// Every error the TLS library reports for something a peer sent (its parsers, its checks of
// the peer's choices and certificates) becomes a moat reason where the engine builds its error.
TEST(PeerErrors, EveryLibraryErrorAPeerCanProvokeHasAMoatReason) {
  struct row {
    int library;
    errc reason;
  };
  for (const row& r : {
           row{GNUTLS_E_UNEXPECTED_PACKET, errc::unexpected_message},
           row{GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET, errc::unexpected_message},
           row{GNUTLS_E_GOT_APPLICATION_DATA, errc::unexpected_message},
           row{GNUTLS_E_TOO_MANY_EMPTY_PACKETS, errc::unexpected_message},
           row{GNUTLS_E_TOO_MANY_HANDSHAKE_PACKETS, errc::unexpected_message},
           row{GNUTLS_E_DECRYPTION_FAILED, errc::bad_record_mac},
           row{GNUTLS_E_RECORD_OVERFLOW, errc::record_overflow},
           row{GNUTLS_E_UNEXPECTED_PACKET_LENGTH, errc::decode_error},
           row{GNUTLS_E_UNEXPECTED_EXTENSIONS_LENGTH, errc::decode_error},
           row{GNUTLS_E_HANDSHAKE_TOO_LARGE, errc::decode_error},
           row{GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER, errc::illegal_parameter},
           row{GNUTLS_E_ILLEGAL_PARAMETER, errc::illegal_parameter},
           row{GNUTLS_E_RECEIVED_DISALLOWED_NAME, errc::sni_not_a_host_name},
           row{GNUTLS_E_PK_INVALID_PUBKEY, errc::illegal_parameter},
           row{GNUTLS_E_PK_INVALID_PUBKEY_PARAMS, errc::illegal_parameter},
           row{GNUTLS_E_INCOMPATIBLE_SIG_WITH_KEY, errc::illegal_parameter},
           row{GNUTLS_E_UNKNOWN_CIPHER_SUITE, errc::illegal_parameter},
           row{GNUTLS_E_UNWANTED_ALGORITHM, errc::illegal_parameter},
           row{GNUTLS_E_MPI_SCAN_FAILED, errc::illegal_parameter},
           row{GNUTLS_E_PK_SIG_VERIFY_FAILED, errc::decrypt_error},
           row{GNUTLS_E_ERROR_IN_FINISHED_PACKET, errc::decrypt_error},
           row{GNUTLS_E_RECEIVED_ILLEGAL_EXTENSION, errc::unsupported_extension},
           row{GNUTLS_E_MISSING_EXTENSION, errc::missing_extension},
           row{GNUTLS_E_NO_CIPHER_SUITES, errc::no_shared_cipher},
           row{GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM, errc::no_shared_cipher},
           row{GNUTLS_E_INSUFFICIENT_CREDENTIALS, errc::no_shared_cipher},
           row{GNUTLS_E_NO_COMMON_KEY_SHARE, errc::no_shared_group},
           row{GNUTLS_E_ECC_NO_SUPPORTED_CURVES, errc::no_shared_group},
           row{GNUTLS_E_ECC_UNSUPPORTED_CURVE, errc::no_shared_group},
           row{GNUTLS_E_INSUFFICIENT_SECURITY, errc::insufficient_security},
           row{GNUTLS_E_DH_PRIME_UNACCEPTABLE, errc::insufficient_security},
           row{GNUTLS_E_INAPPROPRIATE_FALLBACK, errc::inappropriate_fallback},
           row{GNUTLS_E_UNSUPPORTED_VERSION_PACKET, errc::unsupported_version},
           row{GNUTLS_E_CERTIFICATE_ERROR, errc::malformed_certificate},
           row{GNUTLS_E_ASN1_DER_ERROR, errc::malformed_certificate},
           row{GNUTLS_E_ASN1_TAG_ERROR, errc::malformed_certificate},
           row{GNUTLS_E_CERTIFICATE_TIME_ERROR, errc::malformed_certificate},
           row{GNUTLS_E_UNSUPPORTED_CERTIFICATE_TYPE, errc::unsupported_certificate},
           row{GNUTLS_E_UNKNOWN_PK_ALGORITHM, errc::unsupported_certificate},
           row{GNUTLS_E_X509_UNSUPPORTED_CRITICAL_EXTENSION, errc::unsupported_certificate},
           row{GNUTLS_E_KEY_USAGE_VIOLATION, errc::invalid_key_usage},
           row{GNUTLS_E_SAFE_RENEGOTIATION_FAILED, errc::handshake_failure},
           row{GNUTLS_E_UNSAFE_RENEGOTIATION_DENIED, errc::handshake_failure},
           row{GNUTLS_E_NO_COMPRESSION_ALGORITHMS, errc::handshake_failure},
           row{GNUTLS_E_UNKNOWN_COMPRESSION_ALGORITHM, errc::handshake_failure},
           row{GNUTLS_E_NO_CERTIFICATE_FOUND, errc::no_peer_certificate},
           row{GNUTLS_E_CERTIFICATE_REQUIRED, errc::no_peer_certificate},
           row{GNUTLS_E_NO_APPLICATION_PROTOCOL, errc::no_application_protocol},
           row{GNUTLS_E_UNRECOGNIZED_NAME, errc::unrecognized_name},
           row{GNUTLS_E_PREMATURE_TERMINATION, errc::truncated},
           row{GNUTLS_E_SESSION_EOF, errc::closed},
           row{GNUTLS_E_INTERNAL_ERROR, errc::internal_error},
       }) {
    const std::error_code ec = detail::make_gnutls_error(r.library);
    EXPECT_EQ(ec, std::error_code(r.reason))
        << gnutls_strerror_name(r.library) << " -> " << ec.category().name() << ":" << ec.value();
    EXPECT_FALSE(names_the_library(reason_name(ec))) << reason_name(ec);
  }
}

TEST(PeerErrors, ARecordCutShortByTheEndOfTheStreamIsATruncationNotADecodeError) {
  EXPECT_EQ(detail::make_gnutls_error(GNUTLS_E_UNEXPECTED_PACKET_LENGTH, nullptr, true),
            std::error_code(errc::truncated));
  EXPECT_EQ(detail::make_gnutls_error(GNUTLS_E_UNEXPECTED_PACKET_LENGTH, nullptr, false),
            std::error_code(errc::decode_error));
}

TEST(PeerErrors, OnlyLocalFailuresStayInTheEngineCategory) {
  for (int rc : {GNUTLS_E_MEMORY_ERROR, GNUTLS_E_INVALID_REQUEST, GNUTLS_E_RANDOM_FAILED}) {
    const std::error_code ec = detail::make_gnutls_error(rc);
    EXPECT_EQ(ec, std::error_code(rc, engine_category()));
    EXPECT_EQ(reason_name(ec), "tls_error");
    EXPECT_NE(format_error(ec).find(gnutls_strerror_name(rc)), std::string::npos)
        << format_error(ec);
  }
}

// The defect as it was seen: `moat serve` logged GNUTLS_E_UNEXPECTED_PACKET for an HTTP
// request sent to its TLS port. Here a real server socket handshakes with a plain TCP client.
TEST(PeerErrors, ARealServerSocketNamesAPlainHttpClientsFailureWithAMoatReason) {
  asio::io_context io;
  const context& sctx = fuzz::tls_fuzz_server_context();
  auto ls =
      listen_socket::listen(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0}, sctx);
  const auto endpoint = ls.local_endpoint();
  // The client runs on its own thread with blocking calls; it sends the request, then reads
  // whatever the server answers until the server closes.
  bytes answer;
  std::thread client([&] {
    asio::io_context cio;
    asio::ip::tcp::socket s(cio);
    s.connect(endpoint);
    asio::write(s, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")));
    boost::system::error_code ec;
    std::array<std::uint8_t, 512> buf{};
    for (;;) {
      const std::size_t n = s.read_some(asio::buffer(buf), ec);
      answer.insert(answer.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      if (ec) break;
    }
  });
  const auto ec = test::run(io, [&]() -> asio::awaitable<std::error_code> {
    auto s = co_await ls.transport_accept();
    if (!s) co_return s.error();
    co_return co_await s->handshake(5s);
  }());
  client.join();
  EXPECT_EQ(reason_name(ec), "unexpected_message") << format_error(ec);
  EXPECT_FALSE(names_the_library(reason_name(ec))) << reason_name(ec);
  EXPECT_EQ(ec, std::errc::protocol_error) << ec.message();
  // The client got a fatal unexpected_message alert: 15 03 0x 00 02 02 0a.
  ASSERT_GE(answer.size(), 7U);
  EXPECT_EQ(answer[0], 0x15);
  EXPECT_EQ(answer[5], 2);
  EXPECT_EQ(answer[6], 10);
}

}  // namespace
}  // namespace moat::tls
