#include "support/erlang_node.hpp"

#include <signal.h>

#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace moat::test {

namespace {

using namespace std::chrono_literals;

bool allows_tls12(const std::vector<std::string>& versions) {
  if (versions.empty()) return true;
  for (const auto& v : versions) {
    if (v != "tlsv1.3") return true;
  }
  return false;
}

std::string versions_term(const std::vector<std::string>& versions) {
  std::string s = "{versions, [";
  for (std::size_t i = 0; i < versions.size(); ++i) {
    s += (i == 0 ? "'" : ", '") + versions[i] + "'";
  }
  return s + "]}";
}

// Accepts an iPAddress SAN equal to a host given as an address: Erlang's client checks the
// host part of the node name as a DNS name (dns_id), which never matches an IP SAN.
constexpr const char* match_ip_fun =
    "{customize_hostname_check, [{match_fun,\n"
    "     fun({dns_id, Host}, {iPAddress, Bytes}) ->\n"
    "             case inet:parse_address(Host) of\n"
    "                 {ok, {_, _, _, _} = A} -> tuple_to_list(A) =:= Bytes;\n"
    "                 {ok, A} -> << <<W:16>> || W <- tuple_to_list(A) >> =:= "
    "list_to_binary(Bytes);\n"
    "                 _ -> default\n"
    "             end;\n"
    "        (_, _) -> default\n"
    "     end}]}";

std::string side_options(const dist_tls_files& f, bool server) {
  std::vector<std::string> opts{
      "{certfile, " + erlang_string(f.certfile.string()) + "}",
      "{keyfile, " + erlang_string(f.keyfile.string()) + "}",
      "{cacertfile, " + erlang_string(f.cacertfile.string()) + "}",
      f.verify_peer ? "{verify, verify_peer}" : "{verify, verify_none}",
  };
  if (server && f.verify_peer) opts.emplace_back("{fail_if_no_peer_cert, true}");
  if (allows_tls12(f.versions)) opts.emplace_back("{secure_renegotiate, true}");
  if (!f.versions.empty()) opts.push_back(versions_term(f.versions));
  if (!server && f.match_ip_addresses) opts.emplace_back(match_ip_fun);
  const std::string& extra = server ? f.extra_server : f.extra_client;
  if (!extra.empty()) opts.push_back(extra);
  std::string s = "[";
  for (std::size_t i = 0; i < opts.size(); ++i) {
    s += (i == 0 ? "" : ",\n   ") + opts[i];
  }
  return s + "]";
}

std::string hex_decode(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

std::string erlang_string(const std::string& s) {
  std::string r = "\"";
  for (const char c : s) {
    if (c == '\n') {
      r += "\\n";
    } else if (c == '\r') {
      r += "\\r";
    } else {
      if (c == '"' || c == '\\') r += '\\';
      r += c;
    }
  }
  return r + "\"";
}

std::string dist_optfile_text(const dist_tls_files& f) {
  return "[{server,\n  " + side_options(f, true) + "},\n {client,\n  " + side_options(f, false) +
         "}].\n";
}

void write_dist_optfile(const std::filesystem::path& path, const dist_tls_files& f) {
  write_file(path, dist_optfile_text(f));
}

const std::filesystem::path& erlang_helper_ebin() {
  static std::mutex mutex;
  static std::optional<temp_dir> dir;
  const std::lock_guard lock(mutex);
  if (!dir) {
    dir.emplace();
    const auto src = source_dir() / "tests" / "support" / "erlang";
    auto r = run_process({"erlc", "-o", dir->path().string(), (src / "moat_test_ctl.erl").string(),
                          (src / "erl_echo.erl").string(), (src / "test_inbox.erl").string()});
    if (r.status != 0) {
      dir.reset();
      throw std::runtime_error("erlc failed on " + src.string() + ":\n" + r.output);
    }
  }
  return dir->path();
}

epmd::epmd() {
  for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
    port_ = free_port();
    auto p = std::make_unique<child_process>(
        std::vector<std::string>{"epmd", "-port", std::to_string(port_)});
    if (p->wait_for_port(port_, scaled(std::chrono::milliseconds(5s)))) process_ = std::move(p);
  }
  if (!process_) throw std::runtime_error("epmd did not start");
}

std::string epmd::names() const {
  return run_process({"epmd", "-port", std::to_string(port_), "-names"}).output;
}

erlang_node::erlang_node(erlang_node_options o) : dir_(std::make_unique<temp_dir>()) {
  // A write to the standard input of a node that died must fail, not kill the test.
  ::signal(SIGPIPE, SIG_IGN);
  const bool v6 = o.proto == dist_proto::tcp6 || o.proto == dist_proto::tls6;
  const bool tls = o.proto == dist_proto::tls || o.proto == dist_proto::tls6;
  if (o.name.empty()) throw std::invalid_argument("erlang_node: no name");
  node_name_ = o.name;
  if (node_name_.find('@') == std::string::npos) {
    node_name_ += o.long_names ? (v6 ? "@::1" : "@127.0.0.1") : "@localhost";
  }
  std::vector<std::string> erl_args{"-start_epmd", "false"};
  if (o.epmd_port != 0) {
    erl_args.insert(erl_args.end(), {"-epmd_port", std::to_string(o.epmd_port)});
  }
  static constexpr const char* protos[] = {"inet_tcp", "inet6_tcp", "inet_tls", "inet6_tls"};
  if (o.proto != dist_proto::tcp) {
    erl_args.insert(erl_args.end(), {"-proto_dist", protos[static_cast<std::size_t>(o.proto)]});
  }
  if (tls) {
    optfile_ = o.optfile;
    if (optfile_.empty()) {
      if (!o.tls) throw std::invalid_argument("erlang_node: TLS without optfile or tls files");
      optfile_ = dir_->path() / "ssl_dist.conf";
      write_dist_optfile(optfile_, *o.tls);
    }
    erl_args.insert(erl_args.end(), {"-ssl_dist_optfile", optfile_.string()});
  }
  if (o.net_ticktime > 0) {
    erl_args.insert(erl_args.end(), {"-kernel", "net_ticktime", std::to_string(o.net_ticktime)});
  }
  erl_args.insert(erl_args.end(), o.extra_args.begin(), o.extra_args.end());
  const std::string ebin = erlang_helper_ebin().string();

  std::vector<std::string> argv;
  if (o.kind == node_kind::erlang) {
    argv = {"erl",      "-noshell",   o.long_names ? "-name" : "-sname",
            node_name_, "-setcookie", o.cookie};
    argv.insert(argv.end(), erl_args.begin(), erl_args.end());
    argv.insert(argv.end(), {"-pa", ebin, "-eval", "moat_test_ctl:start()"});
  } else {
    argv = {"elixir",
            o.long_names ? "--name" : "--sname",
            node_name_,
            "--cookie",
            o.cookie,
            "--erl",
            join(erl_args),
            "-pa",
            ebin,
            "-e",
            ":moat_test_ctl.start()"};
  }
  // Its own directory: a crash dump (erl_crash.dump) lands there and goes with it.
  process_ = std::make_unique<child_process>(argv, dir_->path());
}

erlang_node::~erlang_node() {
  if (process_ && !process_->wait(0ms)) kill9();
}

bool erlang_node::wait_ready(std::chrono::milliseconds timeout) {
  return process_->wait_for_output("<<moat-ready " + node_name_ + ">>", timeout);
}

std::string erlang_node::eval(const std::string& expr, std::chrono::milliseconds timeout) {
  const std::string id = std::to_string(next_id_++);
  std::string line = id + " " + expr;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  const std::string marker = "<<moat-result " + id + " ";
  auto answer = [&]() -> std::optional<std::string> {
    const std::string out = process_->output();
    const auto at = out.find(marker);
    if (at == std::string::npos) return std::nullopt;
    const auto start = at + marker.size();
    const auto end = out.find(">>", start);
    if (end == std::string::npos) return std::nullopt;
    return hex_decode(out.substr(start, end - start));
  };
  if (process_->wait(0ms)) return "{error,node_exited}";
  process_->write_stdin(line + "\n");
  const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto a = answer()) return *a;
    if (process_->wait(0ms)) return answer().value_or("{error,node_exited}");
    std::this_thread::sleep_for(5ms);
  }
  return "{error,eval_timeout}";
}

std::string erlang_node::eval_elixir(const std::string& code, std::chrono::milliseconds timeout) {
  std::string bin = "<<" + erlang_string(code) + "/utf8>>";
  return eval("element(1, 'Elixir.Code':eval_string(" + bin + "))", timeout);
}

std::optional<int> erlang_node::stop(std::chrono::milliseconds timeout) {
  process_->close_stdin();
  if (auto st = process_->wait(timeout)) return st;
  kill9();
  return std::nullopt;
}

void erlang_node::kill9() {
  if (process_->wait(0ms)) return;
  ::kill(-process_->pid(), SIGKILL);
  process_->kill(SIGKILL);
  (void)process_->wait(5s);
}

}  // namespace moat::test
