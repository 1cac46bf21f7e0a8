#!/usr/bin/env bash
# Installs every Debian package moat's build and tests need. Idempotent and quick when
# everything is already present; non-interactive. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  g++ clang clang-format libclang-rt-dev lld
  libgnutls28-dev gnutls-bin
  # Boost's headers and CMake files: moat uses only header-only Boost libraries (Asio, Beast,
  # JSON, URL, ...), not libboost1.81-all-dev's 126 more packages (MPI and Python among them)
  libboost1.81-dev
  libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl erlang-nox elixir curl stress-ng
  # ACME: a real server (pebble, with pebble-challtestsrv) and real clients, for the ACME
  # tests and bench/acme.sh
  pebble certbot lego caddy
  # The admin endpoint: a real Prometheus text parser, and its status page in a real browser
  # read back by OCR (with fonts: recommends are not installed)
  python3-prometheus-client chromium tesseract-ocr fonts-liberation fonts-dejavu-core
  # docs/getting-started.md's Prometheus configuration, parsed by its test
  python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
