#pragma once
/// @file
/// moat's pki part: keys, X.509 certificates, CSRs and PEM/DER loading with loud
/// validation (on GnuTLS; no GnuTLS header is reachable from here).

#include <moat/pki/builder.hpp>      // IWYU pragma: export
#include <moat/pki/certificate.hpp>  // IWYU pragma: export
#include <moat/pki/digest.hpp>       // IWYU pragma: export
#include <moat/pki/encoding.hpp>     // IWYU pragma: export
#include <moat/pki/errors.hpp>       // IWYU pragma: export
#include <moat/pki/key.hpp>          // IWYU pragma: export
#include <moat/pki/load.hpp>         // IWYU pragma: export
