#include "cli/args.hpp"

#include <fmt/core.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <moat/error.hpp>
#include <moat/pki/errors.hpp>

namespace moat::cli {

host_port split_host_port(const std::string& text, const std::string& option,
                          bool allow_port_zero) {
  const std::string subject = fmt::format("{} '{}'", option, text);
  auto bad = [&](const char* why) {
    throw config_error(subject, std::make_error_code(std::errc::invalid_argument), why);
  };
  host_port r;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      bad("expected HOST:PORT or [IPv6]:PORT");
    }
    r.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) bad("expected HOST:PORT");
    r.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535 ||
      (value == 0 && !allow_port_zero)) {
    bad(allow_port_zero ? "the port must be a number from 0 to 65535"
                        : "the port must be a number from 1 to 65535");
  }
  r.port = static_cast<std::uint16_t>(value);
  return r;
}

std::string read_password_file(const std::string& path) {
  const std::string subject = "--password-file '" + path + "'";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int e = errno;
    throw config_error(subject, e == ENOENT ? pki::errc::file_missing : pki::errc::file_unreadable,
                       e == ENOENT ? std::string() : std::generic_category().message(e));
  }
  std::string text;
  char buf[512];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  const auto eol = text.find_first_of("\r\n");
  if (eol != std::string::npos) text.resize(eol);  // the first line is the password
  if (text.empty()) throw config_error(subject, pki::errc::file_empty);
  return text;
}

const std::vector<std::string>& key_type_names() {
  static const std::vector<std::string> names{"p256",    "p384",    "ed25519",
                                              "rsa2048", "rsa3072", "rsa4096"};
  return names;
}

pki::private_key generate_key(const std::string& name, const std::string& option) {
  if (name == "p256") return pki::private_key::generate(pki::key_type::ecdsa_p256);
  if (name == "p384") return pki::private_key::generate(pki::key_type::ecdsa_p384);
  if (name == "ed25519") return pki::private_key::generate(pki::key_type::ed25519);
  if (name == "rsa2048") return pki::private_key::generate(pki::key_type::rsa, 2048);
  if (name == "rsa3072") return pki::private_key::generate(pki::key_type::rsa, 3072);
  if (name == "rsa4096") return pki::private_key::generate(pki::key_type::rsa, 4096);
  throw config_error(option + " '" + name + "'", pki::errc::unsupported_key_type);
}

}  // namespace moat::cli
