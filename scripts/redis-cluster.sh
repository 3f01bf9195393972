#!/usr/bin/env bash
# A local six-node Redis Cluster (three primaries, one replica each) as plain processes on 127.0.0.1, from
# Debian's redis-server and redis-cli (installed when missing and we are root). Needs Redis 7 or newer.
#
#   scripts/redis-cluster.sh start  [BASE_PORT] [DIR]   start, create the cluster, wait until it is healthy,
#                                                       print REDIS_URL=redis+cluster://<three seeds>
#   scripts/redis-cluster.sh stop   [BASE_PORT] [DIR]   shut every node down and remove its files
#   scripts/redis-cluster.sh status [BASE_PORT] [DIR]   cluster_state and role of each node; non-zero unless all ok
#
# Nodes listen on BASE_PORT … BASE_PORT+5 (default 7000 … 7005); each node's cluster bus listens on its port
# + 10000, so BASE_PORT must be at most 55529 (65535 - 10000 - 5). Each node keeps its config, nodes.conf,
# append-only files, pid file and log in DIR/node-<port>/ (default DIR: .run/redis-cluster in the repository).
#
# `start` is idempotent: a healthy cluster already running there is left alone; nodes of ours that died are
# started again from their files (they rejoin); files left by a cluster whose nodes are all dead are removed
# and a new cluster is created. Only processes whose pid file is in DIR are ever signalled.
#
# Environment (optional):
#   REDIS_CLUSTER_WAIT           seconds to wait for the cluster to become healthy (default 30)
#   REDIS_CLUSTER_NODE_TIMEOUT   cluster-node-timeout in ms (default 2000: a killed primary is replaced within a
#                                few seconds; on a loaded machine a starved primary can be failed over too, so
#                                `make test-cluster` uses a longer one)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=6
PRIMARIES=3
WAIT_SECONDS=${REDIS_CLUSTER_WAIT:-30}
NODE_TIMEOUT=${REDIS_CLUSTER_NODE_TIMEOUT:-2000}
if ! [[ "$NODE_TIMEOUT" =~ ^[0-9]+$ ]] || [ "$NODE_TIMEOUT" -lt 100 ]; then
  echo "redis-cluster: error: REDIS_CLUSTER_NODE_TIMEOUT must be a number of milliseconds >= 100" >&2
  exit 1
fi

log() { printf 'redis-cluster: %s\n' "$*" >&2; }
die() { printf 'redis-cluster: error: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start|stop|status [BASE_PORT (default 7000, at most 55529)] [DIR (default .run/redis-cluster)]"; }

# is_root and apt_install (scripts/apt.sh); they report through this script's log and die.
# shellcheck source=scripts/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_redis() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-server redis-tools
  fi
  local version
  version=$(redis-server --version | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
  [ -n "$version" ] || die "could not read the version of redis-server ($(redis-server --version))"
  [ "${version%%.*}" -ge 7 ] || die "redis-server $version is too old: Redis Cluster here needs 7.0 or newer (CLUSTER SHARDS)"
  log "redis-server $version"
}

# redis-cli against one local port, bounded so that a stopped (SIGSTOP) node cannot hang the script.
rcli() {
  local port=$1
  shift
  timeout 3 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}
# The reply of one command with CRs removed; pipelines below never end early (grep -q, head) so that
# pipefail cannot turn a SIGPIPE into a failed check.
reply() { rcli "$@" | tr -d '\r'; }
answers() { [ "$(reply "$1" ping)" = PONG ]; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_dir() { printf '%s/node-%s' "$DIR" "$1"; }

# The pid recorded for the node on port $1 when that process is alive and still our redis-server there.
our_pid() {
  local port=$1 pidfile pid
  pidfile="$(node_dir "$port")/redis.pid"
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" =~ redis-server.*:$port([^0-9]|$) ]] || return 1
  printf '%s\n' "$pid"
}

write_config() {
  local port=$1 dir
  dir=$(node_dir "$port")
  mkdir -p "$dir"
  cat >"$dir/redis.conf" <<EOF
# Written by scripts/redis-cluster.sh; node $port of a local test cluster.
bind 127.0.0.1
port $port
protected-mode no
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
save ""
appendonly yes
appendfsync everysec
# Replicas sync at once (the default waits 5 s for more replicas to share a diskless transfer).
repl-diskless-sync-delay 0
# A replica counts as "online" in CLUSTER SHARDS once its replication offset moved; the primary's PING every
# second moves it (the default period is 10 s).
repl-ping-replica-period 1
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout $NODE_TIMEOUT
cluster-replica-validity-factor 0
cluster-allow-replica-migration no
cluster-require-full-coverage no
EOF
}

start_node() {
  local port=$1 dir
  dir=$(node_dir "$port")
  redis-server "$dir/redis.conf" >/dev/null || die "redis-server on port $port did not start; see $dir/redis.log"
}

wait_answers() {
  local port=$1
  # Ours must answer: a process that lost a race for the port exits before writing its pid file.
  for _ in $(seq 1 50); do
    answers "$port" && our_pid "$port" >/dev/null && return 0
    sleep 0.1
  done
  log "our redis-server on port $port does not answer; last lines of $(node_dir "$port")/redis.log:"
  tail -n 20 "$(node_dir "$port")/redis.log" >&2 || true
  return 1
}

# "<slots covered> <shards with an online primary owning slots> <of those, with an online replica>" as seen
# by the node on port $1, from CLUSTER SHARDS (flattened by redis-cli: "slots", start/end pairs, "nodes",
# then each node as key/value lines).
shards_summary() {
  rcli "$1" cluster shards | awk '
    function close_shard() {
      if (in_shard && nslots > 0 && primary_ok) { primaries++; if (replicas_ok > 0) with_replica++ }
    }
    $0 == "slots" { close_shard(); in_shard = 1; mode = "slots"; nslots = 0; primary_ok = 0; replicas_ok = 0; n = 0; next }
    $0 == "nodes" { mode = "nodes"; role = ""; next }
    mode == "slots" && /^[0-9]+$/ { v[n++ % 2] = $0; if (n % 2 == 0) { nslots += v[1] - v[0] + 1; total += v[1] - v[0] + 1 }; next }
    mode == "nodes" && $0 == "role" { getline role; next }
    mode == "nodes" && $0 == "health" {
      getline health
      if (health == "online") { if (role == "master") primary_ok = 1; else if (role == "replica") replicas_ok++ }
      next
    }
    END { close_shard(); printf "%d %d %d\n", total, primaries, with_replica }'
}

# Whether every node says cluster_state:ok, sees all 16384 slots served by three online primaries each with
# an online replica, and every primary has exactly one replica connected (INFO replication).
cluster_healthy() {
  local port masters=0
  for port in "${PORTS[@]}"; do
    grep -qx 'cluster_state:ok' <<<"$(reply "$port" cluster info)" || return 1
    [ "$(shards_summary "$port")" = "16384 $PRIMARIES $PRIMARIES" ] || return 1
    if [ "$(reply "$port" role | sed -n 1p)" = master ]; then
      masters=$((masters + 1))
      local repl
      repl=$(reply "$port" info replication)
      grep -qx 'connected_slaves:1' <<<"$repl" || return 1
      grep -Eq '^slave0:.*state=online' <<<"$repl" || return 1
    fi
  done
  [ "$masters" -eq "$PRIMARIES" ]
}

wait_healthy() {
  local deadline=$((SECONDS + WAIT_SECONDS))
  while [ "$SECONDS" -lt "$deadline" ]; do
    cluster_healthy && return 0
    sleep 0.5
  done
  cluster_healthy
}

print_url() {
  echo "REDIS_URL=redis+cluster://127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
}

remove_node_files() {
  local port dir
  for port in "${PORTS[@]}"; do
    dir=$(node_dir "$port")
    [ -d "$dir" ] || continue
    rm -rf "${dir:?}/appendonlydir"
    rm -f "$dir"/{redis.conf,redis.pid,redis.log,nodes.conf,dump.rdb}
    rmdir "$dir" 2>/dev/null || log "left $dir in place (it holds files this script did not write)"
  done
  rmdir "$DIR" 2>/dev/null || true
}

start() {
  ensure_redis
  local port ours=() dead=()
  for port in "${PORTS[@]}"; do
    if our_pid "$port" >/dev/null; then
      ours+=("$port")
    elif answers "$port" || listening "$port"; then
      die "port $port is in use by a process this script did not start (no live pid file in $(node_dir "$port")); pick another BASE_PORT"
    elif listening $((port + 10000)); then
      die "port $((port + 10000)) (the cluster bus of node $port) is in use by another process; pick another BASE_PORT"
    else
      dead+=("$port")
    fi
  done

  if [ "${#ours[@]}" -eq 0 ]; then
    if [ -d "$DIR" ]; then
      log "removing files left by a cluster that is no longer running in $DIR"
      remove_node_files
    fi
    mkdir -p "$DIR"
    for port in "${PORTS[@]}"; do write_config "$port"; done
    for port in "${PORTS[@]}"; do start_node "$port"; done
    for port in "${PORTS[@]}"; do
      wait_answers "$port" || { stop; exit 1; }
    done
    local addrs=()
    for port in "${PORTS[@]}"; do addrs+=("127.0.0.1:$port"); done
    log "redis-cli --cluster create ${addrs[*]} --cluster-replicas 1"
    if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1; then
      log "redis-cli --cluster create failed:"
      tail -n 30 "$DIR/create.log" >&2 || true
      stop
      exit 1
    fi
    rm -f "$DIR/create.log"
  elif [ "${#dead[@]}" -eq 0 ] && cluster_healthy; then
    log "a healthy cluster is already running on 127.0.0.1:${PORTS[0]}-${PORTS[$((NODES - 1))]} ($DIR)"
    print_url
    return 0
  else
    for port in "${dead[@]}"; do
      [ -f "$(node_dir "$port")/nodes.conf" ] && [ -f "$(node_dir "$port")/redis.conf" ] \
        || die "node $port is down and its files are gone; run '$0 stop ${PORTS[0]} $DIR' and start again"
    done
    for port in "${dead[@]}"; do
      log "starting node $port again from its files (it rejoins the cluster)"
      start_node "$port"
      wait_answers "$port" || die "node $port did not come back"
    done
  fi

  if ! wait_healthy; then
    log "the cluster is not healthy after ${WAIT_SECONDS} s:"
    status >&2 || true
    die "see the logs in $DIR/node-*/redis.log ('$0 stop ${PORTS[0]} $DIR' removes everything)"
  fi
  log "cluster ok: primaries and replicas on 127.0.0.1:${PORTS[0]}-${PORTS[$((NODES - 1))]}, files in $DIR"
  print_url
}

stop() {
  local port pid pids=() stopped=0
  # SHUTDOWN every node first, then wait for them together.
  for port in "${PORTS[@]}"; do
    if pid=$(our_pid "$port"); then
      rcli "$port" shutdown nosave >/dev/null || true
      pids+=("$port:$pid")
    elif answers "$port"; then
      log "port $port answers but is not a node of this script (no live pid file in $(node_dir "$port")); left alone"
    fi
  done
  local entry
  for entry in "${pids[@]}"; do
    port=${entry%%:*} pid=${entry#*:}
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "node $port (pid $pid) is still alive 5 s after SHUTDOWN; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    stopped=$((stopped + 1))
  done
  remove_node_files
  log "stopped $stopped node(s); removed the node files in $DIR"
}

status() {
  local port bad=0 state role
  for port in "${PORTS[@]}"; do
    if ! answers "$port"; then
      printf '127.0.0.1:%s  down\n' "$port"
      bad=1
      continue
    fi
    state=$(reply "$port" cluster info | sed -n 's/^cluster_state://p')
    role=$(reply "$port" role | sed -n 1p)
    [ "$role" = slave ] && role=replica
    # What cluster_healthy looks at, so a start that times out says which condition failed.
    local shards replicas=""
    shards=$(shards_summary "$port" | tr ' ' /)
    [ "$role" = master ] && replicas="  $(reply "$port" info replication | grep -E '^(connected_slaves|slave0):' | tr -d '\r' | paste -sd ' ')"
    printf '127.0.0.1:%s  %-7s  cluster_state:%s  slots/primaries/with-replica:%s%s\n' \
      "$port" "$role" "${state:-unknown}" "$shards" "$replicas"
    [ "$state" = ok ] || bad=1
  done
  return "$bad"
}

[ $# -ge 1 ] && [ $# -le 3 ] || usage
COMMAND=$1
BASE_PORT=${2:-7000}
DIR=${3:-$ROOT/.run/redis-cluster}
[[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "BASE_PORT must be a number (got '$BASE_PORT')"
[ "$BASE_PORT" -ge 1024 ] && [ "$BASE_PORT" -le 55529 ] \
  || die "BASE_PORT must be 1024-55529: the nodes use BASE_PORT..BASE_PORT+5 and their cluster bus port+10000 (got $BASE_PORT)"
DIR=$(realpath -m "$DIR")
PORTS=()
for i in $(seq 0 $((NODES - 1))); do PORTS+=($((BASE_PORT + i))); done

case "$COMMAND" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
