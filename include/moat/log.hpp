#pragma once
/// @file
/// Where moat logs. Every part that logs (a listener, a TLS context, ...) takes an optional
/// spdlog logger in its options; when none is given it uses `moat::default_logger()`, never
/// spdlog's global default logger. Normal closes are quiet; failures are logged once,
/// rate-limited where a peer can provoke them; secrets never appear.

#include <memory>

namespace spdlog {
class logger;
}

namespace moat {

/// The spdlog logger named "moat": the one registered under that name if the application made
/// one (e.g. with its own sinks), else one writing to stderr, registered on first use.
/// Thread-safe.
[[nodiscard]] std::shared_ptr<spdlog::logger> default_logger();

}  // namespace moat
