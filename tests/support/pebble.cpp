#include "support/pebble.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace moat::test {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Every variable Pebble 2.4.0 reads: unset first so that the caller's environment cannot
// change a test's Pebble.
constexpr const char* pebble_env_vars[] = {
    "PEBBLE_VA_NOSLEEP",      "PEBBLE_VA_SLEEPTIME", "PEBBLE_VA_ALWAYS_VALID",
    "PEBBLE_WFE_NONCEREJECT", "PEBBLE_AUTHZREUSE",   "PEBBLE_WFE_ORDERS_PER_PAGE",
    "PEBBLE_ALTERNATE_ROOTS", "PEBBLE_CHAIN_LENGTH",
};

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::chrono::milliseconds left(clock_type::time_point deadline) {
  const auto d =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  return std::max(d, std::chrono::milliseconds(0));
}

// Whether a UDP socket is bound to 127.0.0.1:port (the mock DNS server's UDP side, which a
// TCP connect cannot probe).
bool udp_bound(unsigned short port) {
  std::ifstream f("/proc/net/udp");
  std::string line;
  char want[16];
  std::snprintf(want, sizeof want, "0100007F:%04X", static_cast<unsigned>(port));
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string slot;
    std::string local;
    if (in >> slot >> local && local == want) return true;
  }
  return false;
}

// A free port that is none of `taken` (two picks in a row may return the same port), added to
// `taken`.
unsigned short another_free_port(std::vector<unsigned short>& taken) {
  for (;;) {
    const auto p = free_port();
    if (std::find(taken.begin(), taken.end(), p) == taken.end()) {
      taken.push_back(p);
      return p;
    }
  }
}

bool port_in_use_failure(const std::string& log) {
  return log.find("address already in use") != std::string::npos;
}

http_reply run_curl(std::vector<std::string> args, const std::string& url) {
  temp_dir tmp;
  const auto headers = tmp / "headers";
  const auto body = tmp / "body";
  std::vector<std::string> argv = {"curl",           "-sS", "--max-time", "15", "-D",
                                   headers.string(), "-o",  body.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  child_process curl(argv);
  const auto rc = curl.wait(30s);
  if (!rc) throw std::runtime_error("curl " + url + " did not finish");
  if (*rc != 0) {
    throw std::runtime_error("curl " + url + " failed (exit " + std::to_string(*rc) +
                             "): " + curl.output());
  }
  http_reply r;
  r.headers = read_file(headers);
  r.body = read_file(body);
  std::istringstream in(r.headers);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("HTTP/", 0) == 0) {
      const auto sp = line.find(' ');
      if (sp != std::string::npos) r.status = std::atoi(line.c_str() + sp + 1);
    }
  }
  return r;
}

}  // namespace

std::vector<std::string> http_reply::header_values(const std::string& name) const {
  std::vector<std::string> out;
  const std::string want = lower(name) + ":";
  std::istringstream in(headers);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lower(line.substr(0, want.size())) != want) continue;
    auto v = line.substr(want.size());
    v.erase(0, v.find_first_not_of(' '));
    out.push_back(v);
  }
  return out;
}

http_reply curl_get(const std::string& url, const std::filesystem::path& cafile) {
  std::vector<std::string> args;
  if (!cafile.empty()) args = {"--cacert", cafile.string()};
  return run_curl(args, url);
}

http_reply curl_post(const std::string& url, const std::string& body,
                     const std::filesystem::path& cafile) {
  std::vector<std::string> args = {"-H", "Content-Type: application/json", "--data-binary", body};
  if (!cafile.empty()) {
    args.push_back("--cacert");
    args.push_back(cafile.string());
  }
  return run_curl(args, url);
}

bool pebble::available() {
  return have_program("pebble") && have_program("pebble-challtestsrv") && have_program("curl");
}

pebble::pebble(pebble_options opts) : opts_(std::move(opts)) {
  if (opts_.chain_length < 1) {
    throw std::invalid_argument("pebble: chain_length must be at least 1 (Pebble 2.4.0 panics)");
  }
  if (opts_.alternate_roots < 0) throw std::invalid_argument("pebble: alternate_roots < 0");
  if (opts_.host != "localhost" && opts_.host != "127.0.0.1") {
    throw std::invalid_argument("pebble: host must be localhost or 127.0.0.1");
  }
  ca_ = std::make_unique<test_ca>(dir_ / "ca", pki::key_type::ecdsa_p256, "moat test CA (Pebble)");
  auto leaf = ca_->issue("localhost", pki::key_type::ecdsa_p256,
                         {"DNS:localhost", "IP:127.0.0.1", "IP:::1"});
  certfile_ = leaf.certfile;
  keyfile_ = leaf.keyfile;
  if (opts_.http_port != 0) ports_.push_back(opts_.http_port);
  if (opts_.tls_port != 0) ports_.push_back(opts_.tls_port);
  http_port_ = opts_.http_port != 0 ? opts_.http_port : another_free_port(ports_);
  tls_port_ = opts_.tls_port != 0 ? opts_.tls_port : another_free_port(ports_);

  // The ports are free when picked but another process may take one before the server binds
  // it: a start that fails on "address already in use" is tried again on new ports.
  std::string why;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (opts_.mock_dns && !start_dns(why)) continue;
    if (start_pebble(why)) return;
  }
  throw std::runtime_error("pebble: " + why + "\n" + log());
}

pebble::~pebble() = default;

bool pebble::start_dns(std::string& why) {
  dns_port_ = another_free_port(ports_);
  dns_management_port_ = another_free_port(ports_);
  const std::string dns_addr = "127.0.0.1:" + std::to_string(dns_port_);
  dns_ = std::make_unique<child_process>(std::vector<std::string>{
      "pebble-challtestsrv", "-http01", "", "-https01", "", "-tlsalpn01", "", "-dns01", dns_addr,
      "-management", "127.0.0.1:" + std::to_string(dns_management_port_), "-defaultIPv4",
      "127.0.0.1", "-defaultIPv6", ""});
  const auto deadline = clock_type::now() + scaled(20s);
  if (dns_->wait_for_port(dns_management_port_, left(deadline)) &&
      dns_->wait_for_port(dns_port_, left(deadline))) {
    while (clock_type::now() < deadline) {
      if (udp_bound(dns_port_)) return true;
      if (dns_->wait(0ms)) break;
      std::this_thread::sleep_for(10ms);
    }
  }
  const auto out = dns_->output();
  if (dns_->wait(0ms) && port_in_use_failure(out)) {
    why = "pebble-challtestsrv could not bind its ports";
    return false;
  }
  throw std::runtime_error("pebble: pebble-challtestsrv did not come up on " + dns_addr + "\n" +
                           out);
}

bool pebble::start_pebble(std::string& why) {
  acme_port_ = another_free_port(ports_);
  management_port_ = another_free_port(ports_);

  std::ostringstream cfg;
  cfg << "{\n  \"pebble\": {\n"
      << "    \"listenAddress\": " << json_string("127.0.0.1:" + std::to_string(acme_port_))
      << ",\n"
      << "    \"managementListenAddress\": "
      << json_string("127.0.0.1:" + std::to_string(management_port_)) << ",\n"
      << "    \"certificate\": " << json_string(certfile_.string()) << ",\n"
      << "    \"privateKey\": " << json_string(keyfile_.string()) << ",\n"
      << "    \"httpPort\": " << http_port_ << ",\n"
      << "    \"tlsPort\": " << tls_port_ << ",\n"
      << "    \"ocspResponderURL\": " << json_string(opts_.ocsp_responder_url) << ",\n"
      << "    \"externalAccountBindingRequired\": " << (opts_.eab_required ? "true" : "false")
      << ",\n"
      << "    \"externalAccountMACKeys\": {";
  const char* sep = "";
  for (const auto& [kid, key] : opts_.eab_keys) {
    cfg << sep << json_string(kid) << ": " << json_string(key);
    sep = ", ";
  }
  cfg << "},\n    \"domainBlocklist\": [";
  sep = "";
  for (const auto& d : opts_.domain_blocklist) {
    cfg << sep << json_string(d);
    sep = ", ";
  }
  cfg << "],\n    \"certificateValidityPeriod\": " << opts_.certificate_validity_seconds
      << "\n  }\n}\n";
  const auto config = dir_ / "pebble-config.json";
  write_file(config, cfg.str());

  std::vector<std::string> argv = {"env"};
  for (const char* v : pebble_env_vars) {
    argv.emplace_back("-u");
    argv.emplace_back(v);
  }
  auto set = [&](const char* name, const std::string& value) {
    argv.push_back(std::string(name) + "=" + value);
  };
  if (opts_.nosleep) set("PEBBLE_VA_NOSLEEP", "1");
  if (!opts_.nosleep && opts_.va_sleep_seconds) {
    set("PEBBLE_VA_SLEEPTIME", std::to_string(*opts_.va_sleep_seconds));
  }
  if (opts_.always_valid) set("PEBBLE_VA_ALWAYS_VALID", "1");
  if (opts_.nonce_reject_percent) {
    set("PEBBLE_WFE_NONCEREJECT", std::to_string(*opts_.nonce_reject_percent));
  }
  if (opts_.authz_reuse_percent) {
    set("PEBBLE_AUTHZREUSE", std::to_string(*opts_.authz_reuse_percent));
  }
  if (opts_.orders_per_page) {
    set("PEBBLE_WFE_ORDERS_PER_PAGE", std::to_string(*opts_.orders_per_page));
  }
  set("PEBBLE_ALTERNATE_ROOTS", std::to_string(opts_.alternate_roots));
  set("PEBBLE_CHAIN_LENGTH", std::to_string(opts_.chain_length));
  argv.insert(argv.end(), {"pebble", "-config", config.string()});
  if (opts_.mock_dns) {
    argv.insert(argv.end(), {"-dnsserver", "127.0.0.1:" + std::to_string(dns_port_)});
  }
  if (opts_.strict) argv.emplace_back("-strict");

  process_ = std::make_unique<child_process>(argv, dir_.path());
  // Pebble makes its RSA issuing chains before it listens: ready once both listeners accept
  // and the directory answers over TLS with the listener certificate this CA issued.
  const auto deadline = clock_type::now() + scaled(30s);
  if (process_->wait_for_port(acme_port_, left(deadline)) &&
      process_->wait_for_port(management_port_, left(deadline))) {
    http_reply dir;
    try {
      dir = curl_get(directory_url(), ca_file());
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("pebble: ") + e.what() + "\n" + log());
    }
    if (dir.status == 200) return true;
    throw std::runtime_error("pebble: the directory answered " + std::to_string(dir.status) + ": " +
                             dir.body + "\n" + log());
  }
  if (process_->wait(0ms) && port_in_use_failure(process_->output())) {
    why = "pebble could not bind its ports";
    return false;
  }
  throw std::runtime_error("pebble: did not come up on 127.0.0.1:" + std::to_string(acme_port_) +
                           " and :" + std::to_string(management_port_) + "\n" + log());
}

std::string pebble::directory_url() const {
  return "https://" + opts_.host + ":" + std::to_string(acme_port_) + "/dir";
}

std::string pebble::management_url() const {
  return "https://127.0.0.1:" + std::to_string(management_port_);
}

http_reply pebble::management_get(const std::string& path) const {
  return curl_get(management_url() + path, ca_file());
}

pki::certificate pebble::fetch_cert(const std::string& path) const {
  const auto r = management_get(path);
  if (r.status != 200) {
    throw std::runtime_error("pebble: GET " + path + " answered " + std::to_string(r.status));
  }
  return pki::certificate::from_pem(r.body);
}

pki::certificate pebble::root(int n) const {
  return fetch_cert("/roots/" + std::to_string(n));
}

pki::certificate pebble::intermediate(int n) const {
  return fetch_cert("/intermediates/" + std::to_string(n));
}

std::vector<pki::certificate> pebble::roots() const {
  std::vector<pki::certificate> out;
  for (int i = 0; i <= opts_.alternate_roots; ++i) out.push_back(root(i));
  return out;
}

void pebble::dns_post(const std::string& endpoint, const std::string& json) {
  if (!dns_) throw std::logic_error("pebble: " + endpoint + " needs mock_dns");
  const auto r =
      curl_post("http://127.0.0.1:" + std::to_string(dns_management_port_) + endpoint, json);
  if (r.status != 200) {
    throw std::runtime_error("pebble-challtestsrv: " + endpoint + " answered " +
                             std::to_string(r.status) + ": " + r.body);
  }
}

void pebble::set_txt(const std::string& host, const std::string& value) {
  // challtestsrv keys its records by fully qualified name (with the final dot).
  const auto fqdn = host.ends_with('.') ? host : host + ".";
  dns_post("/set-txt", "{\"host\":" + json_string(fqdn) + ",\"value\":" + json_string(value) + "}");
}

void pebble::clear_txt(const std::string& host) {
  const auto fqdn = host.ends_with('.') ? host : host + ".";
  dns_post("/clear-txt", "{\"host\":" + json_string(fqdn) + "}");
}

std::string pebble::log() const {
  std::string out;
  if (process_) out += "--- pebble output ---\n" + process_->output();
  if (dns_) out += "--- pebble-challtestsrv output ---\n" + dns_->output();
  return out;
}

}  // namespace moat::test
