#!/usr/bin/env bash
# Resident memory of one release `shop serve` under MINUTES of mixed load, sampled every 5 s from /proc:
#   - cached product reads (wrk, READ_CONNECTIONS connections, random products of a 1,000-product catalog);
#   - orders (ORDER_CALLERS callers placing one-unit orders of random products, each as one of 10 users);
#   - SSE_STREAMS open notification streams of those users (at most 5 per user: the default cap), which receive each order's notification.
# Prints `BENCH instance.rss_mb` (at the end) and `BENCH instance.rss_growth_mb` (the end minus the sample one
# minute in: what the last MINUTES-1 minutes added), writes the samples to $OUT/instance-rss.csv and the plot to
# $OUT/instance-rss.png (matplotlib, installed with pip when missing). `OUT=docs/images make bench-memory` refreshes
# the figure the docs show.
# Private redis-server on a free port (removed afterwards); its own database `shop_bench_memory`.
#
#   MINUTES           minutes of load       (default 5)
#   READ_CONNECTIONS  wrk connections       (default 8)
#   ORDER_CALLERS     order callers         (default 4)
#   SSE_STREAMS       open SSE streams      (default 50)
#   OUT               where the CSV and PNG go (default .run/bench-memory)
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/scripts/common.sh

MINUTES=${MINUTES:-5}
READ_CONNECTIONS=${READ_CONNECTIONS:-8}
ORDER_CALLERS=${ORDER_CALLERS:-4}
SSE_STREAMS=${SSE_STREAMS:-50}
OUT=${OUT:-.run/bench-memory}
USERS=10

need_wrk
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib >&2 \
  || pip install -q --break-system-packages matplotlib >&2
eval "$(bash scripts/services.sh 2>/dev/null | grep -E '^(REDIS_URL|DATABASE_URL)=')"
use_bench_database shop_bench_memory
build_shop
build_lock_benchmark

DIR=$(mktemp -d)
PIDS=()
LOAD=()
STREAMS=()
start_private_redis
cleanup() {
  for pid in "${LOAD[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_shops
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
sql() { psql -X -q -t -A "$DATABASE_URL" -c "$1"; }

LOG_LEVEL=warning "$SHOP" migrate >/dev/null
LOG_LEVEL=warning "$SHOP" seed >/dev/null
empty_orders
sql "DELETE FROM products WHERE name LIKE 'Bench memory %'" >/dev/null
sql "INSERT INTO products (id, name, description, price, currency, stock)
  SELECT gen_random_uuid(), 'Bench memory ' || n, '', 1.00 + (n % 100), 'USD', 100000000
  FROM generate_series(1, 1000) AS n" >/dev/null
sql "SELECT id FROM products WHERE name LIKE 'Bench memory %'" >"$DIR/products"

start_shop memory
SHOP_PID=${PIDS[0]}
BASE="http://127.0.0.1:$STARTED_PORT"
sign_up_users "$STARTED_PORT" "$USERS" bench-memory "$DIR/cookies"

# wrk reads random products of the catalog.
{
  echo 'local ids = {'
  sed 's/.*/"&",/' "$DIR/products"
  echo '}'
  echo 'request = function() return wrk.format("GET", "/api/v1/products/" .. ids[math.random(#ids)]) end'
} >"$DIR/reads.lua"

# The instance's RSS in MB; ends the run when the instance is gone (an empty sample would read as 0 MB).
rss_mb() {
  local kb
  kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SHOP_PID/status" 2>/dev/null || true)
  [ -n "$kb" ] || { echo "the shop (pid $SHOP_PID) is gone; its log:" >&2; cat "$DIR/memory.log" >&2; exit 1; }
  awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }'
}
SECONDS_TOTAL=$((MINUTES * 60))
echo "seconds,rss_mb" >"$DIR/memory.csv"
echo "seconds,rss_mb" >&2
sample=$(rss_mb)
echo "0,$sample" | tee -a "$DIR/memory.csv" >&2

for stream in $(seq 1 "$SSE_STREAMS"); do
  cookie=$(sed -n "$(((stream - 1) % USERS + 1))p" "$DIR/cookies")
  curl -s -N -o /dev/null -H "Cookie: $cookie" --max-time $((SECONDS_TOTAL + 30)) \
    "$BASE/api/v1/notifications/stream" &
  LOAD+=("$!")
  STREAMS+=("$!")
done
wrk -t1 -c"$READ_CONNECTIONS" -d"${SECONDS_TOTAL}s" -s "$DIR/reads.lua" "$BASE" >"$DIR/wrk.txt" 2>&1 &
LOAD+=("$!")
"$BENCH" orders --urls "$BASE" --cookies-file "$DIR/cookies" --products-file "$DIR/products" \
  --seconds "$SECONDS_TOTAL" --concurrency "$ORDER_CALLERS" --key-prefix "bench-memory-$RANDOM" >"$DIR/orders.txt" &
ORDERS_PID=$!
LOAD+=("$ORDERS_PID")

started=$SECONDS
while [ $((SECONDS - started)) -lt "$SECONDS_TOTAL" ]; do
  sleep 5
  sample=$(rss_mb)
  echo "$((SECONDS - started)),$sample" | tee -a "$DIR/memory.csv" >&2
done
wait "$ORDERS_PID" || { echo "the order load failed: $(cat "$DIR/orders.txt")" >&2; exit 1; }
sleep 2
streams=0
for pid in "${STREAMS[@]}"; do kill -0 "$pid" 2>/dev/null && streams=$((streams + 1)); done

reads=$(awk '/requests in/ { print $1 }' "$DIR/wrk.txt")
echo "load: $reads product reads; orders: $(cat "$DIR/orders.txt"); SSE streams still open: $streams" >&2
mkdir -p "$OUT"
cp "$DIR/memory.csv" "$OUT/instance-rss.csv"
python3 - "$OUT/instance-rss.csv" "$OUT/instance-rss.png" "$MINUTES" <<'EOF'
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
xs = [int(r["seconds"]) / 60 for r in rows]
ys = [float(r["rss_mb"]) for r in rows]
fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
ax.plot(xs, ys, color="#2563eb")
ax.axhline(100, color="#dc2626", linestyle="--", linewidth=1, label="goal: 100 MB")
ax.set_xlabel("minutes of mixed load (reads, orders, SSE streams)")
ax.set_ylabel("RSS of one shop serve (MB)")
ax.set_ylim(0, max(110, max(ys) * 1.1))
ax.legend(loc="lower right")
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(sys.argv[2])
EOF
end=$(tail -1 "$DIR/memory.csv" | cut -d, -f2)
minute=$(awk -F, 'NR > 1 && $1 >= 60 { print $2; exit }' "$DIR/memory.csv")
echo "wrote $OUT/instance-rss.csv and $OUT/instance-rss.png" >&2
echo "BENCH instance.rss_mb $end MB"
echo "BENCH instance.rss_growth_mb $(awk -v a="$end" -v b="$minute" 'BEGIN { printf "%.1f", a - b }') MB"
