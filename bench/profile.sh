#!/usr/bin/env bash
# Data-path counts per operation (issue 7; docs/bench.md "Data path counts"): for `moat serve`
# and, for comparison, the Go crypto/tls server, in three scenarios of bench/run.sh —
#
#   echo            64 B {packet,4} echo, 100 connections, 1 message outstanding each
#   echo_pipelined  the same with 8 messages in flight per connection
#   bulk_window     16 KiB frames, 4 connections, a 1 MiB window in flight per connection
#   echo_c10000     (not by default) the echo at 10,000 connections, for the scaling row
#
# it measures, over exactly the load generator's measured window (its --window-start-cmd and
# --window-end-cmd hooks enable and disable perf and read the counters):
#
#   - syscalls per message (per MB for bulk): `perf stat -e 'syscalls:sys_enter_*'` on the
#     server's threads, every syscall entered, listed by name;
#   - heap calls per message / per MB (moat only; Go has its own allocator): malloc, calloc,
#     realloc, free and the aligned allocators, counted by bench/malloc_count.cpp
#     (libmoat_malloc_count.so, LD_PRELOAD) in a shared file read at both ends of the window;
#   - where the server's CPU time goes: `perf record -e cpu-clock` (self time, no call graphs),
#     by object and the top symbols.
#
# Prints a markdown report (also written to WORK/profile.md) to paste into docs/bench.md.
# perf runs on the load generator's CPU, but its sampling and tracepoints cost the server a
# little: the µs figures printed here are for orientation, bench/run.sh's are the benchmark.
#
#   bench/profile.sh                     # 5 s windows, moat and Go
#   bench/profile.sh --seconds 3 --servers moat
#   bench/profile.sh --scenarios "echo echo_c10000"
#
# Environment: BENCH_BUILD_DIR (build/bench), BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1),
# BENCH_WORK_DIR (a new /tmp/moat-profile.XXXXXX), BENCH_SKIP_BUILD=1 (use what is built),
# BENCH_JOBS (ninja -j, 1), PROFILE_TOP (symbols listed per run, 12).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
secs=5
servers="moat go"
scenario_list="echo echo_pipelined bulk_window"
while (($#)); do
  a=$1
  shift
  case $a in
    --seconds) secs=${1:?--seconds needs a value}; shift ;;
    --servers) servers=${1:?--servers needs a list}; shift ;;
    --scenarios) scenario_list=${1:?--scenarios needs a list}; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "profile.sh: unknown argument '$a' (try --help)" >&2; exit 64 ;;
  esac
done
build=${BENCH_BUILD_DIR:-$ROOT/build/bench}
scpu=${BENCH_SERVER_CPU:-0}
ccpu=${BENCH_CLIENT_CPU:-1}
top=${PROFILE_TOP:-12}
work=${BENCH_WORK_DIR:-$(mktemp -d /tmp/moat-profile.XXXXXX)}
mkdir -p "$work"
log() { printf 'profile: %s\n' "$*" >&2; }

for tool in perf taskset ss; do
  command -v "$tool" >/dev/null || { log "needs $tool"; exit 1; }
done
if ! perf list 'syscalls:sys_enter_sendto' 2>/dev/null | grep -q sendto; then
  log "perf has no syscalls:* tracepoints here (tracefs, permissions?)"
  exit 1
fi

moat_bin=$build/src/cli/moat
loadgen=$build/bench/moat_loadgen
shim=$build/bench/libmoat_malloc_count.so
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  log "building moat, moat_loadgen, moat_malloc_count (Release) in $build"
  if [[ ! -f $build/build.ninja ]]; then
    cmake -S "$ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOAT_BUILD_TESTS=OFF \
      -DMOAT_BUILD_BENCH=ON >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
  fi
  ninja -C "$build" -j "${BENCH_JOBS:-1}" moat moat_loadgen moat_malloc_count \
    >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
fi
case " $servers " in *" go "*)
  log "building bench/peers/go_echo.go"
  build_go_echo "$work/go_echo"
  ;;
esac
"$loadgen" cert --out-cert "$work/cert.pem" --out-key "$work/key.pem"

port=$((30000 + RANDOM % 2000))
server_pid=
start_server() {  # name dir
  local name=$1 dir=$2
  next_port
  case $name in
    moat)
      MOAT_MALLOC_COUNT_DIR=$dir LD_PRELOAD=$shim taskset -c "$scpu" "$moat_bin" serve \
        --listen "127.0.0.1:$port" --packet 4 --cert "$work/cert.pem" --key "$work/key.pem" \
        --workers 1 --log-format text >>"$dir/server.log" 2>&1 &
      ;;
    go)
      GOMAXPROCS=1 taskset -c "$scpu" "$work/go_echo" -listen "127.0.0.1:$port" \
        -cert "$work/cert.pem" -key "$work/key.pem" >>"$dir/server.log" 2>&1 &
      ;;
  esac
  server_pid=$!
  if wait_listening "$port"; then return 0; fi
  log "$name did not start; $dir/server.log:"
  tail -20 "$dir/server.log" >&2
  return 1
}
perf_pids=()
cleanup() {
  local p
  for p in "${perf_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  stop_server
}
trap cleanup EXIT

# scenario name, its label, the generator's arguments, and the unit of one operation.
read -r -a scenarios <<<"$scenario_list"
declare -A label args unit
label[echo]="echo 64 B × 100, 1 outstanding"
args[echo]="echo --connections 100 --size 64"
unit[echo]=msg
label[echo_pipelined]="echo 64 B × 100, 8 pipelined"
args[echo_pipelined]="echo --connections 100 --size 64 --pipeline 8"
unit[echo_pipelined]=msg
label[bulk_window]="bulk 16 KiB × 4, 1 MiB window"
args[bulk_window]="bulk --connections 4 --size 16384 --window 1048576"
unit[bulk_window]=MB
label[echo_c10000]="echo 64 B × 10,000, 1 outstanding"
args[echo_c10000]="echo --connections 10000 --size 64"
unit[echo_c10000]=msg
for sc in "${scenarios[@]}"; do
  [[ -n ${args[$sc]:-} ]] || { log "unknown scenario '$sc'"; exit 64; }
done

# One profiled run: WORK/SERVER-SCENARIO/{result.txt,stat.csv,malloc.start,malloc.end,perf.data}.
profile_one() {  # server scenario
  local server=$1 sc=$2 dir=$work/$1-$2
  mkdir -p "$dir"
  start_server "$server" "$dir" || return 1
  sleep 0.3
  local f
  for f in stat.ctl stat.ack rec.ctl rec.ack; do rm -f "$dir/$f"; mkfifo "$dir/$f"; done
  taskset -c "$ccpu" perf stat -x, -e 'syscalls:sys_enter_*' -D -1 \
    --control "fifo:$dir/stat.ctl,$dir/stat.ack" -p "$server_pid" -o "$dir/stat.csv" \
    >"$dir/perf-stat.log" 2>&1 &
  local stat_pid=$!
  taskset -c "$ccpu" perf record -q -e cpu-clock -F 999 -D -1 \
    --control "fifo:$dir/rec.ctl,$dir/rec.ack" -p "$server_pid" -o "$dir/perf.data" \
    >"$dir/perf-record.log" 2>&1 &
  local rec_pid=$!
  perf_pids=("$stat_pid" "$rec_pid")
  local counts=$dir/malloc-count.$server_pid
  # The hooks: enable perf (and wait for its acknowledgement), read the heap counters; at the
  # end the other way round. The heap counter file exists for moat only.
  cat >"$dir/start.sh" <<EOF
echo enable >"$dir/stat.ctl" && read -r _ <"$dir/stat.ack"
echo enable >"$dir/rec.ctl" && read -r _ <"$dir/rec.ack"
if [ -f "$counts" ]; then od -An -t u8 -w8 "$counts" >"$dir/malloc.start"; fi
EOF
  cat >"$dir/end.sh" <<EOF
if [ -f "$counts" ]; then od -An -t u8 -w8 "$counts" >"$dir/malloc.end"; fi
echo disable >"$dir/stat.ctl" && read -r _ <"$dir/stat.ack"
echo disable >"$dir/rec.ctl" && read -r _ <"$dir/rec.ack"
EOF
  # shellcheck disable=SC2086  # the generator's arguments are words
  taskset -c "$ccpu" "$loadgen" ${args[$sc]} --port "$port" --server-pid "$server_pid" \
    --seconds "$secs" --warmup 1 --window-start-cmd "timeout 20 sh $dir/start.sh" \
    --window-end-cmd "timeout 20 sh $dir/end.sh" 2>"$dir/loadgen.err" |
    grep '^result ' >"$dir/result.txt" || true
  kill -INT "$stat_pid" "$rec_pid" 2>/dev/null || true
  wait "$stat_pid" "$rec_pid" 2>/dev/null || true
  perf_pids=()
  stop_server
  if [[ ! -s $dir/result.txt ]]; then
    log "$server $sc: no result (see $dir/loadgen.err)"
    return 1
  fi
  log "$server $sc: $(cut -c8- "$dir/result.txt")"
  perf report -i "$dir/perf.data" --no-children --sort dso -g none --stdio 2>/dev/null |
    grep '%' | grep -v '^#' >"$dir/dso.txt" || true
  perf report -i "$dir/perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null |
    grep '%' | grep -v '^#' | head -n "$top" >"$dir/sym.txt" || true
}

log "work directory: $work; $secs s windows; servers: $servers"
for server in $servers; do
  for sc in "${scenarios[@]}"; do
    profile_one "$server" "$sc" || true
  done
done

# ---- The report ------------------------------------------------------------------------------
field() {  # file key
  tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k {print $2}'
}
report() {
  local server sc dir ops cols=() head sep
  echo "Counts per operation over a ${secs} s window, $(date -u +%F), moat $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'),"
  echo "server on CPU $scpu, load generator and perf on CPU $ccpu; load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Per message for echo, per MB (10⁶ payload bytes echoed, 61 frames of 16 KiB) for bulk."
  echo
  for server in $servers; do
    head="| $server | "
    sep="| --- |"
    cols=()
    for sc in "${scenarios[@]}"; do
      [[ -s $work/$server-$sc/result.txt ]] || continue
      cols+=("$sc")
      head+="${label[$sc]} (per ${unit[$sc]}) | "
      sep+=" ---: |"
    done
    ((${#cols[@]})) || continue
    echo "${head% }"
    echo "$sep"
    # Operations in the window, then one line per figure.
    {
      for sc in "${cols[@]}"; do
        dir=$work/$server-$sc
        if [[ ${unit[$sc]} == MB ]]; then
          ops=$(awk -v m="$(field "$dir/result.txt" messages)" -v s="$(field "$dir/result.txt" size)" 'BEGIN {print m * s / 1e6}')
        else
          ops=$(field "$dir/result.txt" messages)
        fi
        echo "ops $sc $ops"
        echo "cpu $sc $(field "$dir/result.txt" server_cpu_s)"
        awk -F, -v sc="$sc" '$1 ~ /^[0-9]+$/ && $1 > 0 {sub(/^syscalls:sys_enter_/, "", $3); print "sys", sc, $3, $1}' "$dir/stat.csv"
        if [[ -s $dir/malloc.start && -s $dir/malloc.end ]]; then
          paste "$dir/malloc.start" "$dir/malloc.end" |
            awk -v sc="$sc" 'BEGIN {split("malloc calloc realloc free aligned bytes", n, " ")} {print "heap", sc, n[NR], $2 - $1}'
        fi
      done
    } | awk -v cols="${cols[*]}" -v server="$server" '
      function f(v) { return v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : sprintf("%.2f", v) }
      { if ($1 == "ops") ops[$2] = $3
        else if ($1 == "cpu") cpu[$2] = $3
        else if ($1 == "sys") { sys[$2, $3] = $4; total[$2] += $4; names[$3] = 1 }
        else if ($1 == "heap") { heap[$2, $3] = $4; has_heap = 1 } }
      END {
        n = split(cols, c, " ")
        line = "| server CPU µs (perf attached)"
        for (i = 1; i <= n; i++) line = line " | " (ops[c[i]] > 0 ? f(cpu[c[i]] * 1e6 / ops[c[i]]) : "—")
        print line " |"
        line = "| syscalls, all"
        for (i = 1; i <= n; i++) line = line " | " (ops[c[i]] > 0 ? f(total[c[i]] / ops[c[i]]) : "—")
        print line " |"
        # The syscalls, most frequent first (by their largest per-operation figure).
        m = 0
        for (s in names) {
          best = 0
          for (i = 1; i <= n; i++) if (ops[c[i]] > 0 && sys[c[i], s] / ops[c[i]] > best) best = sys[c[i], s] / ops[c[i]]
          if (best < 0.01) continue
          m++; key[m] = s; val[m] = best
        }
        for (i = 2; i <= m; i++) { k = key[i]; v = val[i]; for (j = i - 1; j >= 1 && val[j] < v; j--) { key[j + 1] = key[j]; val[j + 1] = val[j] } key[j + 1] = k; val[j + 1] = v }
        for (j = 1; j <= m; j++) {
          line = "|   `" key[j] "`"
          for (i = 1; i <= n; i++) line = line " | " (ops[c[i]] > 0 ? f(sys[c[i], key[j]] / ops[c[i]]) : "—")
          print line " |"
        }
        if (!has_heap) {
          line = "| heap calls"
          for (i = 1; i <= n; i++) line = line " | " (server == "go" ? "(Go allocator)" : "—")
          print line " |"
          exit
        }
        split("malloc calloc realloc free aligned", h, " ")
        line = "| heap calls, all (malloc + calloc + realloc + aligned)"
        for (i = 1; i <= n; i++) line = line " | " (ops[c[i]] > 0 ? f((heap[c[i], "malloc"] + heap[c[i], "calloc"] + heap[c[i], "realloc"] + heap[c[i], "aligned"]) / ops[c[i]]) : "—")
        print line " |"
        for (k = 1; k <= 5; k++) {
          line = "|   `" (h[k] == "aligned" ? "aligned_alloc`, `posix_memalign`, `memalign" : h[k]) "`"
          for (i = 1; i <= n; i++) line = line " | " (ops[c[i]] > 0 ? f(heap[c[i], h[k]] / ops[c[i]]) : "—")
          print line " |"
        }
        line = "| heap bytes requested"
        for (i = 1; i <= n; i++) line = line " | " (ops[c[i]] > 0 ? f(heap[c[i], "bytes"] / ops[c[i]]) : "—")
        print line " |"
      }'
    echo
  done
  echo "Where the server's CPU time goes (\`perf record -e cpu-clock\`, self time): by object, then the top $top symbols."
  echo
  for server in $servers; do
    for sc in "${scenarios[@]}"; do
      dir=$work/$server-$sc
      [[ -s $dir/sym.txt ]] || continue
      echo "**$server, ${label[$sc]}** — by object: $(awk '$1 + 0 >= 1 {printf "%s%s %s", (n++ ? ", " : ""), $2, $1} END {print ""}' "$dir/dso.txt")"
      echo
      echo "| self | object | symbol |"
      echo "| ---: | --- | --- |"
      awk '{ pct = $1; dso = $2; sub(/^[ \t]*[^ \t]+[ \t]+[^ \t]+[ \t]+\[.\][ \t]+/, ""); s = $0
             if (length(s) > 100) s = substr(s, 1, 97) "..."
             gsub(/\|/, "\\|", s); printf "| %s | %s | `%s` |\n", pct, dso, s }' "$dir/sym.txt"
      echo
    done
  done
}
report | tee "$work/profile.md"
log "report: $work/profile.md"
