#!/usr/bin/env bash
# Builds the framing decoder fuzz target with clang (libFuzzer + ASan + UBSan) and runs it.
#   fuzz/run.sh [seconds]            default 30
# Environment: BUILD_DIR (default /work/build-fuzz, else <repo>/build-fuzz), JOBS (default 2),
# CXX (default clang++), CMAKE_ARGS (extra configure arguments, word-split). The seed corpus in fuzz/corpus/framing_decoder is copied, not
# modified; new inputs go to $BUILD_DIR/corpus/framing_decoder, crashes to $BUILD_DIR/crashes.
set -euo pipefail

seconds="${1:-30}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
if [[ -z "${BUILD_DIR:-}" ]]; then
  if [[ -d /work ]]; then BUILD_DIR=/work/build-fuzz; else BUILD_DIR="$repo/build-fuzz"; fi
fi
jobs="${JOBS:-2}"

CXX="${CXX:-clang++}" cmake -S "$repo" -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOAT_BUILD_FUZZ=ON -DMOAT_BUILD_TESTS=OFF ${CMAKE_ARGS:-} >/dev/null
ninja -C "$BUILD_DIR" -j "$jobs" framing_decoder_fuzz

corpus="$BUILD_DIR/corpus/framing_decoder"
crashes="$BUILD_DIR/crashes"
mkdir -p "$corpus" "$crashes"
if [[ -d "$here/corpus/framing_decoder" ]]; then
  cp -n "$here/corpus/framing_decoder/"* "$corpus/" 2>/dev/null || true
fi

exec "$BUILD_DIR/fuzz/framing_decoder_fuzz" "$corpus" \
  -max_total_time="$seconds" -max_len=8192 -artifact_prefix="$crashes/" -print_final_stats=1
