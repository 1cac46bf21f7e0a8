#!/usr/bin/env bash
# moat's ACME benchmark (docs/bench.md): the wall time to obtain one certificate for
# "localhost", a fresh account each run, from two real ACME servers -- Pebble (Debian's pebble
# 2.4.0, PEBBLE_VA_NOSLEEP=1, its default 5% of good nonces rejected) and moat's own CA
# (`moat ca serve`) -- for `moat cert obtain`, the in-process acme::client::obtain() and the
# peers certbot (standalone HTTP-01), lego (--http) and Caddy (automatic HTTPS, HTTP-01 or
# TLS-ALPN-01), side by side; and the whole flow with CA and client in one process
# (acme::ca + acme::client: account, order, HTTP-01, finalize, download). A markdown table of
# medians, min-max and the ratio to the fastest peer on the same server. Not part of the test
# command.
#
#   bench/acme.sh                 # 5 runs per tool and server
#   ACME_RUNS=3 ACME_TOOLS="certbot caddy" ACME_SERVERS=moat-ca bench/acme.sh
#
# Environment: ACME_RUNS (5), ACME_TOOLS ("moat moat-api certbot lego caddy in-process"),
# ACME_SERVERS ("pebble moat-ca"), ACME_MOAT (the moat binary; default
# build/release/src/cli/moat, else `moat` on PATH), ACME_MOAT_API (the in-process timer,
# default build/release/bench/moat_acme_obtain), ACME_TIMEOUT (120 s per run), ACME_WORK_DIR
# (a new /tmp/moat-acme-bench.XXXXXX: certificates, logs, the table), BENCH_SKIP_SETUP=1 (no
# apt).
#
# A tool's time runs from its start until it has the certificate: until certbot, lego and
# moat exit (0), and for Caddy, a server that keeps running, until its log says "certificate
# obtained successfully". `moat cert obtain` is detected by its --help; while it does not
# exist its row says "not built" (and so do the moat CA's rows without `moat ca serve`). A run
# that fails (e.g. certbot 2.1 gives up when Pebble refuses a nonce twice in a row) is
# reported and replaced by another, up to ACME_RUNS failures. The in-process row is
# ACME_RUNS obtain() calls in one process (bench/acme_obtain.cpp --in-process).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
case ${1:-} in
  -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "acme.sh: unknown argument '$1' (try --help)" >&2; exit 64 ;;
esac

runs=${ACME_RUNS:-5}
tools=${ACME_TOOLS:-moat moat-api certbot lego caddy in-process}
servers=${ACME_SERVERS:-pebble moat-ca}
run_timeout=${ACME_TIMEOUT:-120}
work=${ACME_WORK_DIR:-$(mktemp -d /tmp/moat-acme-bench.XXXXXX)}
mkdir -p "$work"
log() { printf 'acme-bench: %s\n' "$*" >&2; }

if [[ ${BENCH_SKIP_SETUP:-0} != 1 ]]; then bash "$ROOT/scripts/setup.sh"; fi
moat_bin=${ACME_MOAT:-}
if [[ -z $moat_bin ]]; then
  if [[ -x $ROOT/build/release/src/cli/moat ]]; then
    moat_bin=$ROOT/build/release/src/cli/moat
  else
    moat_bin=$(command -v moat || true)
  fi
fi

# The in-process row's binary (bench/acme_obtain.cpp), built with -DMOAT_BUILD_BENCH=ON.
moat_api_bin=${ACME_MOAT_API:-$ROOT/build/release/bench/moat_acme_obtain}

# ---- Ports -------------------------------------------------------------------------------------
# Both servers' validation connects to the same two ports, where every client answers.
port=$((20000 + RANDOM % 10000))
next_port; acme_port=$port
next_port; mgmt_port=$port
next_port; http_port=$port
next_port; tls_port=$port
next_port; dns_port=$port
next_port; dns_mgmt_port=$port
next_port; moat_ca_port=$port

pebble_pid='' dns_pid='' caddy_pid='' moat_ca_pid=''
cleanup() {
  local p
  for p in $caddy_pid $pebble_pid $dns_pid $moat_ca_pid; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $caddy_pid $pebble_pid $dns_pid $moat_ca_pid; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# wait_directory URL CAFILE PID: until URL answers over TLS trusting CAFILE (30 s); false if PID
# exits first.
wait_directory() {
  local _
  for _ in $(seq 600); do
    if [[ -s $2 ]] && curl -sf --cacert "$2" -o /dev/null "$1"; then return 0; fi
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# ---- Pebble, its listener certificate and its DNS ----------------------------------------------
# The listener certificate comes from a throw-away CA made here; every client trusts that CA:
# certbot through REQUESTS_CA_BUNDLE (Python requests), lego through LEGO_CA_CERTIFICATES, Caddy
# through `ca_root` in its tls block, moat through --acme-cacert.
pebble_dir_url=https://localhost:$acme_port/dir
pebble_ca=$work/ca.pem
start_pebble() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj "/CN=moat ACME bench CA" -keyout "$work/ca.key" -out "$pebble_ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$work/pebble.key" -out "$work/pebble.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" >"$work/pebble.ext"
  openssl x509 -req -in "$work/pebble.csr" -CA "$pebble_ca" -CAkey "$work/ca.key" \
    -CAcreateserial -days 7 -extfile "$work/pebble.ext" -out "$work/pebble.pem" 2>/dev/null

  cat >"$work/pebble-config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/pebble.pem",
    "privateKey": "$work/pebble.key",
    "httpPort": $http_port,
    "tlsPort": $tls_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF

  # Pebble resolves names through pebble-challtestsrv: A 127.0.0.1 for every name, no AAAA, so
  # "localhost" validates against 127.0.0.1, where every client listens, whatever /etc/hosts
  # says.
  pebble-challtestsrv -http01 "" -https01 "" -tlsalpn01 "" -dns01 "127.0.0.1:$dns_port" \
    -management "127.0.0.1:$dns_mgmt_port" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
    >"$work/challtestsrv.log" 2>&1 &
  dns_pid=$!
  server_pid=$dns_pid  # what common.sh's wait_listening watches
  wait_listening "$dns_port" || { cat "$work/challtestsrv.log" >&2; exit 1; }

  env -u PEBBLE_WFE_NONCEREJECT -u PEBBLE_AUTHZREUSE -u PEBBLE_VA_ALWAYS_VALID \
    -u PEBBLE_ALTERNATE_ROOTS -u PEBBLE_CHAIN_LENGTH PEBBLE_VA_NOSLEEP=1 \
    pebble -config "$work/pebble-config.json" -dnsserver "127.0.0.1:$dns_port" \
    >"$work/pebble.log" 2>&1 &
  pebble_pid=$!
  if ! wait_directory "$pebble_dir_url" "$pebble_ca" "$pebble_pid"; then
    log "Pebble did not come up:"
    cat "$work/pebble.log" >&2
    exit 1
  fi
  log "Pebble at $pebble_dir_url (VA: HTTP-01 on $http_port, TLS-ALPN-01 on $tls_port)"
}

# ---- moat's CA ----------------------------------------------------------------------------------
# `moat ca serve` with its own data directory: its HTTPS certificate comes from its own root,
# which every client trusts through the same knobs as Pebble's CA above. It resolves
# "localhost" through the system resolver and validates on the same two ports.
moat_ca_dir_url=https://127.0.0.1:$moat_ca_port/acme/directory
moat_ca_root=$work/moat-ca/root.pem
moat_ca_available() {
  [[ -n $moat_bin && -x $moat_bin ]] && "$moat_bin" ca serve --help >/dev/null 2>&1
}
start_moat_ca() {
  "$moat_bin" ca serve --listen "127.0.0.1:$moat_ca_port" --data-dir "$work/moat-ca" \
    --http01-port "$http_port" --tls-alpn01-port "$tls_port" >"$work/moat-ca.log" 2>&1 &
  moat_ca_pid=$!
  if ! wait_directory "$moat_ca_dir_url" "$moat_ca_root" "$moat_ca_pid"; then
    log "moat ca serve did not come up:"
    cat "$work/moat-ca.log" >&2
    exit 1
  fi
  log "moat ca serve at $moat_ca_dir_url (validates on $http_port and $tls_port)"
}

for server in $servers; do
  case $server in
    pebble) start_pebble ;;
    moat-ca) if moat_ca_available; then start_moat_ca; fi ;;
    *) echo "acme.sh: unknown server '$server' in ACME_SERVERS (pebble, moat-ca)" >&2; exit 64 ;;
  esac
done
log "work dir $work"

# ---- One run of each tool ------------------------------------------------------------------------
now_ns() { date +%s%N; }

# wait_port_free PORT: until nothing listens on 127.0.0.1:PORT (the previous run's challenge
# server is gone); false after 10 s.
wait_port_free() {
  local _
  for _ in $(seq 200); do
    ss -ltnH "sport = :$1" 2>/dev/null | grep -q . || return 0
    sleep 0.05
  done
  return 1
}

# names_localhost CERTFILE: the leaf names DNS:localhost.
names_localhost() {
  [[ -s $1 ]] && openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | grep -q 'DNS:localhost'
}

moat_available() {
  [[ -n $moat_bin && -x $moat_bin ]] &&
    "$moat_bin" cert obtain --help 2>&1 | grep -q 'Usage: .*cert obtain'
}

# run_tool TOOL DIR: obtains one certificate into DIR and sets `elapsed_ns`, or fails.
run_tool() {
  local tool=$1 d=$2 t0 t1
  mkdir -p "$d"
  if ! wait_port_free "$http_port" || ! wait_port_free "$tls_port"; then
    log "the challenge ports are still in use"
    return 1
  fi
  case $tool in
    moat)
      t0=$(now_ns)
      timeout "$run_timeout" "$moat_bin" cert obtain --acme "$dir_url" --acme-cacert "$ca" \
        --domain localhost --http-port "$http_port" --out-cert "$d/cert.pem" \
        --out-key "$d/key.pem" >"$d/log" 2>&1 || return 1
      t1=$(now_ns)
      names_localhost "$d/cert.pem" || return 1
      ;;
    moat-api)
      timeout "$run_timeout" "$moat_api_bin" "$dir_url" "$ca" "$http_port" localhost \
        >"$d/log" 2>&1 || return 1
      elapsed_ns=$(awk '$1 == "elapsed_ns" {print $2}' "$d/log")
      [[ -n $elapsed_ns ]] || return 1
      return 0
      ;;
    certbot)
      t0=$(now_ns)
      REQUESTS_CA_BUNDLE=$ca timeout "$run_timeout" certbot certonly --standalone \
        --server "$dir_url" --preferred-challenges http --http-01-address 127.0.0.1 \
        --http-01-port "$http_port" --config-dir "$d/config" --work-dir "$d/work" \
        --logs-dir "$d/logs" --register-unsafely-without-email --agree-tos --non-interactive \
        -d localhost >"$d/log" 2>&1 || return 1
      t1=$(now_ns)
      names_localhost "$d/config/live/localhost/cert.pem" || return 1
      ;;
    lego)
      t0=$(now_ns)
      LEGO_CA_CERTIFICATES=$ca timeout "$run_timeout" lego --server "$dir_url" --accept-tos \
        --email acme-bench@example.com --domains localhost --http \
        --http.port "127.0.0.1:$http_port" --path "$d/lego" run >"$d/log" 2>&1 || return 1
      t1=$(now_ns)
      names_localhost "$d/lego/certificates/localhost.crt" || return 1
      ;;
    caddy)
      cat >"$d/Caddyfile" <<EOF
{
	admin off
	default_bind 127.0.0.1
	http_port $http_port
	https_port $tls_port
	skip_install_trust
	storage file_system {
		root $d/storage
	}
}

localhost {
	tls {
		ca $dir_url
		ca_root $ca
	}
	respond "ok"
}
EOF
      t0=$(now_ns)
      HOME=$d XDG_DATA_HOME=$d/data XDG_CONFIG_HOME=$d/config \
        caddy run --config "$d/Caddyfile" --adapter caddyfile >"$d/log" 2>&1 &
      caddy_pid=$!
      local got=0 deadline=$(($(now_ns) + run_timeout * 1000000000))
      while (($(now_ns) < deadline)); do
        if grep -q 'certificate obtained successfully' "$d/log"; then got=1; break; fi
        kill -0 "$caddy_pid" 2>/dev/null || break
        sleep 0.01
      done
      t1=$(now_ns)
      kill -TERM "$caddy_pid" 2>/dev/null || true
      wait "$caddy_pid" 2>/dev/null || true
      caddy_pid=
      ((got)) || return 1
      names_localhost "$(find "$d/storage/certificates" -name localhost.crt | head -1)" || return 1
      ;;
  esac
  elapsed_ns=$((t1 - t0))
}

version_of() {
  case $1 in
    moat) echo "moat cert obtain" ;;
    moat-api) echo "moat acme::client::obtain (in-process)" ;;
    certbot) echo "certbot $(dpkg-query -W -f='${Version}' certbot 2>/dev/null | sed 's/-[^-]*$//')" ;;
    lego) echo "lego $(dpkg-query -W -f='${Version}' lego 2>/dev/null | sed 's/-[^-]*$//')" ;;
    caddy) echo "Caddy $(caddy version 2>/dev/null | awk '{print $1}')" ;;
    in-process) echo "moat acme::client + acme::ca, one process" ;;
  esac
}

server_name() {
  case $1 in
    pebble) echo "Pebble" ;;
    moat-ca) echo "moat CA" ;;
  esac
}

# record SERVER TOOL WHAT...: one line of results.txt ("SERVER TOOL ok NS", "... failed",
# "... notbuilt").
record() { echo "$*" >>"$work/results.txt"; }

# measure SERVER TOOL: ACME_RUNS good runs of TOOL against SERVER (dir_url and ca set).
measure() {
  local server=$1 tool=$2 ok=0 failed=0 r=0 d
  while ((ok < runs && failed < runs)); do
    r=$((r + 1))
    d=$work/$server-$tool-$r
    if run_tool "$tool" "$d"; then
      ok=$((ok + 1))
      log "$tool → $server run $r: $(awk -v n="$elapsed_ns" 'BEGIN {printf "%.3f s", n / 1e9}')"
      record "$server" "$tool" ok "$elapsed_ns"
    else
      failed=$((failed + 1))
      log "$tool → $server run $r failed (not counted; another run follows): see $d/log"
      record "$server" "$tool" failed
    fi
  done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$work/results.txt"
for server in $servers; do
  case $server in
    pebble) dir_url=$pebble_dir_url ca=$pebble_ca ;;
    moat-ca) dir_url=$moat_ca_dir_url ca=$moat_ca_root ;;
  esac
  for tool in $tools; do
    [[ $tool == in-process ]] && continue
    if [[ $server == moat-ca && -z $moat_ca_pid ]]; then
      log "moat CA: 'moat ca serve' is not built (${moat_bin:-no moat binary})"
      record "$server" "$tool" notbuilt
      continue
    fi
    if [[ $tool == moat-api && ! -x $moat_api_bin ]]; then
      log "moat-api: $moat_api_bin is not built (cmake -DMOAT_BUILD_BENCH=ON)"
      record "$server" "$tool" notbuilt
      continue
    fi
    if [[ $tool == moat ]] && ! moat_available; then
      log "moat: 'moat cert obtain' is not built (${moat_bin:-no moat binary})"
      record "$server" "$tool" notbuilt
      continue
    fi
    measure "$server" "$tool"
  done
done
# CA and client in one process: ACME_RUNS obtain() calls, each line "elapsed_ns N".
if [[ " $tools " == *" in-process "* ]]; then
  if [[ -x $moat_api_bin ]] && { "$moat_api_bin" 2>&1 || true; } | grep -q -- --in-process; then
    if timeout $((run_timeout * runs)) "$moat_api_bin" --in-process "$runs" \
      >"$work/in-process.log" 2>&1; then
      awk '$1 == "elapsed_ns" {print "in-process in-process ok", $2}' "$work/in-process.log" \
        >>"$work/results.txt"
      log "in-process: median $(awk '$1 == "median_ns" {printf "%.3f s", $2 / 1e9}' \
        "$work/in-process.log")"
    else
      log "in-process failed: see $work/in-process.log"
      record in-process in-process failed
    fi
  else
    log "in-process: $moat_api_bin --in-process is not built (cmake -DMOAT_BUILD_BENCH=ON)"
    record in-process in-process notbuilt
  fi
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- The table ----------------------------------------------------------------------------------
# stats SERVER TOOL: "median min max successes failures" of TOOL's runs against SERVER
# (seconds), "- - - 0 F" if none succeeded.
stats() {
  local failures
  failures=$(awk -v s="$1" -v t="$2" '$1 == s && $2 == t && $3 == "failed"' \
    "$work/results.txt" | wc -l)
  awk -v s="$1" -v t="$2" '$1 == s && $2 == t && $3 == "ok" {print $4 / 1e9}' \
    "$work/results.txt" | sort -g |
    awk -v f="$failures" '{v[NR] = $1}
      END {
        if (NR == 0) { print "- - - 0 " f; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f %.3f %.3f %d %d\n", m, v[1], v[NR], NR, f
      }'
}
# best SERVER: the fastest peer's median against SERVER (empty if none succeeded).
best() {
  local tool med n b=
  for tool in $tools; do
    [[ $tool == certbot || $tool == lego || $tool == caddy ]] || continue
    read -r med _ _ n _ < <(stats "$1" "$tool")
    ((n > 0)) || continue
    if [[ -z $b ]] || awk -v a="$med" -v b="$b" 'BEGIN {exit !(a < b)}'; then b=$med; fi
  done
  echo "$b"
}
# row SERVER TOOL LABEL: one line of the table.
row() {
  local server=$1 tool=$2 name=$3 med lo hi n failed note='' ratio=— b
  if grep -q "^$server $tool notbuilt" "$work/results.txt"; then
    echo "| $name | not built | — | — |"
    return
  fi
  read -r med lo hi n failed < <(stats "$server" "$tool")
  ((failed == 0)) || note=" ($failed more run(s) failed)"
  if ((n == 0)); then
    echo "| $name$note | failed | — | — |"
    return
  fi
  b=$(best "$server")
  [[ -z $b || $server == in-process ]] ||
    ratio=$(awk -v a="$med" -v b="$b" 'BEGIN {printf "%.2f", a / b}')
  printf '| %s%s | %.3f s | %.3f–%.3f s | %s |\n' "$name" "$note" "$med" "$lo" "$hi" "$ratio"
}
{
  echo "## ACME: one certificate for localhost from Pebble and from moat's CA" \
    "($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "Pebble $(dpkg-query -W -f='${Version}' pebble 2>/dev/null), PEBBLE_VA_NOSLEEP=1, its default" \
    "5% of good nonces rejected; moat CA: \`moat ca serve\`, its defaults; a fresh account per run;" \
    "$runs runs per tool and server; $(nproc) CPUs" \
    "($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); load average" \
    "$load_before before, $load_after after."
  echo
  echo "| tool → server | median | min–max | × fastest peer on that server |"
  echo "| --- | ---: | ---: | ---: |"
  for tool in $tools; do
    [[ $tool == in-process ]] && continue
    for server in $servers; do
      row "$server" "$tool" "$(version_of "$tool") → $(server_name "$server")"
    done
  done
  if [[ " $tools " == *" in-process "* ]]; then
    row in-process in-process "$(version_of in-process)"
  fi
  echo
  echo "certbot: certonly --standalone (HTTP-01); lego: run --http; Caddy: automatic HTTPS, from" \
    "its start until it logs \"certificate obtained successfully\" (HTTP-01 or TLS-ALPN-01, its" \
    "choice); moat: cert obtain --http-port, the whole process; moat in-process: the" \
    "acme::client::obtain call alone (bench/acme_obtain.cpp); one process: acme::ca served over" \
    "HTTPS on loopback and acme::client in the same process, account, order, HTTP-01," \
    "finalize and download (bench/acme_obtain.cpp --in-process)."
} | tee "$work/table.md"
log "table, logs and certificates in $work"
