// The solver contract's defaults, and DNS-01 through the user's hooks.
#include <moat/acme/solver.hpp>
#include <moat/pki/digest.hpp>
#include <moat/pki/encoding.hpp>
#include <stdexcept>

namespace moat::acme {

namespace net = boost::asio;

bool solver::can_solve(const identifier&) const {
  return true;
}

net::awaitable<bool> solver::wait_fetched(const challenge_task&, std::chrono::milliseconds) {
  co_return false;
}

dns01_solver::dns01_solver(set_hook set, remove_hook remove)
    : set_(std::move(set)), remove_(std::move(remove)) {
  if (!set_ || !remove_) throw std::invalid_argument("dns01_solver needs both hooks");
}

bool dns01_solver::can_solve(const identifier& id) const {
  return id.type == "dns";
}

std::string dns01_solver::record_name(const identifier& id) {
  std::string_view name = id.value;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.ends_with('.')) name.remove_suffix(1);
  return "_acme-challenge." + std::string(name) + ".";
}

std::string dns01_solver::record_value(std::string_view key_authorization) {
  return pki::base64url_encode(pki::sha256(key_authorization));
}

net::awaitable<void> dns01_solver::present(const challenge_task& task) {
  co_await set_(record_name(task.identifier), record_value(task.key_authorization));
}

net::awaitable<void> dns01_solver::cleanup(const challenge_task& task) {
  // A failing hook's exception reaches the client, which logs it.
  co_await remove_(record_name(task.identifier), record_value(task.key_authorization));
}

}  // namespace moat::acme
