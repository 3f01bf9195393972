#!/usr/bin/env bash
# A local Redis primary, one replica and three Sentinels as plain processes on 127.0.0.1, from Debian's
# redis-server, redis-sentinel and redis-cli (installed when missing and we are root).
#
#   scripts/redis-sentinel.sh start  [BASE_PORT] [DIR]   start everything, wait until the Sentinels agree,
#                                                        print REDIS_URL=redis+sentinel://<sentinels>/<master>
#   scripts/redis-sentinel.sh stop   [BASE_PORT] [DIR]   shut everything down and remove its files
#   scripts/redis-sentinel.sh status [BASE_PORT] [DIR]   role of each server, each Sentinel's view; non-zero unless ok
#
# Ports (BASE_PORT default 6390, at most 45533): the primary on BASE_PORT, the replica on BASE_PORT+1
# (`replicaof` the primary), Sentinels on BASE_PORT+20000 … BASE_PORT+20002 (default 26390, 26391, 26392).
# After a failover the roles of the two servers are swapped; ask a Sentinel which one is the primary.
# The Sentinels monitor the master name `shop` with quorum 2, down-after-milliseconds 1000,
# failover-timeout 5000, parallel-syncs 1. Each process keeps its config (the Sentinels rewrite theirs, and
# have the servers rewrite theirs), append-only files, pid file and log in DIR/redis-<port>/ or
# DIR/sentinel-<port>/ (default DIR: .run/redis-sentinel in the repository).
#
# `start` is idempotent: a healthy setup already running there is left alone; processes of ours that died are
# started again from their (rewritten) configs; files left by a setup whose processes are all dead are removed
# and everything is created afresh. Only processes whose pid file is in DIR are ever signalled.
#
# Environment (optional):
#   REDIS_SENTINEL_MASTER   the master name the Sentinels monitor (default shop)
#   REDIS_SENTINEL_WAIT     seconds to wait for the Sentinels to agree (default 30)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MASTER_NAME=${REDIS_SENTINEL_MASTER:-shop}
WAIT_SECONDS=${REDIS_SENTINEL_WAIT:-30}
QUORUM=2

log() { printf 'redis-sentinel: %s\n' "$*" >&2; }
die() { printf 'redis-sentinel: error: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start|stop|status [BASE_PORT (default 6390, at most 45533)] [DIR (default .run/redis-sentinel)]"; }

# is_root and apt_install (scripts/apt.sh); they report through this script's log and die.
# shellcheck source=scripts/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_redis() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
  # redis-sentinel depends on redis-server's files; install the set together.
  [ "${#missing[@]}" -eq 0 ] || apt_install redis-server redis-sentinel redis-tools
  local version
  version=$(redis-server --version | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
  [ -n "$version" ] || die "could not read the version of redis-server ($(redis-server --version))"
  [ "${version%%.*}" -ge 7 ] || die "redis-server $version is too old: these scripts need 7.0 or newer"
  log "redis-server $version"
}

# redis-cli against one local port, bounded so that a stopped (SIGSTOP) process cannot hang the script.
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

# kind is "redis" or "sentinel"; its folder, config, pid file and log are named after it.
proc_dir() { printf '%s/%s-%s' "$DIR" "$1" "$2"; }

# The pid recorded for the $1 on port $2 when that process is alive and still ours on that port.
our_pid() {
  local kind=$1 port=$2 pidfile pid
  pidfile="$(proc_dir "$kind" "$port")/$kind.pid"
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" =~ redis-(server|sentinel).*:$port([^0-9]|$) ]] || return 1
  printf '%s\n' "$pid"
}

write_redis_config() {
  local port=$1 replicaof=${2:-} dir
  dir=$(proc_dir redis "$port")
  mkdir -p "$dir"
  cat >"$dir/redis.conf" <<EOF
# Written by scripts/redis-sentinel.sh; Sentinel rewrites the replicaof line on failover (CONFIG REWRITE).
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
EOF
  if [ -n "$replicaof" ]; then echo "replicaof 127.0.0.1 $replicaof" >>"$dir/redis.conf"; fi
}

write_sentinel_config() {
  local port=$1 dir
  dir=$(proc_dir sentinel "$port")
  mkdir -p "$dir"
  # A writable copy per Sentinel: it records what it learns (replicas, other Sentinels, epochs) in this file.
  cat >"$dir/sentinel.conf" <<EOF
# Written by scripts/redis-sentinel.sh; the Sentinel rewrites this file.
bind 127.0.0.1
port $port
protected-mode no
daemonize yes
pidfile $dir/sentinel.pid
logfile $dir/sentinel.log
dir $dir
sentinel monitor $MASTER_NAME 127.0.0.1 $PRIMARY_PORT $QUORUM
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 5000
sentinel parallel-syncs $MASTER_NAME 1
EOF
}

start_proc() {
  local kind=$1 port=$2 dir
  dir=$(proc_dir "$kind" "$port")
  if [ "$kind" = sentinel ]; then
    redis-sentinel "$dir/sentinel.conf" >/dev/null || die "redis-sentinel on port $port did not start; see $dir/sentinel.log"
  else
    redis-server "$dir/redis.conf" >/dev/null || die "redis-server on port $port did not start; see $dir/redis.log"
  fi
}

wait_answers() {
  local kind=$1 port=$2
  # Ours must answer: a process that lost a race for the port exits before writing its pid file.
  for _ in $(seq 1 50); do
    answers "$port" && our_pid "$kind" "$port" >/dev/null && return 0
    sleep 0.1
  done
  log "our $kind on port $port does not answer; last lines of $(proc_dir "$kind" "$port")/$kind.log:"
  tail -n 20 "$(proc_dir "$kind" "$port")/$kind.log" >&2 || true
  return 1
}

# The value of field $2 in the key/value lines on standard input (SENTINEL MASTER as redis-cli prints it).
field() { awk -v key="$1" 'found && !done { print; done = 1 } $0 == key { found = 1 }'; }

# "host:port" of the primary according to the Sentinel on port $1.
sentinel_primary() {
  reply "$1" sentinel get-master-addr-by-name "$MASTER_NAME" | paste -sd: -
}

# Whether every Sentinel sees the same primary (flags exactly "master"), its replica as a healthy replica
# (num-slaves 1, flags "slave") and the two other Sentinels, and the primary has its replica connected.
healthy() {
  local port master primary="" addr flags
  for port in "${SENTINEL_PORTS[@]}"; do
    master=$(reply "$port" sentinel master "$MASTER_NAME") || return 1
    [ "$(field flags <<<"$master")" = master ] || return 1
    [ "$(field num-slaves <<<"$master")" = 1 ] || return 1
    [ "$(field num-other-sentinels <<<"$master")" = 2 ] || return 1
    addr="$(field ip <<<"$master"):$(field port <<<"$master")"
    [ -z "$primary" ] || [ "$primary" = "$addr" ] || return 1
    primary=$addr
    flags=$(reply "$port" sentinel replicas "$MASTER_NAME" | field flags)
    [ "$flags" = slave ] || return 1
  done
  local repl
  repl=$(reply "${primary##*:}" info replication)
  grep -qx 'role:master' <<<"$repl" || return 1
  grep -qx 'connected_slaves:1' <<<"$repl" || return 1
  grep -Eq '^slave0:.*state=online' <<<"$repl"
}

wait_healthy() {
  local deadline=$((SECONDS + WAIT_SECONDS))
  while [ "$SECONDS" -lt "$deadline" ]; do
    healthy && return 0
    sleep 0.5
  done
  healthy
}

print_url() {
  echo "REDIS_URL=redis+sentinel://127.0.0.1:${SENTINEL_PORTS[0]},127.0.0.1:${SENTINEL_PORTS[1]},127.0.0.1:${SENTINEL_PORTS[2]}/$MASTER_NAME"
}

remove_files() {
  local port dir
  for port in "${REDIS_PORTS[@]}"; do
    dir=$(proc_dir redis "$port")
    [ -d "$dir" ] || continue
    rm -rf "${dir:?}/appendonlydir"
    rm -f "$dir"/{redis.conf,redis.pid,redis.log,dump.rdb}
    rmdir "$dir" 2>/dev/null || log "left $dir in place (it holds files this script did not write)"
  done
  for port in "${SENTINEL_PORTS[@]}"; do
    dir=$(proc_dir sentinel "$port")
    [ -d "$dir" ] || continue
    rm -f "$dir"/{sentinel.conf,sentinel.pid,sentinel.log}
    rmdir "$dir" 2>/dev/null || log "left $dir in place (it holds files this script did not write)"
  done
  rmdir "$DIR" 2>/dev/null || true
}

# "kind:port" for every process of the setup, servers first.
all_procs() {
  local port
  for port in "${REDIS_PORTS[@]}"; do echo "redis:$port"; done
  for port in "${SENTINEL_PORTS[@]}"; do echo "sentinel:$port"; done
}

start() {
  ensure_redis
  local entry kind port ours=() dead=()
  while IFS= read -r entry; do
    kind=${entry%%:*} port=${entry#*:}
    if our_pid "$kind" "$port" >/dev/null; then
      ours+=("$entry")
    elif answers "$port" || listening "$port"; then
      die "port $port is in use by a process this script did not start (no live pid file in $(proc_dir "$kind" "$port")); pick another BASE_PORT"
    else
      dead+=("$entry")
    fi
  done < <(all_procs)

  if [ "${#ours[@]}" -eq 0 ]; then
    if [ -d "$DIR" ]; then
      log "removing files left by a setup that is no longer running in $DIR"
      remove_files
    fi
    mkdir -p "$DIR"
    write_redis_config "$PRIMARY_PORT"
    write_redis_config "$REPLICA_PORT" "$PRIMARY_PORT"
    start_proc redis "$PRIMARY_PORT"
    wait_answers redis "$PRIMARY_PORT" || { stop; exit 1; }
    start_proc redis "$REPLICA_PORT"
    wait_answers redis "$REPLICA_PORT" || { stop; exit 1; }
    # Sentinels learn the replicas from the primary's INFO, which they ask for at once and then every 10 s:
    # start them once the replica is attached so that they see it from the start.
    local linked=0
    for _ in $(seq 1 100); do
      if grep -qx 'master_link_status:up' <<<"$(reply "$REPLICA_PORT" info replication)"; then linked=1; break; fi
      sleep 0.1
    done
    if [ "$linked" -ne 1 ]; then
      log "the replica on $REPLICA_PORT did not attach to the primary on $PRIMARY_PORT within 10 s; see $(proc_dir redis "$REPLICA_PORT")/redis.log"
      stop
      exit 1
    fi
    for port in "${SENTINEL_PORTS[@]}"; do
      write_sentinel_config "$port"
      start_proc sentinel "$port"
    done
    for port in "${SENTINEL_PORTS[@]}"; do
      wait_answers sentinel "$port" || { stop; exit 1; }
    done
  elif [ "${#dead[@]}" -eq 0 ] && healthy; then
    log "a healthy setup is already running: servers on 127.0.0.1:$PRIMARY_PORT,$REPLICA_PORT, Sentinels on ${SENTINEL_PORTS[*]} ($DIR)"
    print_url
    return 0
  else
    for entry in "${dead[@]}"; do
      kind=${entry%%:*} port=${entry#*:}
      [ -f "$(proc_dir "$kind" "$port")/$kind.conf" ] \
        || die "$kind $port is down and its files are gone; run '$0 stop $PRIMARY_PORT $DIR' and start again"
    done
    for entry in "${dead[@]}"; do
      kind=${entry%%:*} port=${entry#*:}
      log "starting $kind $port again from its config"
      start_proc "$kind" "$port"
      wait_answers "$kind" "$port" || die "$kind $port did not come back"
    done
  fi

  if ! wait_healthy; then
    log "the Sentinels do not agree after ${WAIT_SECONDS} s:"
    status >&2 || true
    die "see the logs in $DIR/*/ ('$0 stop $PRIMARY_PORT $DIR' removes everything)"
  fi
  log "ok: primary $(sentinel_primary "${SENTINEL_PORTS[0]}"), servers on 127.0.0.1:$PRIMARY_PORT,$REPLICA_PORT, Sentinels on ${SENTINEL_PORTS[*]} monitoring '$MASTER_NAME', files in $DIR"
  print_url
}

stop() {
  local entry kind port pid sentinels=() servers=() stopped=0
  while IFS= read -r entry; do
    kind=${entry%%:*} port=${entry#*:}
    if pid=$(our_pid "$kind" "$port"); then
      if [ "$kind" = sentinel ]; then sentinels+=("$port:$pid"); else servers+=("$port:$pid"); fi
    elif answers "$port"; then
      log "port $port answers but is not ours (no live pid file in $(proc_dir "$kind" "$port")); left alone"
    fi
  done < <(all_procs)
  # The Sentinels first, so that stopping the primary starts no failover, then the servers.
  stop_all sentinel "${sentinels[@]}"
  stop_all redis "${servers[@]}"
  stopped=$((${#sentinels[@]} + ${#servers[@]}))
  remove_files
  log "stopped $stopped process(es); removed the files in $DIR"
}

# SHUTDOWN every "port:pid" given, then wait for them together; SIGKILL what is still alive after 5 s.
stop_all() {
  local kind=$1 entry port pid
  shift
  for entry in "$@"; do
    port=${entry%%:*}
    if [ "$kind" = sentinel ]; then rcli "$port" shutdown >/dev/null || true; else rcli "$port" shutdown nosave >/dev/null || true; fi
  done
  for entry in "$@"; do
    port=${entry%%:*} pid=${entry#*:}
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$kind $port (pid $pid) is still alive 5 s after SHUTDOWN; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
}

status() {
  local port bad=0 role master
  for port in "${REDIS_PORTS[@]}"; do
    if ! answers "$port"; then
      printf 'server    127.0.0.1:%s  down\n' "$port"
      bad=1
      continue
    fi
    role=$(reply "$port" role | sed -n 1p)
    [ "$role" = slave ] && role=replica
    printf 'server    127.0.0.1:%s  %s\n' "$port" "$role"
  done
  for port in "${SENTINEL_PORTS[@]}"; do
    if ! answers "$port"; then
      printf 'sentinel  127.0.0.1:%s  down\n' "$port"
      bad=1
      continue
    fi
    master=$(reply "$port" sentinel master "$MASTER_NAME") || true
    if [ -z "$master" ]; then
      printf 'sentinel  127.0.0.1:%s  does not monitor %s\n' "$port" "$MASTER_NAME"
      bad=1
      continue
    fi
    printf 'sentinel  127.0.0.1:%s  %s primary %s:%s flags=%s num-slaves=%s num-other-sentinels=%s\n' "$port" \
      "$MASTER_NAME" "$(field ip <<<"$master")" "$(field port <<<"$master")" "$(field flags <<<"$master")" \
      "$(field num-slaves <<<"$master")" "$(field num-other-sentinels <<<"$master")"
  done
  if [ "$bad" -eq 0 ] && ! healthy; then bad=1; fi
  if [ "$bad" -eq 0 ]; then echo ok; else echo "not ok"; fi
  return "$bad"
}

[ $# -ge 1 ] && [ $# -le 3 ] || usage
COMMAND=$1
BASE_PORT=${2:-6390}
DIR=$(realpath -m "${3:-$ROOT/.run/redis-sentinel}")
[[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "BASE_PORT must be a number (got '$BASE_PORT')"
[ "$BASE_PORT" -ge 1024 ] && [ "$BASE_PORT" -le 45533 ] \
  || die "BASE_PORT must be 1024-45533: the servers use BASE_PORT and BASE_PORT+1, the Sentinels BASE_PORT+20000..+20002 (got $BASE_PORT)"
[[ "$MASTER_NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "REDIS_SENTINEL_MASTER must be letters, digits, '.', '_' or '-' (got '$MASTER_NAME')"
PRIMARY_PORT=$BASE_PORT
REPLICA_PORT=$((BASE_PORT + 1))
REDIS_PORTS=("$PRIMARY_PORT" "$REPLICA_PORT")
SENTINEL_PORTS=($((BASE_PORT + 20000)) $((BASE_PORT + 20001)) $((BASE_PORT + 20002)))

case "$COMMAND" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
