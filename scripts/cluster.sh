#!/usr/bin/env bash
# Start or stop several `shop serve` instances on one machine, sharing one Redis and one PostgreSQL.
#
#   scripts/cluster.sh start N BASE_PORT BINARY   instance i listens on BASE_PORT+i-1 with INSTANCE_ID=shop-i
#   scripts/cluster.sh stop                       SIGTERM to every instance started here, then wait
#
# Pid files and logs live in .run/cluster/ (shop-i.pid, shop-i.log). Only processes recorded there are
# ever signalled, and only while they still are `shop serve`.
set -euo pipefail

RUN_DIR=${RUN_DIR:-$(pwd)/.run}/cluster
mkdir -p "$RUN_DIR"

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# Whether the pid in $1 is alive and still one of our `shop serve` processes.
is_ours() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'shop serve'
}

start() {
  local count=$1 base=$2 binary=$3
  [[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 32 ] || die "N must be 1-32 (got '$count')"
  [[ "$base" =~ ^[0-9]+$ ]] || die "BASE_PORT must be a number (got '$base')"
  [ -x "$binary" ] || die "$binary is not built"
  for i in $(seq 1 "$count"); do
    local pidfile="$RUN_DIR/shop-$i.pid"
    if [ -f "$pidfile" ] && is_ours "$(cat "$pidfile")"; then
      die "shop-$i is already running (pid $(cat "$pidfile")); run 'make cluster-stop' first"
    fi
  done
  # The simulated provider (rates, payments), unless one already answers.
  if ! curl -fsS "http://127.0.0.1:${PROVIDER_PORT:-8090}/health" >/dev/null 2>&1; then
    nohup "$binary" provider >"$RUN_DIR/provider.log" 2>&1 &
    echo $! >"$RUN_DIR/provider.pid"
  fi
  for i in $(seq 1 "$count"); do
    local port=$((base + i - 1))
    INSTANCE_ID="shop-$i" HTTP_PORT="$port" nohup "$binary" serve >"$RUN_DIR/shop-$i.log" 2>&1 &
    echo $! >"$RUN_DIR/shop-$i.pid"
  done
  # All instances start (and migrate, under the advisory lock) at once; wait until each is ready.
  for i in $(seq 1 "$count"); do
    local port=$((base + i - 1)) ready=0
    for _ in $(seq 1 150); do
      if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=1; break; fi
      is_ours "$(cat "$RUN_DIR/shop-$i.pid")" || break
      sleep 0.2
    done
    if [ "$ready" -ne 1 ]; then
      log "shop-$i did not become ready; last lines of $RUN_DIR/shop-$i.log:"
      tail -n 20 "$RUN_DIR/shop-$i.log" >&2 || true
      stop
      exit 1
    fi
    printf 'shop-%s  http://127.0.0.1:%s  pid %s  log %s\n' "$i" "$port" "$(cat "$RUN_DIR/shop-$i.pid")" \
      "$RUN_DIR/shop-$i.log"
  done
}

stop() {
  local pids=() pidfile pid
  shopt -s nullglob
  for pidfile in "$RUN_DIR"/shop-*.pid; do
    pid=$(cat "$pidfile")
    if is_ours "$pid"; then
      kill -TERM "$pid"
      pids+=("$pid")
    fi
    rm -f "$pidfile"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "pid $pid did not stop within 10 s"; fi
  done
  if [ -f "$RUN_DIR/provider.pid" ]; then
    pid=$(cat "$RUN_DIR/provider.pid")
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'shop provider'; then
      kill -TERM "$pid"
    fi
    rm -f "$RUN_DIR/provider.pid"
  fi
  log "stopped ${#pids[@]} instance(s)"
}

case "${1:-}" in
  start) shift; [ $# -eq 3 ] || die "usage: $0 start N BASE_PORT BINARY"; start "$@" ;;
  stop) stop ;;
  *) die "usage: $0 start N BASE_PORT BINARY | stop" ;;
esac
