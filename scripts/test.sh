#!/usr/bin/env bash
# Sets up everything (Debian packages) and runs every test: a warnings-as-errors build with
# the full CTest suite, the same suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# (but for the tests that install moat, label `install`), and a short libFuzzer run of every
# fuzz target.
#
#   bash scripts/test.sh            # everything
#   MOAT_SKIP_SANITIZE=1 bash scripts/test.sh   # only the plain build (quicker, for development)
#
# To stay quick on two cores, the next tree builds while a test suite runs (the suites mostly
# wait on their peers, and they hold on a busy machine), the trees carry line tables rather
# than full debug information, the tests share one precompiled header (MOAT_TEST_PCH), and
# everything links with lld. Each section heading says how
# long the run has taken so far.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
section() { printf '\n==== %s [%d s] ====\n' "$*" $((SECONDS - started)); }

section "setup (scripts/setup.sh)"
bash scripts/setup.sh

jobs=$(nproc)
sanitize=1
[ "${MOAT_SKIP_SANITIZE:-0}" = 1 ] && sanitize=0
link=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
mkdir -p build

# build_in_background NAME LOG COMMAND...: starts a build whose output goes to LOG; sets bg_pid.
build_in_background() {
  local name=$1 log=$2
  shift 2
  printf '(building %s alongside; its output: %s)\n' "$name" "$log"
  "$@" >"$log" 2>&1 &
  bg_pid=$!
}
# finish_background NAME LOG: waits for it; on failure shows the end of its output and stops.
finish_background() {
  local name=$1 log=$2
  if ! wait "$bg_pid"; then
    printf '\n==== %s FAILED; the end of its output (%s): ====\n' "$name" "$log"
    tail -n 80 "$log"
    exit 1
  fi
  printf '(%s built)\n' "$name"
}

section "build (g++, warnings as errors)"
# -O2 and NDEBUG as RelWithDebInfo, with line tables (-g1) instead of full debug information,
# which made the optimized build a third slower to compile.
cmake -S . -B build/release -G Ninja -DMOAT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" "${link[@]}" >/dev/null
cmake --build build/release -j "$jobs"

if ((sanitize)); then
  cmake -S . -B build/asan -G Ninja -DMOAT_WERROR=ON -DMOAT_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" "${link[@]}" >/dev/null
  build_in_background "the ASan + UBSan tree" build/asan-build.log \
    cmake --build build/asan -j "$jobs"
fi

section "tests"
ctest --test-dir build/release --output-on-failure -j "$jobs" --timeout 300

if ((sanitize)); then
  section "build (ASan + UBSan)"
  finish_background "the ASan + UBSan tree" build/asan-build.log

  build_in_background "the fuzz targets" build/fuzz-build.log \
    env BUILD_DIR="$PWD/build/fuzz" CMAKE_ARGS="${link[*]}" FUZZ_BUILD_ONLY=1 bash fuzz/run.sh 60

  section "tests under ASan + UBSan"
  # Not the tests labelled `install` (the installed tree, the Debian package, the guide run
  # against an install): what they check does not change under a sanitizer, the code they run
  # is run by the others, and they took 250 of its 1,570 test-seconds.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 600 -LE install

  section "fuzz: every target (clang, libFuzzer, 60 s in all)"
  finish_background "the fuzz targets" build/fuzz-build.log
  BUILD_DIR="$PWD/build/fuzz" CMAKE_ARGS="${link[*]}" bash fuzz/run.sh 60
fi
section "done"
