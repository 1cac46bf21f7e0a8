#pragma once
/// @file
/// moat's http part: a small HTTP/1.1 server and client on Boost.Beast, and the redirect
/// server of an HTTP port.
#include <moat/http/client.hpp>   // IWYU pragma: export
#include <moat/http/errors.hpp>   // IWYU pragma: export
#include <moat/http/message.hpp>  // IWYU pragma: export
#include <moat/http/router.hpp>   // IWYU pragma: export
#include <moat/http/server.hpp>   // IWYU pragma: export
