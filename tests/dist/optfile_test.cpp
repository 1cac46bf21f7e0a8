// A node's TLS options from a file: Erlang's ssl_dist_optfile (the same file an Erlang node
// uses) and the same sections as TOML; every option mapped or refused by name.
#include <gtest/gtest.h>

#include <moat/dist/optfile.hpp>
#include <moat/error.hpp>

#include "dist/node_fixture.hpp"

namespace moat::dist {
namespace {

using namespace std::chrono_literals;

// What a reader says about `text`: "accepted", or the config_error's message.
template <class Read>
std::string verdict(Read read, std::string_view text) {
  try {
    (void)read(text, "/etc/app/opts");
    return "accepted";
  } catch (const config_error& e) {
    return e.what();
  }
}

std::string erlang_verdict(std::string_view text) {
  return verdict(parse_ssl_dist_optfile, text);
}
std::string toml_verdict(std::string_view text) {
  return verdict(parse_dist_tls_toml, text);
}

// A one-option server section.
std::string server_with(const std::string& option) {
  return "[{server, [" + option + "]}].";
}
std::string client_with(const std::string& option) {
  return "[{client, [" + option + "]}].";
}

TEST(Optfile, ReadsTheExampleOfTheCertificatesSection) {
  const auto o = parse_ssl_dist_optfile(R"([{server,
  [{certfile, "/etc/app/app1.pem"},
   {keyfile, "/etc/app/app1.key"},
   {cacertfile, "/etc/app/ca.pem"},
   {verify, verify_peer},
   {fail_if_no_peer_cert, true},
   {secure_renegotiate, true}]},
 {client,
  [{certfile, "/etc/app/app1.pem"},
   {keyfile, "/etc/app/app1.key"},
   {cacertfile, "/etc/app/ca.pem"},
   {verify, verify_peer},
   {secure_renegotiate, true}]}].
)",
                                        "ssl_dist.conf");
  for (const tls::options* side : {&o.server, &o.client}) {
    EXPECT_EQ(side->certfile, "/etc/app/app1.pem");
    EXPECT_EQ(side->keyfile, "/etc/app/app1.key");
    EXPECT_EQ(side->cacertfile, "/etc/app/ca.pem");
    EXPECT_EQ(side->verify, tls::verify_mode::peer);
  }
  EXPECT_TRUE(o.server.fail_if_no_peer_cert);
  EXPECT_FALSE(o.client.fail_if_no_peer_cert);
}

TEST(Optfile, MapsEveryOptionItKnows) {
  const auto o = parse_ssl_dist_optfile(R"([
 {server, [{certfile, <<"/c.pem">>}, {keyfile, "/k.pem"}, {password, "s3cret"},
           {cacertfile, "/ca.pem"}, {verify, verify_none}, {fail_if_no_peer_cert, false},
           {depth, 3}, {versions, ['tlsv1.3', 'tlsv1.2']},
           {ciphers, [#{key_exchange => any, cipher => aes_256_gcm, mac => aead, prf => sha384},
                      #{key_exchange => ecdhe_ecdsa, cipher => chacha20_poly1305, mac => aead,
                        prf => sha256},
                      {ecdhe_rsa, aes_128_gcm, aead, sha256}, {ecdhe_rsa, aes_256_gcm, aead}]},
           {supported_groups, [x25519, secp256r1]}, {eccs, [secp384r1, x25519]},
           {signature_algs, [ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256]},
           {reuse_sessions, false}, {honor_cipher_order, true}, {secure_renegotiate, true},
           {log_level, warning}]},
 {client, [{ciphers, ["TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"]},
           {server_name_indication, disable},
           {customize_hostname_check, [{match_fun, fun public_key:pkix_verify_hostname/3}]},
           {versions, ['tlsv1.2']}, {depth, 0}]}].
)",
                                        "x");
  EXPECT_EQ(o.server.certfile, "/c.pem");
  EXPECT_EQ(o.server.keyfile, "/k.pem");
  EXPECT_EQ(o.server.password.resolve(), "s3cret");
  EXPECT_EQ(o.server.cacertfile, "/ca.pem");
  EXPECT_EQ(o.server.verify, tls::verify_mode::none);
  EXPECT_FALSE(o.server.fail_if_no_peer_cert);
  EXPECT_EQ(o.server.depth, 3U);
  EXPECT_EQ(o.server.versions, (std::vector{tls::version::tls1_3, tls::version::tls1_2}));
  EXPECT_EQ(o.server.ciphers,
            (std::vector<std::string>{
                "TLS_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}));
  EXPECT_EQ(o.server.groups, (std::vector<std::string>{"x25519", "secp256r1", "secp384r1"}));
  EXPECT_EQ(o.server.signature_algs,
            (std::vector<std::string>{"ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256"}));
  EXPECT_FALSE(o.server.reuse_sessions);
  EXPECT_EQ(o.client.ciphers,
            (std::vector<std::string>{"TLS_AES_128_GCM_SHA256",
                                      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}));
  EXPECT_EQ(o.client.versions, std::vector{tls::version::tls1_2});
  EXPECT_EQ(o.client.depth, 0U);
  // The name checks stay moat's: nothing of the client's name options lands in tls::options.
  EXPECT_TRUE(o.client.server_name_indication.empty());
  EXPECT_FALSE(o.client.disable_sni);
  EXPECT_FALSE(o.client.insecure_skip_hostname_check);
}

TEST(Optfile, TakesCiphersAsOneOpensslString) {
  const auto o = parse_ssl_dist_optfile(
      server_with(R"({ciphers, "ECDHE-RSA-AES128-GCM-SHA256:TLS_CHACHA20_POLY1305_SHA256"})"), "x");
  EXPECT_EQ(o.server.ciphers, (std::vector<std::string>{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                                        "TLS_CHACHA20_POLY1305_SHA256"}));
}

TEST(Optfile, LeavesASectionTheFileOmitsAtItsDefaults) {
  const auto o = parse_ssl_dist_optfile("[{server, [{certfile, \"/c.pem\"}]}].", "x");
  EXPECT_TRUE(o.client.certfile.empty());
  EXPECT_FALSE(o.client.verify.has_value());
}

struct refusal {
  std::string text;
  std::vector<std::string> says;  // fragments the message must hold
};

TEST(Optfile, RefusesWhatItCannotMapNamingTheFileTheOptionAndTheReason) {
  const std::vector<refusal> cases{
      {server_with("{verify_fun, {fun mymod:verify/3, []}}"),
       {"server: verify_fun", "cannot run an Erlang fun"}},
      {server_with("{cert, <<1,2,3>>}"), {"server: cert", "certfile"}},
      {server_with("{key, {'ECPrivateKey', <<1>>}}"), {"server: key", "keyfile"}},
      {server_with("{cacerts, [<<1>>]}"), {"server: cacerts", "cacertfile"}},
      {server_with("{crl_check, true}"), {"server: crl_check", "not an option moat maps"}},
      {server_with("{versions, ['tlsv1.1']}"), {"server: versions 'tlsv1.1'", "RFC 8996"}},
      {server_with("{versions, []}"), {"server: versions", "empty list"}},
      {server_with("{ciphers, [\"AES128-SHA\"]}"), {"server: ciphers 'AES128-SHA'", "AEAD"}},
      {server_with("{ciphers, [#{key_exchange => rsa, cipher => aes_128_gcm, mac => aead, "
                   "prf => sha256}]}"),
       {"server: ciphers rsa/aes_128_gcm", "key exchange rsa"}},
      {server_with("{ciphers, [{ecdhe_ecdsa, aes_128_cbc, sha256}]}"),
       {"server: ciphers", "cipher aes_128_cbc"}},
      {server_with("{ciphers, [#{key_exchange => any, cipher => aes_128_gcm, mac => aead, "
                   "prf => sha384}]}"),
       {"server: ciphers", "prf sha384 does not go with aes_128_gcm"}},
      {server_with("{ciphers, [{aes}]}"), {"server: ciphers", "expected a list of cipher suites"}},
      {server_with("{verify, maybe}"), {"server: verify", "verify_peer or verify_none", "maybe"}},
      {server_with("{depth, 1000}"), {"server: depth", "from 0 to 100", "1000"}},
      {server_with("{depth, \"3\"}"), {"server: depth", "a whole number"}},
      {server_with("{certfile, \"\"}"), {"server: certfile", "empty file name"}},
      {server_with("{certfile, foo}"), {"server: certfile", "a string"}},
      {server_with("{password, 42}"), {"server: password", "a string"}},
      {server_with("{password, fun secrets:dist/0}"), {"server: password", "fun"}},
      {server_with("{reuse_sessions, yes}"), {"server: reuse_sessions", "true or false"}},
      {server_with("{depth, 1}, {depth, 2}"), {"server: depth", "given twice"}},
      {server_with("{server_name_indication, \"x\"}"),
       {"server: server_name_indication", "a client option"}},
      {client_with("{fail_if_no_peer_cert, true}"),
       {"client: fail_if_no_peer_cert", "a server option"}},
      {client_with("{customize_hostname_check, [{match_fun, fun(_, _) -> default end}]}"),
       {"ssl_dist_optfile '/etc/app/opts'", "line 1", "a fun"}},
      {server_with("certfile"), {"server", "{Option, Value}"}},
      {"[{server, [{certfile, \"/c\"}]}, {other, []}].", {"{server, [...]} or {client, [...]}"}},
      {"[{server, []}, {server, []}].", {"server", "given twice"}},
      {"{server, []}.", {"[{server, [Options]}, {client, [Options]}]"}},
      {"[]. [].", {"got 2 terms"}},
      {"[{server, [{certfile, \"/c\"}]}", {"line 1", "column"}},
  };
  for (const auto& c : cases) {
    const std::string msg = erlang_verdict(c.text);
    EXPECT_NE(msg.find("ssl_dist_optfile '/etc/app/opts'"), std::string::npos) << c.text << msg;
    for (const auto& s : c.says) EXPECT_NE(msg.find(s), std::string::npos) << c.text << "\n" << msg;
  }
}

TEST(Optfile, NeverShowsThePasswordInAnError) {
  const std::string msg = erlang_verdict(server_with("{password, 's3cret-atom'}"));
  EXPECT_NE(msg.find("server: password"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("s3cret"), std::string::npos) << msg;
  const std::string t = toml_verdict("[server]\npassword = 17\n");
  EXPECT_NE(t.find("server.password"), std::string::npos) << t;
}

TEST(Optfile, SaysWhenTheFileIsMissing) {
  try {
    (void)read_ssl_dist_optfile("/nonexistent/ssl_dist.conf");
    FAIL() << "read a missing file";
  } catch (const config_error& e) {
    EXPECT_EQ(e.subject(), "ssl_dist_optfile '/nonexistent/ssl_dist.conf'");
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
  try {
    (void)read_dist_tls_toml("/nonexistent/dist.toml");
    FAIL() << "read a missing file";
  } catch (const config_error& e) {
    EXPECT_EQ(e.subject(), "config '/nonexistent/dist.toml'");
  }
}

TEST(OptfileToml, MapsTheSameOptionsUnderTheirTlsOptionsNames) {
  const auto o = parse_dist_tls_toml(R"(
[server]
certfile = "/c.pem"
keyfile = "/k.pem"
password = "s3cret"
cacertfile = "/ca.pem"
verify = "peer"
fail_if_no_peer_cert = true
depth = 4
versions = ["tlsv1.2", "1.3"]
ciphers = ["TLS_AES_128_GCM_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "AES-256-GCM"]
groups = ["x25519"]
signature_algs = "ed25519"
reuse_sessions = false

[client]
verify = "none"
versions = "tlsv1.3"
)",
                                     "x.toml");
  EXPECT_EQ(o.server.certfile, "/c.pem");
  EXPECT_EQ(o.server.keyfile, "/k.pem");
  EXPECT_EQ(o.server.password.resolve(), "s3cret");
  EXPECT_EQ(o.server.cacertfile, "/ca.pem");
  EXPECT_EQ(o.server.verify, tls::verify_mode::peer);
  EXPECT_TRUE(o.server.fail_if_no_peer_cert);
  EXPECT_EQ(o.server.depth, 4U);
  // A set, newest first whatever the order given.
  EXPECT_EQ(o.server.versions, (std::vector{tls::version::tls1_3, tls::version::tls1_2}));
  EXPECT_EQ(o.server.ciphers, (std::vector<std::string>{
                                  "TLS_AES_128_GCM_SHA256",
                                  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "AES-256-GCM"}));
  EXPECT_EQ(o.server.groups, std::vector<std::string>{"x25519"});
  EXPECT_EQ(o.server.signature_algs, std::vector<std::string>{"ed25519"});
  EXPECT_FALSE(o.server.reuse_sessions);
  EXPECT_EQ(o.client.verify, tls::verify_mode::none);
  EXPECT_EQ(o.client.versions, std::vector{tls::version::tls1_3});
}

TEST(OptfileToml, RefusesWhatItCannotMapNamingTheFileTheKeyAndTheReason) {
  const std::vector<refusal> cases{
      {"[server]\nverify_fun = \"x\"\n", {"server.verify_fun", "unknown option", "certfile"}},
      {"[server]\nsecure_renegotiate = true\n", {"server.secure_renegotiate", "unknown option"}},
      {"[other]\ncertfile = \"/c\"\n", {": other", "unknown section"}},
      {"certfile = \"/c\"\n", {": certfile", "unknown section"}},
      {"[server]\nverify = \"maybe\"\n", {"server.verify", "'peer' or 'none'", "'maybe'"}},
      {"[server]\ndepth = -1\n", {"server.depth", "from 0 to 100"}},
      {"[server]\ndepth = 1.5\n", {"server.depth", "a whole number", "1.5"}},
      {"[server]\ncertfile = 3\n", {"server.certfile", "a string", "3"}},
      {"[server]\nversions = [\"tlsv1\"]\n", {"server.versions 'tlsv1'", "RFC 8996"}},
      {"[server]\nciphers = [\"TLS_RSA_WITH_AES_128_CBC_SHA\"]\n",
       {"server.ciphers 'TLS_RSA_WITH_AES_128_CBC_SHA'", "AEAD"}},
      {"[server]\nciphers = [1]\n", {"server.ciphers", "an array of strings"}},
      {"[client]\nfail_if_no_peer_cert = true\n", {"client.fail_if_no_peer_cert", "server option"}},
      {"[server]\ncertfile = \n", {"line 2", "column"}},
  };
  for (const auto& c : cases) {
    const std::string msg = toml_verdict(c.text);
    EXPECT_NE(msg.find("config '/etc/app/opts'"), std::string::npos) << c.text << msg;
    for (const auto& s : c.says) EXPECT_NE(msg.find(s), std::string::npos) << c.text << "\n" << msg;
  }
}

// The same optfile for an Erlang node and a moat node: they ping each other.
TEST(OptfileInterop, AnErlangNodeAndAMoatNodeShareOneOptfileAndPingEachOther) {
  if (!test::have_program("erl")) GTEST_SKIP() << "no erl";
  testing::cluster c;
  auto files = c.files();
  files.versions = {"tlsv1.2", "tlsv1.3"};
  files.extra_server =
      "{ciphers, [#{key_exchange => any, cipher => aes_128_gcm, mac => aead, prf => sha256}, "
      "#{key_exchange => ecdhe_ecdsa, cipher => aes_256_gcm, mac => aead, prf => sha384}]}, "
      "{honor_cipher_order, true}, {depth, 5}";
  files.extra_client = "{reuse_sessions, true}, {server_name_indication, disable}";
  const auto optfile = c.dir / "ssl_dist.conf";
  test::write_dist_optfile(optfile, files);

  test::erlang_node erl({.name = "a", .optfile = optfile, .epmd_port = c.epmd.port()});
  const auto tls = read_ssl_dist_optfile(optfile);
  auto o = c.moat_options("m", files);
  o.server = tls.server;
  o.client = tls.client;
  EXPECT_EQ(tls.server.depth, 5U);
  EXPECT_EQ(tls.server.versions, (std::vector{tls::version::tls1_3, tls::version::tls1_2}));
  node moat(o);
  ASSERT_TRUE(erl.wait_ready()) << erl.output();
  EXPECT_TRUE(moat.ping("a@localhost")) << erl.output();
  EXPECT_EQ(erl.eval("net_adm:ping('m@localhost')"), "pong") << erl.output();
  EXPECT_EQ(erl.eval("nodes()"), "[m@localhost]");
}

}  // namespace
}  // namespace moat::dist
