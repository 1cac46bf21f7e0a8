#pragma once
// Internal: what the CA certifies -- the checks of a finalize CSR (RFC 8555 section 7.4),
// signing a leaf with the intermediate, recording it, and the CRL.
#include <cstdint>
#include <moat/acme/ca.hpp>
#include <moat/pki/builder.hpp>
#include <span>
#include <string>
#include <vector>

#include "acme/ca_state.hpp"

namespace moat::acme::detail {

/// An identifier in the CA's canonical form: DNS names lower case, IP addresses as
/// boost::asio prints them. Throws ca_failure for a value that is neither.
[[nodiscard]] identifier canonical(const identifier& id);

/// Checks a finalize CSR (DER) against the order's identifiers and the account's key; the
/// CSR's key when it passes. Throws ca_failure: badCSR (does not parse, bad signature, names
/// not exactly the order's, a CN that is not one of them, the account key), badPublicKey (a
/// key type or size not accepted: P-256, P-384, Ed25519, RSA 2048..4096).
[[nodiscard]] std::vector<std::uint8_t> check_csr(std::span<const std::uint8_t> csr_der,
                                                  const std::vector<identifier>& order_ids,
                                                  std::span<const std::uint8_t> account_spki);

/// What to sign.
struct leaf_request {
  std::string common_name{};
  std::vector<std::string> sans{};  // "DNS:..." / "IP:..."
  sys_time not_before{};
  sys_time not_after{};
  bool client_auth = false;
  std::string crl_url{};  // empty: no CRL distribution point
};

/// Signs a leaf for `spki` with the intermediate and records it (mu held): the record is
/// saved before it is returned. Returns the chain PEM (leaf + intermediate).
[[nodiscard]] const cert_rec& issue_leaf(ca::state& st, std::span<const std::uint8_t> spki,
                                         const leaf_request& req, std::string account,
                                         std::vector<identifier> ids);

/// The CRL of every revoked certificate (mu held).
[[nodiscard]] std::vector<std::uint8_t> make_crl(ca::state& st);

}  // namespace moat::acme::detail
