#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (libFuzzer + ASan + UBSan) and runs each for its
# share of the given total time.
#   fuzz/run.sh [seconds] [target...]   default: 60 seconds over all targets
#   fuzz/run.sh 60                      # framing_decoder, tls_server_engine, proxy_protocol,
#                                       # pki_loaders, http_request, acme_documents,
#                                       # acme_ca_requests, dist_term, dist_epmd,
#                                       # dist_handshake: 60/8 s each
#   fuzz/run.sh 30 proxy_protocol       # one target for 30 s
# Environment: BUILD_DIR (default <repo>/build/fuzz), JOBS (default 2), CXX (default clang++),
# CMAKE_ARGS (extra configure arguments, word-split), FUZZ_BUILD_ONLY=1 (build, do not run).
# The seed corpus in fuzz/corpus/<target> is copied, not modified; new inputs go to
# $BUILD_DIR/corpus/<target>, crashes to $BUILD_DIR/crashes/<target>-*. Exits non-zero if any
# target found a problem (after running the others).
set -euo pipefail

all_targets=(framing_decoder tls_server_engine proxy_protocol pki_loaders http_request
  acme_documents acme_ca_requests dist_term dist_epmd dist_handshake)
seconds="${1:-60}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "fuzz/run.sh: the time must be a whole number of seconds, not '$seconds'" >&2
  exit 2
fi
for t in "${targets[@]}"; do
  if [[ " ${all_targets[*]} " != *" $t "* ]]; then
    echo "fuzz/run.sh: unknown target '$t' (known: ${all_targets[*]})" >&2
    exit 2
  fi
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
BUILD_DIR="${BUILD_DIR:-$repo/build/fuzz}"
jobs="${JOBS:-2}"

# Inputs longer than a target needs only slow it down.
declare -A max_len=([framing_decoder]=8192 [tls_server_engine]=4096 [proxy_protocol]=1024
  [pki_loaders]=8192 [http_request]=4096 [acme_documents]=8192
  [acme_ca_requests]=8192 [dist_term]=4096 [dist_epmd]=4096 [dist_handshake]=1024)

# Line tables (-gline-tables-only) are all a sanitizer's report needs, and build faster than -g.
CXX="${CXX:-clang++}" cmake -S "$repo" -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DMOAT_BUILD_FUZZ=ON -DMOAT_BUILD_TESTS=OFF ${CMAKE_ARGS:-} >/dev/null
ninja -C "$BUILD_DIR" -j "$jobs" "${targets[@]/%/_fuzz}"
[[ ${FUZZ_BUILD_ONLY:-0} == 1 ]] && exit 0

share=$((seconds / ${#targets[@]}))
((share > 0)) || share=1
crashes="$BUILD_DIR/crashes"
mkdir -p "$crashes"
failed=()
for t in "${targets[@]}"; do
  corpus="$BUILD_DIR/corpus/$t"
  mkdir -p "$corpus"
  if [[ -d "$here/corpus/$t" ]]; then
    cp -n "$here/corpus/$t/"* "$corpus/" 2>/dev/null || true
  fi
  printf '\n==== fuzz %s: %d s ====\n' "$t" "$share"
  if ! "$BUILD_DIR/fuzz/${t}_fuzz" "$corpus" -max_total_time="$share" -max_len="${max_len[$t]}" \
    -timeout=30 -artifact_prefix="$crashes/$t-" -print_final_stats=1; then
    failed+=("$t")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz/run.sh: problems found by: ${failed[*]} (inputs in $crashes)" >&2
  exit 1
fi
