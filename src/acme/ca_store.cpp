// The CA's persistent records: one JSON file per account (accounts/<id>.json) and per issued
// certificate (certs/<serial>.json, the chain beside it as certs/<serial>.pem), each written
// atomically. A record that does not parse stops start-up, naming the file.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <moat/error.hpp>
#include <moat/pki/encoding.hpp>
#include <moat/pki/key.hpp>
#include <sstream>

#include "acme/ca_jws.hpp"
#include "acme/ca_keys.hpp"
#include "acme/ca_state.hpp"
#include "acme/parse.hpp"

namespace moat::acme {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw moat::config_error("CA record '" + p.string() + "'", pki::errc::file_unreadable);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string str(const json::object& o, std::string_view k) {
  const auto it = o.find(k);
  if (it == o.end() || !it->value().is_string()) {
    throw detail::bad_document("member '" + std::string(k) + "' is missing");
  }
  return std::string(it->value().get_string());
}

json::array identifiers_json(const std::vector<identifier>& ids) {
  json::array a;
  for (const auto& i : ids) a.push_back(json::object{{"type", i.type}, {"value", i.value}});
  return a;
}

std::vector<identifier> identifiers_of(const json::object& o) {
  std::vector<identifier> out;
  const auto it = o.find("identifiers");
  if (it == o.end() || !it->value().is_array()) return out;
  for (const auto& v : it->value().get_array()) out.push_back(detail::parse_identifier(v));
  return out;
}

}  // namespace

void ca::state::save(const detail::account_rec& a) const {
  json::object o;
  o["id"] = a.id;
  o["jwk"] = a.jwk;
  o["status"] = to_string(a.status);
  json::array c;
  for (const auto& x : a.contact) c.push_back(json::value(x));
  o["contact"] = std::move(c);
  o["eab_key_id"] = a.eab_key_id;
  o["created"] = detail::format_time(a.created);
  detail::write_file_atomic(accounts_dir / (a.id + ".json"), json::serialize(o), 0600);
}

void ca::state::save(const detail::cert_rec& c) const {
  json::object o;
  o["serial"] = c.serial;
  o["account"] = c.account;
  o["identifiers"] = identifiers_json(c.identifiers);
  o["not_before"] = detail::format_time(c.not_before);
  o["not_after"] = detail::format_time(c.not_after);
  o["revoked"] = c.revoked;
  o["reason"] = c.reason;
  o["revoked_at"] = detail::format_time(c.revoked_at);
  o["replaced_by"] = c.replaced_by;
  if (c.renew_now) o["renew_now"] = detail::format_time(*c.renew_now);
  const fs::path pem = certs_dir / (c.serial + ".pem");
  if (!fs::exists(pem)) detail::write_file_atomic(pem, c.chain_pem, 0644);
  detail::write_file_atomic(certs_dir / (c.serial + ".json"), json::serialize(o), 0600);
}

void ca::state::load_records() {
  for (const auto& e : fs::directory_iterator(accounts_dir)) {
    if (e.path().extension() != ".json") continue;
    try {
      const auto o = detail::parse_object(read_all(e.path()));
      detail::account_rec a;
      a.id = str(o, "id");
      a.jwk = str(o, "jwk");
      const auto jo = detail::parse_object(a.jwk);
      const pki::jwk_members k = detail::jwk_members_of(json::value(jo));
      a.spki = pki::public_key_der_from_jwk(k);
      a.thumbprint = pki::jwk_thumbprint(k);
      a.status = detail::parse_status(str(o, "status"));
      if (const auto it = o.find("contact"); it != o.end() && it->value().is_array()) {
        for (const auto& v : it->value().get_array()) {
          if (v.is_string()) a.contact.emplace_back(v.get_string());
        }
      }
      a.eab_key_id = str(o, "eab_key_id");
      a.created = detail::parse_time(str(o, "created"), "created");
      if (a.status == object_status::valid) account_by_thumbprint[a.thumbprint] = a.id;
      accounts[a.id] = std::move(a);
    } catch (const std::exception& err) {
      throw moat::config_error("CA record '" + e.path().string() + "'", pki::errc::malformed,
                               err.what());
    }
  }
  for (const auto& e : fs::directory_iterator(certs_dir)) {
    if (e.path().extension() != ".json") continue;
    try {
      const auto o = detail::parse_object(read_all(e.path()));
      detail::cert_rec c;
      c.serial = str(o, "serial");
      c.account = str(o, "account");
      c.identifiers = identifiers_of(o);
      c.not_before = detail::parse_time(str(o, "not_before"), "not_before");
      c.not_after = detail::parse_time(str(o, "not_after"), "not_after");
      c.revoked = o.contains("revoked") && o.at("revoked").is_bool() && o.at("revoked").get_bool();
      c.reason = o.contains("reason") && o.at("reason").is_int64()
                     ? static_cast<int>(o.at("reason").get_int64())
                     : 0;
      c.revoked_at = detail::parse_time(str(o, "revoked_at"), "revoked_at");
      c.replaced_by = str(o, "replaced_by");
      if (o.contains("renew_now"))
        c.renew_now = detail::parse_time(str(o, "renew_now"), "renew_now");
      c.chain_pem = read_all(certs_dir / (c.serial + ".pem"));
      const auto leaf = pki::certificate::from_pem(c.chain_pem);
      c.serial_bytes = leaf.serial_bytes();
      c.spki = leaf.public_key_der();
      c.ari_id = pki::base64url_encode(leaf.authority_key_id()) + "." +
                 pki::base64url_encode(c.serial_bytes);
      if (c.revoked) ++counters.revoked;
      cert_by_ari[c.ari_id] = c.serial;
      certs[c.serial] = std::move(c);
    } catch (const std::exception& err) {
      throw moat::config_error("CA record '" + e.path().string() + "'", pki::errc::malformed,
                               err.what());
    }
  }
  counters.accounts = accounts.size();
  counters.issued = certs.size();
}

}  // namespace moat::acme
