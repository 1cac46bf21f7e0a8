#!/usr/bin/env bash
# Sets up everything (Debian packages) and runs every test: a warnings-as-errors build with
# the full CTest suite, the same suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and a short libFuzzer run of every fuzz target.
#
#   bash scripts/test.sh            # everything
#   MOAT_SKIP_SANITIZE=1 bash scripts/test.sh   # only the plain build (quicker, for development)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

jobs=$(nproc)
section() { printf '\n==== %s ====\n' "$*"; }

section "build (g++, warnings as errors)"
cmake -S . -B build/release -G Ninja -DMOAT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$jobs"

section "tests"
ctest --test-dir build/release --output-on-failure -j "$jobs" --timeout 300

if [ "${MOAT_SKIP_SANITIZE:-0}" != 1 ]; then
  section "build (ASan + UBSan)"
  cmake -S . -B build/asan -G Ninja -DMOAT_WERROR=ON -DMOAT_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build/asan -j "$jobs"

  section "tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 600

  section "fuzz: every target (clang, libFuzzer, 60 s in all)"
  BUILD_DIR="$PWD/build/fuzz" bash fuzz/run.sh 60
fi
