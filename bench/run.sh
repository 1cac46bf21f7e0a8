#!/usr/bin/env bash
# moat's benchmark (issues 3 and 7; docs/bench.md): `moat serve` against a Go crypto/tls
# server, the Erlang recipe and nginx, side by side on this machine, with one load generator
# for all of them (bench/loadgen.cpp). Each server runs pinned to one CPU and the generator to
# another; the figures are the server's CPU time per operation (utime + stime from /proc, over
# the measured window) and the rates. Ends with a table of the figures, a scaling table (moat
# and Go at several connection counts) and the ratios issue 7 sets as targets. Not part of the
# test command.
#
#   bench/run.sh           # BENCH_SECONDS (5) per window, BENCH_ROUNDS (3) rounds -> medians
#   bench/run.sh --quick   # smoke run: 1 s windows, 1 round, 1,000 idle connections (Erlang)
#   bench/run.sh --table DIR   # print the table of a finished run (its work directory) again
#
# Servers: moat, go, erlang, nginx, and tcp: the Go server over plain TCP (no TLS), the
# kernel's share of the same traffic.
#
# Environment: BENCH_SECONDS, BENCH_ROUNDS, BENCH_IDLE_CONNECTIONS (10000; quick 1000: the
# idle row of the main table, Erlang's too), BENCH_SERVERS ("moat go erlang nginx tcp"),
# BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1), BENCH_HS_CONCURRENCY (16), BENCH_BULK_CONNECTIONS
# (4), BENCH_PIPELINE (8: messages in flight per connection, pipelined echo), BENCH_BULK_WINDOW
# (1048576: bytes in flight per connection, windowed bulk), BENCH_ECHO_SCALES ("100 1000
# 10000" connections), BENCH_HS_SCALES ("16 256" concurrent), BENCH_IDLE_SCALES ("1000 10000
# 50000" connections; moat and Go only), BENCH_BUILD_DIR (build/bench), BENCH_WORK_DIR (a new
# /tmp/moat-bench.XXXXXX), BENCH_JOBS (ninja -j, default 1), BENCH_SKIP_SETUP=1 (no apt),
# BENCH_SKIP_BUILD=1 (use what is in BENCH_BUILD_DIR), BENCH_PERF=1 (also `perf record` each
# server over its window: $BENCH_WORK_DIR/perf-SERVER-CASE-rN.{data,txt}; perturbs the figures).
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
    *) echo "run.sh: unknown argument '$a' (try --help)" >&2; exit 64 ;;
  esac
done
if ((quick)); then
  secs=${BENCH_SECONDS:-1} rounds=${BENCH_ROUNDS:-1} idle_n=${BENCH_IDLE_CONNECTIONS:-1000}
  warmup=0.5
else
  secs=${BENCH_SECONDS:-5} rounds=${BENCH_ROUNDS:-3} idle_n=${BENCH_IDLE_CONNECTIONS:-10000}
  warmup=1
fi
servers=${BENCH_SERVERS:-moat go erlang nginx tcp}
scpu=${BENCH_SERVER_CPU:-0}
ccpu=${BENCH_CLIENT_CPU:-1}
hs_conc=${BENCH_HS_CONCURRENCY:-16}
bulk_conns=${BENCH_BULK_CONNECTIONS:-4}
pipeline=${BENCH_PIPELINE:-8}
bulk_window=${BENCH_BULK_WINDOW:-1048576}
echo_base=100  # the connections of the main echo scenarios
echo_scales=${BENCH_ECHO_SCALES:-100 1000 10000}
hs_scales=${BENCH_HS_SCALES:-$hs_conc 256}
idle_scales=${BENCH_IDLE_SCALES:-1000 10000 50000}
limit_note=
build=${BENCH_BUILD_DIR:-$ROOT/build/bench}
if [[ -z $table_dir ]]; then
  work=${BENCH_WORK_DIR:-$(mktemp -d /tmp/moat-bench.XXXXXX)}
  mkdir -p "$work"
fi
log() { printf 'bench: %s\n' "$*" >&2; }

# ---- The table ----------------------------------------------------------------------------------
# From a work directory's results.txt and meta.sh (what the run measured about the machine).
# `run.sh --table DIR` prints a finished run's table again.
meta_vars=(secs rounds idle_n scpu ccpu hs_conc bulk_conns pipeline bulk_window echo_base
  echo_scales hs_scales idle_scales limit_note cpu_model ncpu versions run_date load_before
  load_after sign_per_s x25519_per_s enc_bps dec_bps gnutls_speed gnutls_version)
render_table() {  # work directory
  local dir=$1
  # shellcheck disable=SC1091
  source "$dir/meta.sh"
  awk -v sign="$sign_per_s" -v x25519="$x25519_per_s" -v enc="$enc_bps" -v dec="$dec_bps" \
      -v secs="$secs" -v rounds="$rounds" -v idle_n="$idle_n" -v scpu="$scpu" -v ccpu="$ccpu" \
      -v gnutls_version="$gnutls_version" -v cpu="$cpu_model" -v ncpu="$ncpu" \
      -v versions="$versions" -v date="$run_date" -v load_before="$load_before" \
      -v load_after="$load_after" -v hs_conc="$hs_conc" -v bulk_conns="$bulk_conns" \
      -v pipeline="$pipeline" -v bulk_window="$bulk_window" -v echo_base="$echo_base" \
      -v echo_scales="$echo_scales" -v hs_scales="$hs_scales" -v idle_scales="$idle_scales" \
      -v limit_note="$limit_note" -v gnutls_speed="$gnutls_speed" '
  function median(key,    n, a, i, j, t) {
    if (!(key in vals)) return ""
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function fmt(v, d) { return v == "" ? "—" : sprintf("%." d "f", v) }
  function get(s, c, k) { return median(s SUBSEP c SUBSEP k) }
  # "median" or, over several rounds, "median (min–max)".
  function cell(s, c, k, d,    key, n, a, i, lo, hi) {
    key = s SUBSEP c SUBSEP k
    if (!(key in vals)) return "—"
    n = split(vals[key], a, " ")
    if (n < 2) return fmt(a[1], d)
    lo = hi = a[1] + 0
    for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
    return fmt(median(key), d) " (" fmt(lo, d) "–" fmt(hi, d) ")"
  }
  function row(label, c, k, d, spread,    line, i) {
    line = "| " label
    for (i = 1; i <= 5; i++) line = line " | " (spread ? cell(names[i], c, k, d) : fmt(get(names[i], c, k), d))
    print line " |"
  }
  function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "" : a / b }
  function above(a, b, floor, d, unit) { return (a == "" || b == "" || floor == "") ? "—" : fmt(a - floor, d) " / " fmt(b - floor, d) " " unit }
  function target(what, value, limit, cmp,    ok) {
    if (value == "") { print "| " what " | — | " cmp " " limit " | not measured |"; return }
    ok = (cmp == "≤") ? (value <= limit) : (value < limit)
    print "| " what " | " sprintf("%.2f", value) " | " cmp " " limit " | " (ok ? "met" : "**missed**") " |"
  }
  function thousands(n,    s) { s = n ""; while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
  # The result case of a scaling point: the main scenario at its own scale, else KIND_nN.
  function scase(kind, n) {
    if (kind == "echo" && n == echo_base) return "echo"
    if (kind == "hs_full" && n == hs_conc) return "hs_full"
    return kind "_n" n
  }
  # One scaling table: moat, Go, moat / Go per scale, and largest / smallest per server.
  function scaling(title, kind, scales, key, d,    sc, n, i, j, s, line, v, first, last, r) {
    n = split(scales, sc, " ")
    line = "| " title
    for (i = 1; i <= n; i++) line = line " | " thousands(sc[i])
    print line " | largest / smallest |"
    line = "| ---"
    for (i = 1; i <= n + 1; i++) line = line " | ---:"
    print line " |"
    for (j = 1; j <= 2; j++) {
      s = (j == 1) ? "moat" : "go"
      line = "| " (j == 1 ? "moat" : "Go")
      for (i = 1; i <= n; i++) line = line " | " fmt(get(s, scase(kind, sc[i]), key), d)
      first = get(s, scase(kind, sc[1]), key); last = get(s, scase(kind, sc[n]), key)
      r = ratio(last, first)
      flat[s, kind] = r
      print line " | " (r == "" ? "—" : sprintf("%.2f", r) (r > 1.2 ? " **not flat**" : "")) " |"
    }
    line = "| moat / Go"
    for (i = 1; i <= n; i++) line = line " | " fmt(ratio(get("moat", scase(kind, sc[i]), key), get("go", scase(kind, sc[i]), key)), 2)
    print line " | |"
    print ""
  }
  {
    delete f
    for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1) }
    if ("failed" in f) { failures = failures "\n- " f["server"] " " f["case"] " (round " f["round"] "): " f["failed"]; next }
    if (f["errors"] + 0 > 0 || f["unfinished"] + 0 > 0 || f["setup_errors"] + 0 > 0)
      failures = failures "\n- " f["server"] " " f["case"] " (round " f["round"] "): errors=" f["errors"] \
        ("setup_errors" in f ? " setup_errors=" f["setup_errors"] : "") ("unfinished" in f ? " unfinished=" f["unfinished"] : "")
    for (k in f) {
      key = f["server"] SUBSEP f["case"] SUBSEP k
      vals[key] = (key in vals) ? vals[key] " " f[k] : f[k]
    }
  }
  END {
    names[1] = "moat"; names[2] = "go"; names[3] = "erlang"; names[4] = "nginx"; names[5] = "tcp"
    sign_us = 1e6 / sign; x_us = 1e6 / x25519; hs_floor = sign_us + 2 * x_us
    enc_us = 1e12 / enc; dec_us = 1e12 / dec; mb_floor = enc_us + dec_us   # µs per 1e6 bytes
    window_kib = bulk_window / 1024
    printf "moat benchmark, %s: %s, %d CPUs; server pinned to CPU %s, load generator to CPU %s; ", date, cpu, ncpu, scpu, ccpu
    printf "%s s windows, median of %s round(s) (with min–max for the main figures); load average %s before, %s after.\n", secs, rounds, load_before, load_after
    printf "%s.\n\n", versions
    if (limit_note != "") printf "Note: %s\n\n", limit_note
    printf "Physical limit (openssl speed on CPU %s): ECDSA P-256 sign %.1f µs + 2 × X25519 %.1f µs = **%.1f µs** of public-key crypto per full handshake; ", scpu, sign_us, x_us, hs_floor
    printf "AES-128-GCM on 16 KiB: encrypt %.0f MB/s + decrypt %.0f MB/s = **%.0f µs per MB** echoed.\n\n", enc / 1e6, dec / 1e6, mb_floor
    n = split(gnutls_speed, gs, " ")
    for (i = 1; i <= n; i++) { p = index(gs[i], "="); if (p) g[substr(gs[i], 1, p - 1)] = substr(gs[i], p + 1) }
    if ("ecdsa_p256_sign_us" in g) {
      g_hs = g["ecdsa_p256_sign_us"] + g["x25519_keygen_us"] + g["x25519_shared_us"]
      g_mb = 1e6 / g["aes128gcm_enc_mb_s"] + 1e6 / g["aes128gcm_dec_mb_s"]
      printf "The same operations the way moat does them (GnuTLS %s, nettle; `moat_loadgen speed`): ", gnutls_version
      printf "ECDSA P-256 sign %.1f µs + X25519 %.1f µs (key) + %.1f µs (shared secret) = **%.1f µs** per full handshake; ", g["ecdsa_p256_sign_us"], g["x25519_keygen_us"], g["x25519_shared_us"], g_hs
      printf "AES-128-GCM encrypt %.0f MB/s + decrypt %.0f MB/s = **%.0f µs per MB**.\n\n", g["aes128gcm_enc_mb_s"], g["aes128gcm_dec_mb_s"], g_mb
    }
    print "| scenario / figure | moat | Go | Erlang | nginx | no TLS (Go, TCP) |"
    print "| --- | ---: | ---: | ---: | ---: | ---: |"
    row("full handshake (" hs_conc " at a time): server µs per handshake", "hs_full", "server_us_per_op", 0, 1)
    row("  handshakes/s", "hs_full", "rate", 0)
    row("  server core busy", "hs_full", "server_util", 2)
    row("  server threads waiting for a CPU (s per s)", "hs_full", "server_runq_wait", 2)
    row("resumed handshake: server µs per handshake", "hs_resumed", "server_us_per_op", 0, 1)
    row("  handshakes/s", "hs_resumed", "rate", 0)
    row("  share resumed", "hs_resumed", "resumed_share", 3)
    row("echo 64 B × " echo_base " connections, 1 outstanding: server µs per message", "echo", "server_us_per_msg", 2, 1)
    row("  messages/s", "echo", "msg_rate", 0)
    row("  p50 latency µs", "echo", "p50_us", 0)
    row("  p99 latency µs", "echo", "p99_us", 0, 1)
    row("  server core busy", "echo", "server_util", 2)
    row("  server threads waiting for a CPU (s per s)", "echo", "server_runq_wait", 2)
    row("echo 64 B × " echo_base " connections, " pipeline " pipelined: server µs per message", "echo_pipelined", "server_us_per_msg", 2, 1)
    row("  messages/s", "echo_pipelined", "msg_rate", 0)
    row("  p50 latency µs", "echo_pipelined", "p50_us", 0)
    row("  p99 latency µs", "echo_pipelined", "p99_us", 0, 1)
    row("  server core busy", "echo_pipelined", "server_util", 2)
    row("  server threads waiting for a CPU (s per s)", "echo_pipelined", "server_runq_wait", 2)
    row("bulk 16 KiB × " bulk_conns " connections, 1 frame in flight: server µs per MB", "bulk", "server_us_per_mb", 0, 1)
    row("  MB/s", "bulk", "mb_per_s", 1)
    row("  server core busy", "bulk", "server_util", 2)
    row("  server threads waiting for a CPU (s per s)", "bulk", "server_runq_wait", 2)
    row("bulk 16 KiB × " bulk_conns " connections, " window_kib " KiB window: server µs per MB", "bulk_window", "server_us_per_mb", 0, 1)
    row("  MB/s", "bulk_window", "mb_per_s", 1)
    row("  server core busy", "bulk_window", "server_util", 2)
    row("  server threads waiting for a CPU (s per s)", "bulk_window", "server_runq_wait", 2)
    row("idle, " idle_n " connections: server KiB per connection", "idle_n" idle_n, "server_kib_per_conn", 1)
    print ""
    if (failures != "") { print "Errors reported by the load generator (wrong echoes, disconnects, failed runs):" failures; print "" }
    print "Scaling (moat and Go; server CPU per operation, or memory per connection, at each scale; median over the rounds):"
    print ""
    scaling("echo 64 B, 1 outstanding: server µs per message, at connections:", "echo", echo_scales, "server_us_per_msg", 2)
    scaling("full handshake: server µs per handshake, at concurrent:", "hs_full", hs_scales, "server_us_per_op", 0)
    scaling("idle: server KiB per connection, at connections:", "idle", idle_scales, "server_kib_per_conn", 1)
    print "| target (issue 7) | measured | limit | result |"
    print "| --- | ---: | ---: | --- |"
    m_e = get("moat", "echo", "server_us_per_msg")
    target("echo 64 B, 1 outstanding: moat / Go server CPU per message", ratio(m_e, get("go", "echo", "server_us_per_msg")), 0.9, "≤")
    m_ep = get("moat", "echo_pipelined", "server_us_per_msg")
    target("echo 64 B, " pipeline " pipelined: moat / Go server CPU per message", ratio(m_ep, get("go", "echo_pipelined", "server_us_per_msg")), 0.9, "≤")
    m_p99 = get("moat", "echo", "p99_us")
    target("echo 64 B, 1 outstanding: moat p99 / Go p99", ratio(m_p99, get("go", "echo", "p99_us")), 1, "<")
    target("echo 64 B, " pipeline " pipelined: moat p99 / Go p99", ratio(get("moat", "echo_pipelined", "p99_us"), get("go", "echo_pipelined", "p99_us")), 1, "<")
    m_bw = get("moat", "bulk_window", "server_us_per_mb")
    target("bulk 16 KiB, " window_kib " KiB window: moat / Go server CPU per MB", ratio(m_bw, get("go", "bulk_window", "server_us_per_mb")), 1.0, "≤")
    m_hs = get("moat", "hs_full", "server_us_per_op")
    target("full handshake: moat / Go server CPU", ratio(m_hs, get("go", "hs_full", "server_us_per_op")), 0.75, "≤")
    m_rs = get("moat", "hs_resumed", "server_us_per_op")
    target("resumed handshake: moat / Go server CPU", ratio(m_rs, get("go", "hs_resumed", "server_us_per_op")), 0.75, "≤")
    target("idle: moat KiB per established connection at 10,000", get("moat", "idle_n10000", "server_kib_per_conn"), 12, "≤")
    target("scaling, echo: moat largest / smallest", flat["moat", "echo"], 1.2, "≤")
    target("scaling, full handshake: moat largest / smallest", flat["moat", "hs_full"], 1.2, "≤")
    target("scaling, idle memory: moat largest / smallest", flat["moat", "idle"], 1.2, "≤")
    print ""
    print "| informative | value |"
    print "| --- | ---: |"
    m_b = get("moat", "bulk", "server_us_per_mb")
    printf "| bulk, 1 frame in flight: moat / Go server CPU per MB | %s |\n", fmt(ratio(m_b, get("go", "bulk", "server_us_per_mb")), 2)
    printf "| bulk, %s KiB window: moat server CPU per MB / AES-GCM enc+dec bound | %s |\n", window_kib, fmt(ratio(m_bw, mb_floor), 2)
    printf "| scaling: Go largest / smallest, echo / full handshake / idle | %s / %s / %s |\n", fmt(flat["go", "echo"], 2), fmt(flat["go", "hs_full"], 2), fmt(flat["go", "idle"], 2)
    printf "| full handshake: moat / nginx server CPU | %s |\n", fmt(ratio(m_hs, get("nginx", "hs_full", "server_us_per_op")), 2)
    printf "| full handshake: moat / Erlang server CPU | %s |\n", fmt(ratio(m_hs, get("erlang", "hs_full", "server_us_per_op")), 2)
    printf "| full handshake: moat / public-key floor, OpenSSL (%.0f µs) | %s |\n", hs_floor, fmt(ratio(m_hs, hs_floor), 2)
    if (g_hs != "") printf "| full handshake: moat / public-key floor, GnuTLS+nettle (%.0f µs) | %s |\n", g_hs, fmt(ratio(m_hs, g_hs), 2)
    if (g_hs != "") printf "| resumed handshake: moat / 2 × X25519 in nettle (%.0f µs) | %s |\n", g["x25519_keygen_us"] + g["x25519_shared_us"], fmt(ratio(m_rs, g["x25519_keygen_us"] + g["x25519_shared_us"]), 2)
    printf "| resumed handshake: moat / Erlang server CPU | %s |\n", fmt(ratio(m_rs, get("erlang", "hs_resumed", "server_us_per_op")), 2)
    printf "| resumed handshake: moat / nginx server CPU | %s |\n", fmt(ratio(m_rs, get("nginx", "hs_resumed", "server_us_per_op")), 2)
    printf "| echo, 1 outstanding / pipelined: moat / Erlang server CPU per message | %s / %s |\n", fmt(ratio(m_e, get("erlang", "echo", "server_us_per_msg")), 2), fmt(ratio(m_ep, get("erlang", "echo_pipelined", "server_us_per_msg")), 2)
    printf "| bulk, 1 frame / window: moat / Erlang server CPU per MB | %s / %s |\n", fmt(ratio(m_b, get("erlang", "bulk", "server_us_per_mb")), 2), fmt(ratio(m_bw, get("erlang", "bulk_window", "server_us_per_mb")), 2)
    # What moat and Go spend above the plain-TCP floor (the kernel and a Go runtime).
    t_hs = get("tcp", "hs_full", "server_us_per_op"); t_e = get("tcp", "echo", "server_us_per_msg")
    # (Pipelined, the plain-TCP server is no floor: it reads header and body with separate
    # read calls, where the TLS servers take several messages from one record.)
    t_b = get("tcp", "bulk", "server_us_per_mb"); t_bw = get("tcp", "bulk_window", "server_us_per_mb")
    printf "| full handshake: above the TCP floor (%s µs), moat / Go | %s |\n", fmt(t_hs, 0), above(m_hs, get("go", "hs_full", "server_us_per_op"), t_hs, 0, "µs")
    printf "| echo, 1 outstanding: above the TCP floor (%s µs), moat / Go | %s |\n", fmt(t_e, 2), above(m_e, get("go", "echo", "server_us_per_msg"), t_e, 2, "µs")
    printf "| bulk, 1 frame: above the TCP floor (%s µs/MB), moat / Go | %s |\n", fmt(t_b, 0), above(m_b, get("go", "bulk", "server_us_per_mb"), t_b, 0, "µs/MB")
    printf "| bulk, window: above the TCP floor (%s µs/MB), moat / Go | %s |\n", fmt(t_bw, 0), above(m_bw, get("go", "bulk_window", "server_us_per_mb"), t_bw, 0, "µs/MB")
    printf "| bulk, window: moat / (TCP floor + AES-GCM bound) | %s |\n", fmt(t_bw == "" ? "" : ratio(m_bw, t_bw + mb_floor), 2)
    m_i = get("moat", "idle_n" idle_n, "server_kib_per_conn")
    printf "| idle, %s connections: moat / Go memory per connection | %s |\n", idle_n, fmt(ratio(m_i, get("go", "idle_n" idle_n, "server_kib_per_conn")), 2)
    printf "| idle, %s connections: moat / Erlang memory per connection | %s |\n", idle_n, fmt(ratio(m_i, get("erlang", "idle_n" idle_n, "server_kib_per_conn")), 2)
  }' "$dir/results.txt"
}

if [[ -n $table_dir ]]; then
  render_table "$table_dir"
  exit 0
fi

# ---- Packages -----------------------------------------------------------------------------------
if [[ ${BENCH_SKIP_SETUP:-0} != 1 ]]; then
  bash "$ROOT/scripts/setup.sh"  # the project's own: compilers, GnuTLS, Boost, openssl, erlang-nox
  extra=()
  command -v go >/dev/null || extra+=(golang-go)
  command -v nginx >/dev/null || extra+=(nginx)
  command -v escript >/dev/null || extra+=(erlang-nox)
  command -v taskset >/dev/null || extra+=(util-linux)
  command -v ss >/dev/null || extra+=(iproute2)
  if ((${#extra[@]})); then
    log "installing ${extra[*]}"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
  fi
fi

# ---- Build: moat (Release), the load generator, the Go server --------------------------------
moat_bin=$build/src/cli/moat
loadgen=$build/bench/moat_loadgen
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  log "building moat and moat_loadgen (Release) in $build"
  cmake -S "$ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOAT_BUILD_TESTS=OFF \
    -DMOAT_BUILD_BENCH=ON >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
  ninja -C "$build" -j "${BENCH_JOBS:-1}" moat moat_loadgen >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; exit 1; }
fi
case " $servers " in *" go "* | *" tcp "*)
  log "building bench/peers/go_echo.go"
  build_go_echo "$work/go_echo"
  ;;
esac

# ---- Certificate, limits, the machine --------------------------------------------------------
"$loadgen" cert --out-cert "$work/cert.pem" --out-key "$work/key.pem"
# Descriptors: the server and the generator each need one per connection. Raise the hard
# limit as far as the largest scale needs (root with CAP_SYS_RESOURCE; fs.nr_open caps it);
# where that is refused, the scales above what the limit allows are lowered to it, and the
# table says so.
largest=$idle_n
for n in $echo_scales $idle_scales; do ((n > largest)) && largest=$n; done
want_fds=$((largest + 1000))
if (($(ulimit -Hn) < want_fds)); then
  ulimit -Hn "$want_fds" 2>/dev/null ||
    log "cannot raise the descriptor hard limit from $(ulimit -Hn) to $want_fds (not root, or no CAP_SYS_RESOURCE)"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cap_scale() {  # VAR: lowers the connection counts of the list in VAR to what the limit allows
  local -n list=$1
  local max=$(($(ulimit -n) - 1000)) capped=() n
  for n in $list; do
    if ((n > max)); then
      limit_note+="${limit_note:+ }$n connections asked, $max measured (descriptor limit $(ulimit -n): the hard limit could not be raised)."
      n=$max
    fi
    capped+=("$n")
  done
  list="${capped[*]}"
}
cap_scale echo_scales
cap_scale idle_scales
cap_scale idle_n
[[ -z $limit_note ]] || log "$limit_note"

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ncpu=$(nproc)
run_date=$(date -u +%F)
gnutls_version=$(pkg-config --modversion gnutls 2>/dev/null || echo '?')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
versions="moat $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ -n $(git -C "$ROOT" status --porcelain -- src include 2>/dev/null) ]]; then
  versions+="+local changes"
fi
versions+=", GnuTLS $gnutls_version"
command -v go >/dev/null && versions+=", $(go version | awk '{print $3}')"
command -v erl >/dev/null && versions+=", OTP $(erl -noshell -eval \
  'io:format("~s", [erlang:system_info(otp_release)]), halt().' 2>/dev/null || echo '?')"
command -v nginx >/dev/null && versions+=", $(nginx -v 2>&1 | sed 's/.*version: //')"
versions+=", $(openssl version | awk '{print "OpenSSL " $2}')"

# ---- The physical limit: openssl speed on the server's CPU -------------------------------------
log "openssl speed (ECDSA P-256, X25519, AES-128-GCM 16 KiB) on CPU $scpu"
taskset -c "$scpu" openssl speed -mr -seconds 2 ecdsap256 ecdhx25519 >"$work/speed-pk.txt" 2>&1
taskset -c "$scpu" openssl speed -mr -seconds 2 -bytes 16384 -evp aes-128-gcm \
  >"$work/speed-enc.txt" 2>&1
taskset -c "$scpu" openssl speed -mr -seconds 2 -bytes 16384 -decrypt -evp aes-128-gcm \
  >"$work/speed-dec.txt" 2>&1
sign_per_s=$(awk -F: '/^\+F4:/ {print $4}' "$work/speed-pk.txt")
x25519_per_s=$(awk -F: '/^\+F5:/ {print $4}' "$work/speed-pk.txt")
enc_bps=$(awk -F: '/^\+F:/ {print $NF}' "$work/speed-enc.txt")
dec_bps=$(awk -F: '/^\+F:/ {print $NF}' "$work/speed-dec.txt")
# The same operations as moat's server does them: GnuTLS (ECDSA, AES-GCM) and nettle (X25519).
log "moat_loadgen speed (GnuTLS/nettle: ECDSA P-256, X25519, AES-128-GCM 16 KiB) on CPU $scpu"
gnutls_speed=$(taskset -c "$scpu" "$loadgen" speed --seconds 2 | grep '^result ' || true)

# ---- Servers ------------------------------------------------------------------------------------
# Listening ports below the ephemeral range (32768-60999 by default), which the generator's
# many short connections use up; a port still in use in any TCP state is skipped.
port=$((20000 + RANDOM % 10000))
server_pid=


write_nginx_conf() {  # port
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<EOF
# nginx for the full-handshake cost: TLS termination and "return 200" (bench/run.sh).
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "ok"; }
  }
}
EOF
}

start_server() {  # name
  local name=$1 out="$work/$1.log"
  next_port
  case $name in
    moat)
      taskset -c "$scpu" "$moat_bin" serve --listen "127.0.0.1:$port" --packet 4 \
        --cert "$work/cert.pem" --key "$work/key.pem" --workers 1 --log-format text \
        --max-connections 1000000 >>"$out" 2>&1 &
      ;;
    go)
      GOMAXPROCS=1 taskset -c "$scpu" "$work/go_echo" -listen "127.0.0.1:$port" \
        -cert "$work/cert.pem" -key "$work/key.pem" >>"$out" 2>&1 &
      ;;
    tcp)
      GOMAXPROCS=1 taskset -c "$scpu" "$work/go_echo" -listen "127.0.0.1:$port" -plain \
        >>"$out" 2>&1 &
      ;;
    erlang)
      taskset -c "$scpu" escript "$ROOT/bench/peers/erlang_echo.escript" "$port" \
        "$work/cert.pem" "$work/key.pem" >>"$out" 2>&1 &
      ;;
    nginx)
      write_nginx_conf "$port"
      taskset -c "$scpu" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" \
        -e "$work/nginx/error.log" >>"$out" 2>&1 &
      ;;
  esac
  server_pid=$!
  if wait_listening "$port"; then return 0; fi
  log "$name did not start listening on port $port; its output ($out):"
  tail -20 "$out" >&2
  return 1
}

trap stop_server EXIT  # never leave a server behind (Ctrl-C, a failed step)

results=$work/results.txt
: >"$results"

# One measurement: a fresh server, the generator on the other CPU, one result line.
run_case() {  # round server case loadgen-args...
  local round=$1 server=$2 case_=$3 line load
  shift 3
  if ! start_server "$server"; then
    echo "round=$round server=$server case=$case_ failed=start" >>"$results"
    return 0
  fi
  sleep 0.2
  load=$(cut -d' ' -f1 /proc/loadavg)
  local perf_pid='' perf_out=$work/perf-$server-$case_-r$round
  if [[ ${BENCH_PERF:-0} == 1 && $case_ != idle ]]; then
    # Samples the server over the measured window (perf's own cost shows in the figures).
    local pids=$server_pid kid
    for kid in $(pgrep -P "$server_pid" || true); do pids+=",$kid"; done  # nginx's worker
    (sleep "$warmup" && exec perf record -q -e cpu-clock -F 999 -g -p "$pids" \
      -o "$perf_out.data" -- sleep "$secs") >/dev/null 2>&1 &
    perf_pid=$!
  fi
  line=$(taskset -c "$ccpu" "$loadgen" "$@" --port "$port" --server-pid "$server_pid" \
    2>>"$work/loadgen.err" | grep '^result ' || true)
  if [[ -n $perf_pid ]]; then
    wait "$perf_pid" 2>/dev/null || true
    { perf report -i "$perf_out.data" --no-children --sort dso -g none 2>/dev/null | grep '%'
      echo
      perf report -i "$perf_out.data" --no-children --sort dso,sym -g none 2>/dev/null |
        grep '%' | head -40 | cut -c1-160; } >"$perf_out.txt" || true
  fi
  stop_server
  if [[ -z $line ]]; then
    log "round $round: $server $case_: no result (see $work/loadgen.err, $work/$server.log)"
    echo "round=$round server=$server case=$case_ failed=run" >>"$results"
    return 0
  fi
  echo "round=$round server=$server case=$case_ load=$load ${line#result }" >>"$results"
  log "round $round: $server $case_: ${line#result }"
}

has() { case " $servers " in *" $1 "*) return 0 ;; esac; return 1; }

log "work directory: $work; $secs s windows, $rounds round(s); echo at $echo_scales connections," \
  "full handshakes at $hs_scales concurrent, idle at $idle_scales connections (Erlang $idle_n)"
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
  log "the load average is $(cut -d' ' -f1 /proc/loadavg): other work on this machine will add noise" \
    "(see the 'waiting for a CPU' rows)"
fi
timing=(--seconds "$secs" --warmup "$warmup")
# The servers of a scenario run one after the other, in an order that rotates every round.
in_order() {  # round server...: the servers that were asked for, rotated by round - 1
  local round=$1 list=() i n
  shift
  for s in "$@"; do has "$s" && list+=("$s"); done
  n=${#list[@]}
  for ((i = 0; i < n; i++)); do printf '%s\n' "${list[$(((i + round - 1) % n))]}"; done
}
proto_of() { if [[ $1 == nginx ]]; then echo http; else echo packet4; fi; }
# The generator's transport flag: --plain for the TCP floor (an argument that is always there).
transport_of() { if [[ $1 == tcp ]]; then echo --plain; else echo --max-errors=1000; fi; }

for round in $(seq "$rounds"); do
  for s in $(in_order "$round" moat go erlang nginx tcp); do
    run_case "$round" "$s" hs_full handshake --resume=no --proto "$(proto_of "$s")" \
      "$(transport_of "$s")" --concurrency "$hs_conc" "${timing[@]}"
  done
  for s in $(in_order "$round" moat go erlang nginx); do
    run_case "$round" "$s" hs_resumed handshake --resume=yes --proto "$(proto_of "$s")" \
      --concurrency "$hs_conc" "${timing[@]}"
  done
  for s in $(in_order "$round" moat go erlang tcp); do
    run_case "$round" "$s" echo echo "$(transport_of "$s")" --connections "$echo_base" \
      --size 64 "${timing[@]}"
  done
  for s in $(in_order "$round" moat go erlang tcp); do
    run_case "$round" "$s" echo_pipelined echo "$(transport_of "$s")" --connections "$echo_base" \
      --size 64 --pipeline "$pipeline" "${timing[@]}"
  done
  for s in $(in_order "$round" moat go erlang tcp); do
    run_case "$round" "$s" bulk bulk "$(transport_of "$s")" --connections "$bulk_conns" \
      --size 16384 --window 16384 "${timing[@]}"
  done
  for s in $(in_order "$round" moat go erlang tcp); do
    run_case "$round" "$s" bulk_window bulk "$(transport_of "$s")" --connections "$bulk_conns" \
      --size 16384 --window "$bulk_window" "${timing[@]}"
  done
  # Scaling: moat and Go at the other scales (the main scenarios are the base scale).
  for n in $echo_scales; do
    ((n == echo_base)) && continue
    for s in $(in_order "$round" moat go); do
      run_case "$round" "$s" "echo_n$n" echo --max-errors=1000 --connections "$n" --size 64 \
        "${timing[@]}"
    done
  done
  for n in $hs_scales; do
    ((n == hs_conc)) && continue
    for s in $(in_order "$round" moat go); do
      run_case "$round" "$s" "hs_full_n$n" handshake --resume=no --proto packet4 \
        --max-errors=1000 --concurrency "$n" "${timing[@]}"
    done
  done
done
# Idle memory: moat and Go at every scale, Erlang at the main table's.
# shellcheck disable=SC2086  # a list of words
idle_all=$(printf '%s\n' $idle_scales "$idle_n" | sort -n -u)
for n in $idle_all; do
  for s in $(in_order 1 moat go erlang); do
    [[ $s == erlang && $n != "$idle_n" ]] && continue
    run_case 1 "$s" "idle_n$n" idle --connections "$n" --hold 0
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

save_meta() { declare -p "${meta_vars[@]}" >"$work/meta.sh"; }
table=$work/table.md
save_meta
render_table "$work" >"$table"

echo
cat "$table"
echo
log "raw results: $results; table: $table"
