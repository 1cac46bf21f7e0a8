#include "acme/ca_problem.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace moat::acme::detail {

namespace json = boost::json;

ca_failure::ca_failure(errc code, std::string detail, int status, std::vector<subproblem> subs)
    : std::runtime_error(std::move(detail)),
      code_(code),
      status_(status != 0 ? status : default_status(code)),
      subs_(std::move(subs)) {}

int default_status(errc code) noexcept {
  switch (code) {
    case errc::unauthorized:
    case errc::order_not_ready:
    case errc::user_action_required:
    case errc::external_account_required:
      return 403;
    case errc::already_replaced:
      return 409;
    case errc::rate_limited:
      return 429;
    case errc::server_internal:
      return 500;
    default:
      return 400;
  }
}

std::string problem_type(errc code) {
  return "urn:ietf:params:acme:error:" + std::string(reason_name(code));
}

std::string problem_json(const ca_failure& f) {
  json::object o;
  o["type"] = problem_type(f.code());
  o["detail"] = f.what();
  o["status"] = f.status();
  if (!f.subproblems().empty()) {
    json::array subs;
    for (const auto& s : f.subproblems()) {
      json::object so;
      so["type"] = s.type;
      so["detail"] = s.detail;
      if (s.id) so["identifier"] = json::object{{"type", s.id->type}, {"value", s.id->value}};
      subs.push_back(std::move(so));
    }
    o["subproblems"] = std::move(subs);
  }
  if (!f.instance.empty()) o["instance"] = f.instance;
  if (!f.algorithms.empty()) {
    json::array algs;
    for (const auto& a : f.algorithms) algs.push_back(json::value(a));
    o["algorithms"] = std::move(algs);
  }
  return json::serialize(o);
}

problem make_problem(errc code, std::string detail, std::vector<subproblem> subs) {
  problem p;
  p.type = problem_type(code);
  p.detail = std::move(detail);
  p.status = default_status(code);
  p.subproblems = std::move(subs);
  return p;
}

}  // namespace moat::acme::detail
