#include <moat/pki/errors.hpp>
#include <string>

namespace moat::pki {
namespace {

class pki_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "moat.pki"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::file_missing:
        return "file not found";
      case errc::file_unreadable:
        return "file cannot be read";
      case errc::is_directory:
        return "is a directory, not a file";
      case errc::file_empty:
        return "file is empty";
      case errc::not_pem_or_der:
        return "neither PEM nor DER";
      case errc::no_certificate:
        return "no certificate found";
      case errc::no_private_key:
        return "no private key found";
      case errc::key_mismatch:
        return "private key does not match the certificate";
      case errc::password_required:
        return "key is encrypted and no password was given";
      case errc::wrong_password:
        return "key cannot be decrypted with the password given (wrong password?)";
      case errc::cert_expired:
        return "certificate has expired";
      case errc::cert_not_yet_valid:
        return "certificate is not yet valid";
      case errc::chain_out_of_order:
        return "certificate chain out of order (certificate N is not signed by certificate N+1)";
      case errc::unsupported_key_type:
        return "unsupported key type (use ECDSA P-256/P-384, Ed25519 or RSA)";
      case errc::invalid_san:
        return "invalid subject alternative name";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::generation_failed:
        return "generation failed";
      case errc::write_failed:
        return "cannot write the file";
      case errc::malformed:
        return "malformed data (corrupt PEM or DER)";
      case errc::not_issued_by_ca:
        return "certificate chain does not lead to any of the trusted CA certificates";
    }
    return "unknown moat.pki error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const pki_category instance;
  return instance;
}

}  // namespace moat::pki
