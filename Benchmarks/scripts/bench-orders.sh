#!/usr/bin/env bash
# The order path beside pgbench, on the same PostgreSQL, at the same client counts, in the same run:
#   - pgbench -b tpcb-like (scale PGBENCH_SCALE, its own database) for SECONDS_EACH at 16 and 64 clients;
#   - POST /api/v1/orders from as many HTTP callers, spread over three release `shop serve` instances, each order
#     one unit of a random product of a catalog of PRODUCTS products with ample stock (no hot row), for USERS
#     signed-in users, for SECONDS_EACH. The instances' own consumers post-process the orders meanwhile (points,
#     confirmation, notification); the script then waits until every order is post-processed, checks that none
#     is missing, and reports that drain time too.
# Rounds alternate pgbench and ours. The shops run only during their phase (pgbench runs alone).
# Everything but PostgreSQL is private: a redis-server on a free port (removed afterwards) and databases of the
# benchmark's own (`shop_bench_orders`, `shop_bench_pgbench`).
#
#   ROUNDS         rounds                         (default 3)
#   SECONDS_EACH   seconds per measurement        (default 20)
#   CLIENTS        client counts                  (default "16 64")
#   PRODUCTS       catalog size                   (default 10000)
#   USERS          signed-in users                (default 16)
#   PGBENCH_SCALE  pgbench's scale factor         (default 10: 1,000,000 accounts)
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/scripts/common.sh

ROUNDS=${ROUNDS:-3}
SECONDS_EACH=${SECONDS_EACH:-20}
CLIENTS=${CLIENTS:-16 64}
PRODUCTS=${PRODUCTS:-10000}
USERS=${USERS:-16}
PGBENCH_SCALE=${PGBENCH_SCALE:-10}

eval "$(bash scripts/services.sh 2>/dev/null | grep -E '^(REDIS_URL|DATABASE_URL)=')"
BASE_DATABASE_URL=$DATABASE_URL
use_bench_database shop_bench_pgbench
PGBENCH_URL=$DATABASE_URL
DATABASE_URL=$BASE_DATABASE_URL
use_bench_database shop_bench_orders
build_shop
build_lock_benchmark
command -v pgbench >/dev/null || { echo "pgbench is missing (it comes with postgresql-contrib / postgresql)" >&2; exit 1; }

DIR=$(mktemp -d)
PIDS=()
start_private_redis
cleanup() {
  stop_shops
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

sql() { psql -X -q -t -A "$DATABASE_URL" -c "$1"; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

echo "preparing: migrations, $PRODUCTS products, $USERS users, pgbench scale $PGBENCH_SCALE..." >&2
LOG_LEVEL=warning "$SHOP" migrate >/dev/null
LOG_LEVEL=warning "$SHOP" seed >/dev/null
empty_orders
sql "DELETE FROM products WHERE name LIKE 'Bench order %'" >/dev/null
sql "INSERT INTO products (id, name, description, price, currency, stock)
  SELECT gen_random_uuid(), 'Bench order ' || n, '', 1.00 + (n % 100), 'USD', 100000000
  FROM generate_series(1, $PRODUCTS) AS n" >/dev/null
sql "SELECT id FROM products WHERE name LIKE 'Bench order %'" >"$DIR/products"
pgbench -q -i -s "$PGBENCH_SCALE" "$PGBENCH_URL" >/dev/null 2>&1
sql "ANALYZE products" >/dev/null

start_fleet() {
  URLS=""
  for instance in 1 2 3; do
    start_shop "orders-$instance"
    URLS+="${URLS:+,}http://127.0.0.1:$STARTED_PORT"
  done
}
start_fleet
sign_up_users "${URLS##*:}" "$USERS" bench-orders "$DIR/cookies"
stop_shops

# Waits until every order has been post-processed; prints the seconds it took.
drain() {
  local started=$SECONDS waiting
  while :; do
    waiting=$(sql "SELECT count(*) FROM orders WHERE processed_at IS NULL")
    [[ $waiting =~ ^[0-9]+$ ]] || { echo "could not count the orders waiting for post-processing" >&2; exit 1; }
    [ "$waiting" = 0 ] && break
    if [ $((SECONDS - started)) -gt 600 ]; then
      echo "post-processing did not catch up in 600 s: $waiting orders not processed" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo $((SECONDS - started))
}

declare -A TPS OPS P50 P99 DRAIN SUSTAINED
for round in $(seq 1 "$ROUNDS"); do
  for clients in $CLIENTS; do
    result=$(pgbench -b tpcb-like -c "$clients" -j 2 -T "$SECONDS_EACH" -n "$PGBENCH_URL" 2>/dev/null)
    tps=$(awk '/^tps = / { print $3; exit }' <<<"$result")
    [ -n "$tps" ] || { echo "pgbench failed: $result" >&2; exit 1; }
    TPS[$clients]+="$tps "

    before=$(sql "SELECT count(*) FROM orders")
    start_fleet
    result=$("$BENCH" orders --urls "$URLS" --cookies-file "$DIR/cookies" --products-file "$DIR/products" \
      --seconds "$SECONDS_EACH" --concurrency "$clients" --key-prefix "bench-orders-$round-$clients-$RANDOM")
    drained=$(drain)
    stop_shops
    created=$(field created <<<"$result")
    after=$(sql "SELECT count(*) FROM orders")
    if [ "$((after - before))" != "$created" ] || [ "$(field out_of_stock <<<"$result")" != 0 ]; then
      echo "round $round c$clients: $created orders answered 201, $((after - before)) in the database: $result" >&2
      exit 1
    fi
    elapsed=$(field elapsed_s <<<"$result")
    OPS[$clients]+="$(field attempts_per_sec <<<"$result") "
    P50[$clients]+="$(field p50_ms <<<"$result") "
    P99[$clients]+="$(field p99_ms <<<"$result") "
    DRAIN[$clients]+="$drained "
    SUSTAINED[$clients]+="$(awk -v n="$created" -v a="$elapsed" -v d="$drained" 'BEGIN { printf "%.0f", n / (a + d) }') "
    echo "  round $round c$clients: pgbench $tps tps; orders $result; post-processing done $drained s later" >&2
  done
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '\n%-8s %14s %12s %12s %10s %10s %10s %16s\n' "clients" "pgbench tps" "orders/s" "ratio" "p50 ms" "p99 ms" \
  "drain s" "sustained/s"
for clients in $CLIENTS; do
  printf '%-8s %14.0f %12.0f %12s %10.2f %10.2f %10.0f %16.0f\n' "$clients" "$(med "${TPS[$clients]}")" \
    "$(med "${OPS[$clients]}")" "$(ratio "$(med "${OPS[$clients]}")" "$(med "${TPS[$clients]}")")" \
    "$(med "${P50[$clients]}")" "$(med "${P99[$clients]}")" "$(med "${DRAIN[$clients]}")" \
    "$(med "${SUSTAINED[$clients]}")"
done
echo
echo "(medians of $ROUNDS rounds of $SECONDS_EACH s; $PRODUCTS products, $USERS users, 3 instances; pgbench scale" \
  "$PGBENCH_SCALE; 'drain' is how long after the last answer the consumers finished post-processing, 'sustained'" \
  "counts it in)"
for clients in $CLIENTS; do
  echo "BENCH orders.c$clients.per_sec $(med "${OPS[$clients]}") orders/s"
  echo "BENCH orders.c$clients.pgbench_tps $(med "${TPS[$clients]}") tps"
  echo "BENCH orders.c$clients.vs_pgbench.ratio $(ratio "$(med "${OPS[$clients]}")" "$(med "${TPS[$clients]}")") x"
  echo "BENCH orders.c$clients.p99_ms $(med "${P99[$clients]}") ms"
  echo "BENCH orders.c$clients.sustained_per_sec $(med "${SUSTAINED[$clients]}") orders/s"
done
first=${CLIENTS%% *}
echo "BENCH orders.vs_pgbench.ratio $(ratio "$(med "${OPS[$first]}")" "$(med "${TPS[$first]}")") x"
echo "BENCH orders.p99_ms $(med "${P99[$first]}") ms"
