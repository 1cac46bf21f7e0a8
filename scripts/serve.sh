#!/usr/bin/env bash
# Sets up everything (Debian packages), builds moat, and runs `moat serve` with the given
# arguments (none needed: port 7000, IPv4 and IPv6, {packet,4} echo, a local CA certificate
# made in the data directory on the first start).
#
#   bash scripts/serve.sh                       # then, in another shell, the `moat connect` line it prints
#   bash scripts/serve.sh --listen 127.0.0.1:7443 --cert cert.pem --key key.pem
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build/serve -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOAT_BUILD_TESTS=OFF >/dev/null
cmake --build build/serve --target moat -j "$(nproc)" >/dev/null
exec ./build/serve/src/cli/moat serve "$@"
