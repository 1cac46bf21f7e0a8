// Makes a development certificate for localhost, writes it and its key, then loads them
// back the way a server does at start-up (loud validation: dates, chain order, key match).
//
//   example_pki_self_signed [DIR]     (default: the current directory)
#include <cstdio>
#include <exception>
#include <filesystem>
#include <moat/error.hpp>
#include <moat/pki/pki.hpp>

int main(int argc, char** argv) {
  namespace pki = moat::pki;
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  try {
    // 1. A key and a self-signed certificate with DNS and IP names, valid for 30 days.
    const auto key = pki::private_key::generate(pki::key_type::ecdsa_p256);
    const auto cert =
        pki::certificate_builder{
            .common_name = "localhost",
            .subject_alt_names = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"},
            .validity = std::chrono::days{30},
        }
            .self_sign(key);

    // 2. Write them: the key with mode 0600, both atomically.
    key.write_file(dir / "key.pem");
    pki::write_pem_file(dir / "cert.pem", cert.pem(), /*secret=*/false);

    // 3. Load them back as a server would; any problem throws moat::config_error whose
    //    message names the file and the reason.
    const auto creds = pki::load_credentials(dir / "cert.pem", dir / "key.pem");
    std::printf("%s", creds.chain.front().summary().c_str());
  } catch (const moat::config_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
