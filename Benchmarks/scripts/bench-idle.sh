#!/usr/bin/env bash
# What one idle `shop serve` costs: Redis commands per second and CPU, with nothing to do (no requests, no
# messages). It runs with the shipped defaults (consumers, relay, scheduler, cache manager, lock listener) on a
# redis-server of its own, so every command counted is the shop's (`INFO commandstats`), and its CPU is read
# from /proc (utime + stime) over DURATION seconds after a warm-up. Goal: <= 50 commands/s, <= 1% of a core.
#
#   DURATION  seconds measured (default 10)
#   WARMUP    seconds before measuring (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/scripts/common.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-5}

bash scripts/services.sh >/dev/null
build_shop

DIR=$(mktemp -d)
PIDS=()
REDIS_PORT=$(free_port)
cleanup() {
  stop_shops
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$DIR" \
  --logfile "$DIR/redis.log"
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done

eval "$(bash scripts/services.sh 2>/dev/null | grep DATABASE_URL)"
use_bench_database bench_idle
"$SHOP" migrate >/dev/null
"$SHOP" seed >/dev/null
start_shop idle REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
PID=${PIDS[0]}

sleep "$WARMUP"
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
SHOP_BEFORE=$(ticks "$PID")
REDIS_PID=$(redis-cli -p "$REDIS_PORT" info server | tr -d '\r' | awk -F: '/^process_id:/ { print $2 }')
REDIS_BEFORE=$(ticks "$REDIS_PID")
sleep "$DURATION"
SHOP_AFTER=$(ticks "$PID")
REDIS_AFTER=$(ticks "$REDIS_PID")
STATS=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r')

CALLS=$(echo "$STATS" | awk -F'[:,=]' '/^cmdstat_/ && $1 != "cmdstat_info" && $1 !~ /^cmdstat_config/ { n += $3 } END { print n + 0 }')
PER_S=$(awk -v n="$CALLS" -v d="$DURATION" 'BEGIN { printf "%.1f", n / d }')
CPU=$(awk -v a="$SHOP_BEFORE" -v b="$SHOP_AFTER" -v hz="$HZ" -v d="$DURATION" 'BEGIN { printf "%.2f", (b - a) / hz / d * 100 }')
REDIS_CPU=$(awk -v a="$REDIS_BEFORE" -v b="$REDIS_AFTER" -v hz="$HZ" -v d="$DURATION" 'BEGIN { printf "%.2f", (b - a) / hz / d * 100 }')

echo
echo "one idle release shop serve, ${DURATION} s after a ${WARMUP} s warm-up, on a redis-server of its own"
echo "$STATS" | awk -F'[:,=]' '/^cmdstat_/ && $1 != "cmdstat_info" && $1 !~ /^cmdstat_config/ { sub("cmdstat_", "", $1); printf "  %-24s %6d calls\n", $1, $3 }' | sort -k2 -n -r
printf '\n%-40s %10s\n' "Redis commands per second" "$PER_S"
printf '%-40s %9s%%\n' "shop CPU (one core = 100%)" "$CPU"
printf '%-40s %9s%%\n' "redis-server CPU" "$REDIS_CPU"
echo "(machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB)"
echo
echo "BENCH idle.instance.redis_cmds_per_s $PER_S cmd/s"
echo "BENCH idle.instance.cpu_pct $CPU %"
echo "BENCH idle.redis.cpu_pct $REDIS_CPU %"
