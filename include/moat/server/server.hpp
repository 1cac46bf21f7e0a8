#pragma once
/// @file
/// moat's server part: supervised TLS listeners (Ranch + the OTP recipe).
#include <moat/server/connection.hpp>  // IWYU pragma: export
#include <moat/server/listener.hpp>    // IWYU pragma: export
