#!/usr/bin/env bash
# moat's distribution benchmark (issue 10; docs/bench.md, "Distribution"): Erlang distribution
# over TLS between two nodes on this machine, each pinned to its own core, with the same driver
# against every target. Not part of the test command.
#
#   bench/dist.sh               # DIST_SECONDS (3) per window, TLS 1.2 and 1.3
#   bench/dist.sh --quick       # smoke run: 1 s windows, 3 set-up samples
#   bench/dist.sh --table DIR   # print the table of a finished run (its work directory) again
#
# Rows (driver → target), each for TLS 1.2 and TLS 1.3:
#   erlang       Erlang → Erlang: bench/peers/dist_driver.erl on an Erlang node, against an
#                Erlang node running bench/peers/dist_peer.erl (inet_tls_dist)
#   moat         Erlang → moat: the same driver against moat_dist_peer (bench/dist_peer.cpp)
#   moat-moat    moat → moat: moat_dist_driver (bench/dist_driver.cpp) against moat_dist_peer
#   moat-erlang  moat → Erlang (not in the default list)
# and "tcp": moat_tcp_pingpong, a blocking plain-TCP ping-pong between the same two cores,
# the round-trip floor.
#
# Every driver measures, in this order: connection set-up (a new connection, timed, several
# samples), the round trip of a small message ({self(), <<64 bytes>>} to the registered
# `echo`, p50/p99), small-message throughput (DIST_WINDOW messages in flight to `echo`, every
# reply sends the next; the CPU time of both processes over the window, per message) and
# bulk (64 KiB binaries to the registered `sink`, DIST_BULK_WINDOW in flight, an ack every
# DIST_BULK_ACK; MB/s and CPU per MB). The Erlang VMs run one scheduler (+S 1:1) without
# scheduler busy-waiting (+sbwt none ...), the moat nodes one worker (DIST_WORKERS).
#
# Environment: DIST_SECONDS (3: throughput and bulk windows), DIST_RTT_SECONDS (2),
# DIST_WINDOW (256), DIST_BULK_WINDOW (16), DIST_BULK_ACK (4), DIST_SETUP_SAMPLES (6),
# DIST_TARGETS ("erlang moat moat-moat"), DIST_VERSIONS ("1.2 1.3"), DIST_WORKERS (1),
# DIST_PEER_CPU (0), DIST_DRIVER_CPU (1), BENCH_BUILD_DIR (build/bench), BENCH_WORK_DIR (a new
# /tmp/moat-dist-bench.XXXXXX), BENCH_JOBS (ninja -j, 1), BENCH_SKIP_SETUP=1 (no apt),
# BENCH_SKIP_BUILD=1 (use what is in BENCH_BUILD_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
quick=0
table_dir=
while (($#)); do
  a=$1
  shift
  case $a in
    --quick) quick=1 ;;
    --table) table_dir=${1:?--table needs a work directory}; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "dist.sh: unknown argument '$a' (try --help)" >&2; exit 64 ;;
  esac
done
if ((quick)); then
  secs=${DIST_SECONDS:-1} rtt_secs=${DIST_RTT_SECONDS:-1} setup_n=${DIST_SETUP_SAMPLES:-3}
else
  secs=${DIST_SECONDS:-3} rtt_secs=${DIST_RTT_SECONDS:-2} setup_n=${DIST_SETUP_SAMPLES:-6}
fi
window=${DIST_WINDOW:-256}
bulk_window=${DIST_BULK_WINDOW:-16}
bulk_ack=${DIST_BULK_ACK:-4}
targets=${DIST_TARGETS:-erlang moat moat-moat}
tls_versions=${DIST_VERSIONS:-1.2 1.3}
workers=${DIST_WORKERS:-1}
pcpu=${DIST_PEER_CPU:-0}
dcpu=${DIST_DRIVER_CPU:-1}
build=${BENCH_BUILD_DIR:-$ROOT/build/bench}
if [[ -z $table_dir ]]; then
  work=${BENCH_WORK_DIR:-$(mktemp -d /tmp/moat-dist-bench.XXXXXX)}
  mkdir -p "$work"
fi
log() { printf 'dist-bench: %s\n' "$*" >&2; }

# ---- The table ----------------------------------------------------------------------------------
meta_vars=(secs rtt_secs setup_n window bulk_window bulk_ack workers pcpu dcpu cpu_model ncpu
  versions run_date load_before load_after)
render_table() {  # work directory
  local dir=$1
  # shellcheck disable=SC1091
  source "$dir/meta.sh"
  awk -v secs="$secs" -v rtt_secs="$rtt_secs" -v setup_n="$setup_n" -v window="$window" \
      -v bulk_window="$bulk_window" -v bulk_ack="$bulk_ack" -v workers="$workers" \
      -v pcpu="$pcpu" -v dcpu="$dcpu" -v cpu="$cpu_model" -v ncpu="$ncpu" \
      -v versions="$versions" -v date="$run_date" -v load_before="$load_before" \
      -v load_after="$load_after" '
  function fmt(v, d) { return v == "" ? "—" : sprintf("%." d "f", v) }
  function get(t, v, k) { return ((t SUBSEP v SUBSEP k) in vals) ? vals[t, v, k] : "" }
  function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "" : a / b }
  function target(what, value, cmp, limit, d,    ok) {
    if (value == "") { print "| " what " | — | " cmp " " limit " | not measured |"; return }
    ok = (cmp == "≤") ? (value + 0 <= limit + 0) : (value + 0 >= limit + 0)
    print "| " what " | " fmt(value, d) " | " cmp " " limit " | " (ok ? "met" : "**missed**") " |"
  }
  {
    delete f
    for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1) }
    t = f["target"]; v = f["tls"]
    if ("failed" in f || "error" in f)
      failures = failures "\n- " t " TLS " v ": " ("failed" in f ? f["failed"] : f["error"])
    for (k in f) vals[t, v, k] = f[k]
    seen[t, v] = 1
  }
  END {
    label["erlang"] = "Erlang → Erlang"; label["moat"] = "Erlang → moat"
    label["moat-moat"] = "moat → moat"; label["moat-erlang"] = "moat → Erlang"
    order[1] = "erlang"; order[2] = "moat"; order[3] = "moat-moat"; order[4] = "moat-erlang"
    nv = split("1.2 1.3", vs, " ")
    printf "moat distribution benchmark, %s: %s, %d CPUs; target node pinned to CPU %s, driver to CPU %s; ", date, cpu, ncpu, pcpu, dcpu
    printf "%s s throughput and bulk windows, round trips for up to %s s, %s set-up samples; load average %s before, %s after.\n", secs, rtt_secs, setup_n, load_before, load_after
    printf "%s. Erlang: one scheduler, no busy-waiting; moat: %s worker(s). Small message {self(), <<64 bytes>>}, %s in flight; bulk 64 KiB binaries, %s in flight, an ack every %s.\n\n", versions, workers, window, bulk_window, bulk_ack
    print "| driver → target | TLS | RTT p50 µs | RTT p99 µs | msgs/s | CPU µs/msg driver | CPU µs/msg target | bulk MB/s | bulk CPU µs/MB driver | bulk CPU µs/MB target | set-up ms, first | set-up ms, later p50 (min–max) |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for (o = 1; o <= 4; o++) for (j = 1; j <= nv; j++) {
      t = order[o]; v = vs[j]
      if (!((t, v) in seen)) continue
      setup = get(t, v, "setup_ms_p50")
      print "| " label[t] " | " v " | " fmt(get(t, v, "rtt_p50_us"), 0) " | " fmt(get(t, v, "rtt_p99_us"), 0) \
        " | " fmt(get(t, v, "tp_msgs_per_s"), 0) " | " fmt(get(t, v, "tp_driver_cpu_us_per_msg"), 2) \
        " | " fmt(get(t, v, "tp_peer_cpu_us_per_msg"), 2) " | " fmt(get(t, v, "bulk_mb_per_s"), 0) \
        " | " fmt(get(t, v, "bulk_driver_cpu_us_per_mb"), 0) " | " fmt(get(t, v, "bulk_peer_cpu_us_per_mb"), 0) \
        " | " fmt(get(t, v, "setup_ms_first"), 1) " | " (setup == "" ? "—" : fmt(setup, 1) " (" fmt(get(t, v, "setup_ms_min"), 1) "–" fmt(get(t, v, "setup_ms_max"), 1) ")") " |"
    }
    tcp = get("tcp", "-", "rtt_p50_us")
    printf "| TCP ping-pong (no TLS, no distribution) | — | %s | %s | | | | | | | | |\n", fmt(tcp, 0), fmt(get("tcp", "-", "rtt_p99_us"), 0)
    print ""
    print "Set-up: the first connection the driver process makes (an Erlang VM also loads the code of ssl then), and the p50 (min–max) of the later ones; the Erlang driver reconnects from the same node, the moat driver starts a new node (a fresh TLS context) for every sample."
    print ""
    print "CPU per message: utime + stime from /proc/PID/stat of the whole OS process over the throughput window, divided by the replies received (one message = a request and its reply). Bulk: MB (10^6 bytes) acknowledged by the sink per second."
    print ""
    print "Issue 10 targets (against Erlang → Erlang over TLS):"
    print ""
    print "| target | value | goal | |"
    print "| --- | ---: | ---: | --- |"
    for (j = 1; j <= nv; j++) {
      v = vs[j]
      if (!(("erlang", v) in seen) && !(("moat", v) in seen) && !(("moat-moat", v) in seen)) continue
      target("TLS " v ": CPU per small message, moat target / Erlang target (Erlang driver)", ratio(get("moat", v, "tp_peer_cpu_us_per_msg"), get("erlang", v, "tp_peer_cpu_us_per_msg")), "≤", "0.33", 2)
      target("TLS " v ": CPU per small message, moat driver / Erlang driver (moat → moat vs Erlang → Erlang)", ratio(get("moat-moat", v, "tp_driver_cpu_us_per_msg"), get("erlang", v, "tp_driver_cpu_us_per_msg")), "≤", "0.33", 2)
      target("TLS " v ": bulk MB/s, moat → moat / Erlang → Erlang", ratio(get("moat-moat", v, "bulk_mb_per_s"), get("erlang", v, "bulk_mb_per_s")), "≥", "5", 2)
      target("TLS " v ": bulk MB/s, Erlang → moat / Erlang → Erlang", ratio(get("moat", v, "bulk_mb_per_s"), get("erlang", v, "bulk_mb_per_s")), "≥", "5", 2)
      target("TLS " v ": RTT p50, moat → moat / TCP ping-pong", ratio(get("moat-moat", v, "rtt_p50_us"), tcp), "≤", "1.2", 2)
      target("TLS " v ": RTT p50, Erlang → moat / TCP ping-pong", ratio(get("moat", v, "rtt_p50_us"), tcp), "≤", "1.2", 2)
      target("TLS " v ": set-up ms, moat → moat, first connection", get("moat-moat", v, "setup_ms_first"), "≤", "50", 1)
      target("TLS " v ": set-up ms, moat → moat, later connections (p50)", get("moat-moat", v, "setup_ms_p50"), "≤", "50", 1)
      target("TLS " v ": set-up ms, Erlang → moat, later connections (p50)", get("moat", v, "setup_ms_p50"), "≤", "50", 1)
    }
    printf "\nFor reference, Erlang → Erlang: RTT p50 / TCP ping-pong"
    for (j = 1; j <= nv; j++) if (("erlang", vs[j]) in seen) printf " %s (TLS %s)", fmt(ratio(get("erlang", vs[j], "rtt_p50_us"), tcp), 2), vs[j]
    printf "; set-up ms, first connection"
    for (j = 1; j <= nv; j++) if (("erlang", vs[j]) in seen) printf " %s (TLS %s)", fmt(get("erlang", vs[j], "setup_ms_first"), 1), vs[j]
    print "."
    if (failures != "") print "\nFailed runs:" failures
  }' "$dir/results.txt"
}

if [[ -n $table_dir ]]; then
  render_table "$table_dir"
  exit 0
fi

# ---- Packages and build -------------------------------------------------------------------------
if [[ ${BENCH_SKIP_SETUP:-0} != 1 ]]; then
  bash "$ROOT/scripts/setup.sh"  # compilers, GnuTLS, Boost, openssl, erlang-nox
fi
moat_bin=$build/src/cli/moat
peer_bin=$build/bench/moat_dist_peer
driver_bin=$build/bench/moat_dist_driver
pingpong_bin=$build/bench/moat_tcp_pingpong
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  log "building moat, moat_dist_peer, moat_dist_driver, moat_tcp_pingpong (Release) in $build"
  cmake -S "$ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOAT_BUILD_TESTS=OFF \
    -DMOAT_BUILD_BENCH=ON >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
  ninja -C "$build" -j "${BENCH_JOBS:-1}" moat moat_dist_peer moat_dist_driver moat_tcp_pingpong \
    >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
fi
for b in "$moat_bin" "$peer_bin" "$driver_bin" "$pingpong_bin"; do
  [[ -x $b ]] || { log "$b is missing (build it, or unset BENCH_SKIP_BUILD)"; exit 1; }
done
mkdir -p "$work/ebin"
erlc -o "$work/ebin" "$ROOT/bench/peers/dist_driver.erl" "$ROOT/bench/peers/dist_peer.erl"

# ---- Certificates, the optfiles, EPMD -----------------------------------------------------------
# One CA and one node certificate naming "localhost" (the host of every node's short name),
# for TLS server and client authentication; every node uses it on both sides.
"$moat_bin" cert ca --cn "moat dist bench CA" --out-cert "$work/ca.pem" \
  --out-key "$work/ca.key" >/dev/null
"$moat_bin" cert issue --ca-cert "$work/ca.pem" --ca-key "$work/ca.key" --cn localhost \
  --san DNS:localhost --client-auth --out-cert "$work/node.pem" --out-key "$work/node.key" \
  >/dev/null
cookie=moat-dist-bench-$RANDOM$RANDOM

# The Erlang nodes' -ssl_dist_optfile for one TLS version: verify_peer both ways and the
# version. Every connection is a full handshake, as moat's nodes are set up in
# bench/dist_common.hpp: TLS 1.2 clients get {reuse_sessions, false}; TLS 1.3 clients use no
# tickets unless told to (ssl refuses TLS 1.2-only options when only TLS 1.3 is allowed, and
# the node then cannot connect at all).
write_optfile() {  # version file
  local v=$1 common server_extra='' client_extra=''
  common="{certfile, \"$work/node.pem\"}, {keyfile, \"$work/node.key\"},
   {cacertfile, \"$work/ca.pem\"}, {verify, verify_peer}, {versions, ['tlsv$v']}"
  if [[ $v == 1.2 ]]; then
    server_extra=', {secure_renegotiate, true}'
    client_extra=', {secure_renegotiate, true}, {reuse_sessions, false}'
  fi
  cat >"$2" <<EOF
[{server,
  [$common,
   {fail_if_no_peer_cert, true}$server_extra]},
 {client,
  [$common$client_extra]}].
EOF
}
for v in $tls_versions; do write_optfile "$v" "$work/optfile-$v.conf"; done

port=$((20000 + RANDOM % 10000))
next_port
epmd_port=$port
epmd -port "$epmd_port" >"$work/epmd.log" 2>&1 &
epmd_pid=$!
server_pid=$epmd_pid  # what common.sh's wait_listening watches
wait_listening "$epmd_port" || { log "epmd did not start on port $epmd_port"; exit 1; }
server_pid=

peer_pid=''
# shellcheck disable=SC2034  # server_pid is what common.sh's wait_listening watches
server_pid=
cleanup() {
  stop_peer
  kill -TERM "$epmd_pid" 2>/dev/null || true
  wait "$epmd_pid" 2>/dev/null || true
}
trap cleanup EXIT

# ---- Runs ---------------------------------------------------------------------------------------
erl_flags=(+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none)
erl_node() {  # name version: the start of an erl command line for a TLS node
  echo erl -noshell -sname "$1" -setcookie "$cookie" -start_epmd false -epmd_port "$epmd_port" \
    -proto_dist inet_tls -ssl_dist_optfile "$work/optfile-$2.conf" "${erl_flags[@]}" \
    -pa "$work/ebin"
}
moat_node_args() {  # name version
  echo --name "$1" --cookie "$cookie" --cert "$work/node.pem" --key "$work/node.key" \
    --cacert "$work/ca.pem" --versions "$2" --epmd-port "$epmd_port" --workers "$workers"
}

# start_peer KIND NAME VERSION LOG: the target node on its core; sets peer_pid (to stop it)
# and peer_os_pid (its OS process, from its "ready" line).
start_peer() {
  local kind=$1 name=$2 v=$3 out=$4 _
  case $kind in
    erlang)
      # shellcheck disable=SC2046  # erl_node prints words
      taskset -c "$pcpu" $(erl_node "$name" "$v") -run dist_peer start </dev/null >"$out" 2>&1 &
      ;;
    moat)
      # shellcheck disable=SC2046
      taskset -c "$pcpu" "$peer_bin" $(moat_node_args "$name" "$v") </dev/null >"$out" 2>&1 &
      ;;
  esac
  peer_pid=$!
  for _ in $(seq 400); do
    if grep -q '^ready ' "$out"; then
      peer_os_pid=$(awk '/^ready / {print $3; exit}' "$out")
      return 0
    fi
    kill -0 "$peer_pid" 2>/dev/null || break
    sleep 0.05
  done
  log "the $kind target $name did not start; its output ($out):"
  tail -20 "$out" >&2
  return 1
}

stop_peer() {
  [[ -n ${peer_pid:-} ]] || return 0
  kill -TERM "$peer_pid" 2>/dev/null || true
  local _
  for _ in $(seq 200); do
    kill -0 "$peer_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$peer_pid" 2>/dev/null || true
  wait "$peer_pid" 2>/dev/null || true
  peer_pid=
}

results=$work/results.txt
: >"$results"
run=0
driver_timeout=$((120 + 4 * (secs + rtt_secs)))

run_target() {  # target version
  local t=$1 v=$2 peer_kind driver_kind out line
  case $t in
    erlang) peer_kind=erlang driver_kind=erlang ;;
    moat) peer_kind=moat driver_kind=erlang ;;
    moat-moat) peer_kind=moat driver_kind=moat ;;
    moat-erlang) peer_kind=erlang driver_kind=moat ;;
    *) log "unknown target '$t' in DIST_TARGETS"; return 0 ;;
  esac
  run=$((run + 1))
  local peer_name=peer$run@localhost driver_name=driver$run@localhost
  out=$work/$t-tls$v
  if ! start_peer "$peer_kind" "$peer_name" "$v" "$out.peer.log"; then
    echo "target=$t tls=$v failed=start" >>"$results"
    stop_peer
    return 0
  fi
  local status=0
  case $driver_kind in
    erlang)
      # shellcheck disable=SC2046
      timeout "$driver_timeout" taskset -c "$dcpu" $(erl_node "$driver_name" "$v") \
        -run dist_driver main "target=$peer_name" "peer_os_pid=$peer_os_pid" \
        "clk_tck=$(getconf CLK_TCK)" "seconds=$secs" "rtt_seconds=$rtt_secs" \
        "window=$window" "bulk_window=$bulk_window" "bulk_ack=$bulk_ack" \
        "setup_samples=$setup_n" </dev/null >"$out.driver.out" 2>"$out.driver.err" || status=$?
      ;;
    moat)
      # shellcheck disable=SC2046
      timeout "$driver_timeout" taskset -c "$dcpu" "$driver_bin" \
        $(moat_node_args "$driver_name" "$v") --target "$peer_name" \
        --peer-os-pid "$peer_os_pid" --seconds "$secs" --rtt-seconds "$rtt_secs" \
        --window "$window" --bulk-window "$bulk_window" --bulk-ack "$bulk_ack" \
        --setup-samples "$setup_n" </dev/null >"$out.driver.out" 2>"$out.driver.err" || status=$?
      ;;
  esac
  stop_peer
  # One line of key=value fields (an error's text with its spaces made underscores).
  line=$(grep -E '^[a-z_0-9]+=' "$out.driver.out" | sed '/^error=/ s/ /_/g' | tr '\n' ' ' |
    sed 's/ *$//')
  if ((status != 0)) && [[ $line != *error=* ]]; then line+=" error=exit-status-$status"; fi
  echo "target=$t tls=$v $line" >>"$results"
  log "$t TLS $v: $line"
}

run_tcp() {
  next_port
  taskset -c "$pcpu" "$pingpong_bin" server --port "$port" >"$work/tcp.server.log" 2>&1 &
  peer_pid=$!
  server_pid=$peer_pid
  if ! wait_listening "$port"; then
    server_pid=
    stop_peer
    echo "target=tcp tls=- failed=start" >>"$results"
    return 0
  fi
  server_pid=
  local line
  line=$(taskset -c "$dcpu" "$pingpong_bin" client --port "$port" --seconds "$rtt_secs" |
    tr '\n' ' ' | sed 's/ *$//')
  stop_peer
  echo "target=tcp tls=- $line" >>"$results"
  log "tcp: $line"
}

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ncpu=$(nproc)
run_date=$(date -u +%F)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
versions="moat $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ -n $(git -C "$ROOT" status --porcelain -- src include bench 2>/dev/null) ]]; then
  versions+="+local changes"
fi
versions+=", GnuTLS $(pkg-config --modversion gnutls 2>/dev/null || echo '?')"
versions+=", OTP $(erl -noshell -eval \
  'io:format("~s (erts ~s)", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().' \
  2>/dev/null || echo '?')"

log "work directory: $work; targets: $targets; TLS $tls_versions; $secs s windows"
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
  log "the load average is $(cut -d' ' -f1 /proc/loadavg): other work on this machine adds noise"
fi
run_tcp
for v in $tls_versions; do
  for t in $targets; do run_target "$t" "$v"; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

declare -p "${meta_vars[@]}" >"$work/meta.sh"
render_table "$work" >"$work/table.md"
echo
cat "$work/table.md"
echo
log "raw results: $results; table: $work/table.md"
