# Shell functions shared by bench/run.sh and bench/profile.sh (sourced, not run). They act on
# the global `server_pid`, the server process the script started last.

# next_port: moves the global `port` to the next port that no TCP socket uses in any state.
next_port() {
  port=$((port + 1))
  while ss -tanH "sport = :$port or dport = :$port" 2>/dev/null | grep -q .; do
    port=$((port + 1))
  done
}

# build_go_echo OUT: builds bench/peers/go_echo.go into OUT (its own GOPATH and cache under
# $TMPDIR, the Go toolchain Debian installed, no downloads).
build_go_echo() {
  local gocache=${TMPDIR:-/tmp}/moat-bench-go
  GOPATH=$gocache/path GOCACHE=$gocache/cache GOTOOLCHAIN=local GOFLAGS='' \
    go build -o "$1" "$ROOT/bench/peers/go_echo.go"
}

# wait_listening PORT: true once something listens on 127.0.0.1:PORT (within 10 s); false if
# the server exits first or the time passes.
wait_listening() {
  local port=$1 i
  for i in $(seq 200); do
    if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# stop_server: asks the server to stop (TERM), kills it after 15 s, and reaps it.
stop_server() {
  [[ -n ${server_pid:-} ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  local i
  for i in $(seq 300); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
