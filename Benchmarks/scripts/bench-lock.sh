#!/usr/bin/env bash
# RedisLock and the stock strategies, in one run:
#   1. the stock-decrement experiment (ATTEMPTS orders of one unit, CONCURRENCY callers, three release `shop`
#      instances, one product with UNITS units) for each INVENTORY_STRATEGY: purchases/s and latency; then the
#      same experiment on the stock step alone (the strategies called directly from three sets of clients);
#   2. uncontended acquire+release pairs/s against `redis-benchmark -t set` at the same client counts;
#   3. hand-off latency of one lock between 16 waiters spread over 4 lock managers, with release notices and,
#      as a baseline, with polling every 100 ms.
# Everything runs against one private redis-server on a free port (removed afterwards) and a database of its
# own (`shop_bench_lock`) on the local PostgreSQL. Tables show medians over ROUNDS.
#
#   ROUNDS       rounds per scenario                 (default 3)
#   ATTEMPTS     purchase attempts per experiment    (default 10000)
#   UNITS        units in stock                      (default 1000)
#   CONCURRENCY  concurrent buyers                   (default 200)
#   HANDOFFS     hand-offs measured per round        (default 5000)
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/scripts/common.sh

ROUNDS=${ROUNDS:-3}
ATTEMPTS=${ATTEMPTS:-10000}
UNITS=${UNITS:-1000}
CONCURRENCY=${CONCURRENCY:-200}
HANDOFFS=${HANDOFFS:-5000}
STRATEGIES=(conditional-update redis-counter select-for-update lock)

eval "$(bash scripts/services.sh 2>/dev/null | grep -E '^(REDIS_URL|DATABASE_URL)=')"
use_bench_database shop_bench_lock
build_shop
echo "building the lock benchmark (release)..." >&2
swift build -c release --package-path Benchmarks --product LockBenchmark >&2
BENCH="$(swift build -c release --package-path Benchmarks --show-bin-path)/LockBenchmark"

DIR=$(mktemp -d)
PIDS=()
PORT=$(free_port)
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
  --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
cleanup() {
  stop_shops
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$PORT/0"

LOG_LEVEL=warning "$SHOP" migrate >/dev/null
LOG_LEVEL=warning "$SHOP" seed >/dev/null
sql() { psql -X -q -t -A "$DATABASE_URL" -c "$1"; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# 1. The stock-decrement experiment, per strategy.
declare -A PPS APS P50 P99 PP99
for round in $(seq 1 "$ROUNDS"); do
  for strategy in "${STRATEGIES[@]}"; do
    urls=""
    for instance in 1 2 3; do
      # 200 callers queue for 3 x 10 pooled connections on one hot row: a request may wait longer than the
      # default 2 s for a connection (it would answer 503); this measures throughput, so they wait.
      start_shop "$strategy-$instance" INVENTORY_STRATEGY="$strategy" DATABASE_REQUEST_WAIT_MS=60000
      urls+="${urls:+,}http://127.0.0.1:$STARTED_PORT"
    done
    # One session for the whole run: it lives in Redis, which outlives the instances.
    [ -n "${cookie:-}" ] || cookie=$(login_demo "$STARTED_PORT")
    [ -n "$cookie" ] || { echo "sign-in failed" >&2; exit 1; }
    product=$(sql "INSERT INTO products (id, name, description, price, currency, stock)
      VALUES (gen_random_uuid(), 'Bench $strategy $round', '', 1.00, 'USD', $UNITS) RETURNING id")
    result=$("$BENCH" orders --urls "$urls" --cookie "shop_session=$cookie" --product "$product" \
      --attempts "$ATTEMPTS" --concurrency "$CONCURRENCY" --key-prefix "bench-$strategy-$round-$RANDOM")
    stop_shops
    created=$(field created <<<"$result")
    stock=$(sql "SELECT stock FROM products WHERE id = '$product'")
    sold=$(sql "SELECT coalesce(sum(quantity), 0) FROM order_items WHERE product_id = '$product'")
    if [ "$created" != "$UNITS" ] || [ "$stock" != 0 ] || [ "$sold" != "$UNITS" ]; then
      echo "$strategy: $created orders created, stock $stock, $sold units in orders (expected $UNITS, 0, $UNITS)" >&2
      exit 1
    fi
    PPS[$strategy]+="$(field purchases_per_sec <<<"$result") "
    APS[$strategy]+="$(field attempts_per_sec <<<"$result") "
    P50[$strategy]+="$(field p50_ms <<<"$result") "
    P99[$strategy]+="$(field p99_ms <<<"$result") "
    PP99[$strategy]+="$(field purchase_p99_ms <<<"$result") "
    echo "  round $round $strategy: $result" >&2
  done
done

# 1b. The stock step alone (no HTTP, sessions, idempotency or order rows), same experiment.
declare -A SPPS SP99
for round in $(seq 1 "$ROUNDS"); do
  for strategy in "${STRATEGIES[@]}"; do
    result=$("$BENCH" strategies --database-url "$DATABASE_URL" --redis-url "$REDIS_URL" --strategy "$strategy" \
      --attempts "$ATTEMPTS" --units "$UNITS" --concurrency "$CONCURRENCY" --prefix "bench:step:$round:")
    SPPS[$strategy]+="$(field purchases_per_sec <<<"$result") "
    SP99[$strategy]+="$(field p99_ms <<<"$result") "
    echo "  round $round step $strategy: $result" >&2
  done
done

# 2. Uncontended acquire+release vs redis-benchmark SET.
reference_set() { # clients requests
  redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$1" -n "$2" -t set --csv 2>/dev/null | awk -F'","' 'NR==2 {print $2}' | tr -d '"'
}
declare -A UNC REF
for round in $(seq 1 "$ROUNDS"); do
  for clients in 1 50; do
    operations=$((clients == 1 ? 20000 : 100000))
    REF[$clients]+="$(reference_set "$clients" $((operations * 2))) "
    result=$("$BENCH" uncontended --url "$REDIS_URL" --prefix "bench:lock:$round:" --clients "$clients" \
      --operations "$operations")
    UNC[$clients]+="$(field ops_per_sec <<<"$result") "
    echo "  round $round uncontended c$clients: $result" >&2
  done
done

# 3. Hand-off latency.
declare -A HAND
for round in $(seq 1 "$ROUNDS"); do
  result=$("$BENCH" handoff --url "$REDIS_URL" --prefix "bench:handoff:$round:" --handoffs "$HANDOFFS")
  for key in p50_ms p99_ms mean_ms per_sec; do HAND[$key]+="$(field "$key" <<<"$result") "; done
  echo "  round $round handoff: $result" >&2
done
POLLING=$("$BENCH" handoff --url "$REDIS_URL" --prefix "bench:handoff:polling:" --handoffs 300 --polling)
echo "  polling baseline: $POLLING" >&2

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '\n%-20s %14s %14s %10s %10s %14s\n' "strategy" "purchases/s" "attempts/s" "p50 ms" "p99 ms" "buy p99 ms"
for strategy in "${STRATEGIES[@]}"; do
  printf '%-20s %14.0f %14.0f %10.2f %10.2f %14.2f\n' "$strategy" "$(med "${PPS[$strategy]}")" \
    "$(med "${APS[$strategy]}")" "$(med "${P50[$strategy]}")" "$(med "${P99[$strategy]}")" "$(med "${PP99[$strategy]}")"
done
printf '\n%-20s %14s %10s   (the stock step alone: no HTTP, sessions, idempotency or order rows)\n' "strategy" "takes/s" "p99 ms"
for strategy in "${STRATEGIES[@]}"; do
  printf '%-20s %14.0f %10.2f\n' "$strategy" "$(med "${SPPS[$strategy]}")" "$(med "${SP99[$strategy]}")"
done
printf '\n%-34s %16s %16s %8s\n' "uncontended" "redis-benchmark" "acquire+release" "ratio"
for clients in 1 50; do
  printf '%-34s %16.0f %16.0f %8s\n' "SET vs acquire+release, $clients client(s)" "$(med "${REF[$clients]}")" \
    "$(med "${UNC[$clients]}")" "$(ratio "$(med "${UNC[$clients]}")" "$(med "${REF[$clients]}")")"
done
printf '\n%-34s %10s %10s %10s %12s\n' "hand-off, 16 waiters, 4 managers" "p50 ms" "p99 ms" "mean ms" "per second"
printf '%-34s %10.3f %10.3f %10.3f %12.0f\n' "release notices" "$(med "${HAND[p50_ms]}")" "$(med "${HAND[p99_ms]}")" \
  "$(med "${HAND[mean_ms]}")" "$(med "${HAND[per_sec]}")"
printf '%-34s %10.3f %10.3f %10.3f %12.0f\n' "polling every 100 ms (baseline)" "$(field p50_ms <<<"$POLLING")" \
  "$(field p99_ms <<<"$POLLING")" "$(field mean_ms <<<"$POLLING")" "$(field per_sec <<<"$POLLING")"
echo
echo "(medians of $ROUNDS rounds; $ATTEMPTS attempts for $UNITS units at concurrency $CONCURRENCY over 3 instances;"
echo " machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB)"
echo
for strategy in "${STRATEGIES[@]}"; do
  echo "BENCH lock.strategy.${strategy}.purchases_per_sec $(med "${PPS[$strategy]}") purchases/s"
  echo "BENCH lock.strategy.${strategy}.p99_ms $(med "${P99[$strategy]}") ms"
done
# Informational, not a goal: these compare our stock strategies with each other, not us with a peer (the order path
# beside pgbench is `make bench-orders`).
echo "BENCH lock.atomic_vs_lock.ratio $(ratio "$(med "${PPS[conditional-update]}")" "$(med "${PPS[lock]}")") x"
echo "BENCH lock.step.atomic_vs_lock.ratio $(ratio "$(med "${SPPS[conditional-update]}")" "$(med "${SPPS[lock]}")") x"
echo "BENCH lock.counter_vs_lock.ratio $(ratio "$(med "${PPS[redis-counter]}")" "$(med "${PPS[lock]}")") x"
echo "BENCH lock.uncontended_vs_set.ratio $(ratio "$(med "${UNC[1]}")" "$(med "${REF[1]}")") x"
echo "BENCH lock.handoff.p50_ms $(med "${HAND[p50_ms]}") ms"
echo "BENCH lock.handoff.p99_ms $(med "${HAND[p99_ms]}") ms"
