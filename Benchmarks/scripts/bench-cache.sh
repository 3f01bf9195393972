#!/usr/bin/env bash
# The catalog cache: a cached GET /api/v1/products/{id} against the same route with the cache disabled, and
# against GET /health/live (the trivial-route reference), measured with wrk in the same run.
#
# Starts two release `shop serve` instances on free loopback ports, both on the local Redis and PostgreSQL
# (scripts/services.sh) and on a database of their own (`shop_bench`, migrated and seeded):
#   cached    CACHE_ENABLED=true (default settings, a key prefix of this run's own)
#   uncached  CACHE_ENABLED=false
# Each round runs the three scenarios one after the other; the table shows medians over the rounds.
#
#   ROUNDS       rounds                      (default 5)
#   DURATION     seconds per wrk run         (default 10)
#   CONNECTIONS  wrk connections             (default 64)
#   THREADS      wrk threads                 (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PRODUCT=0b5c4b1e-7d1f-4c55-9f4e-000000000004

if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "wrk is missing: sudo apt-get install -y wrk" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
eval "$(bash scripts/services.sh 2>/dev/null | grep -E '^(REDIS_URL|DATABASE_URL)=')"
export REDIS_URL
DATABASE_URL="${DATABASE_URL%/*}/shop_bench"
export DATABASE_URL
PGURL_ADMIN="${DATABASE_URL%/*}/postgres"
psql -X -q "$PGURL_ADMIN" -tc "SELECT 1 FROM pg_database WHERE datname = 'shop_bench'" | grep -q 1 \
  || psql -X -q "$PGURL_ADMIN" -c "CREATE DATABASE shop_bench" >/dev/null

echo "building shop (release)..." >&2
swift build -c release --product shop >&2
SHOP="$(swift build -c release --show-bin-path)/shop"
LOG_LEVEL=warning "$SHOP" seed >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PREFIX="bench:cache:$RANDOM$RANDOM:"
DIR=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX*" | xargs -r redis-cli -u "$REDIS_URL" unlink >/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

start() { # name port cache-enabled
  INSTANCE_ID="bench-$1" HTTP_PORT="$2" CACHE_ENABLED="$3" CACHE_KEY_PREFIX="$PREFIX" LOG_LEVEL=warning \
    "$SHOP" serve >"$DIR/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$2/health/ready" >/dev/null && return 0
    sleep 0.1
  done
  echo "shop ($1) did not start; log:" >&2
  cat "$DIR/$1.log" >&2
  exit 1
}
CACHED_PORT=$(free_port)
start cached "$CACHED_PORT" true
UNCACHED_PORT=$(free_port)
start uncached "$UNCACHED_PORT" false

# The two routes answer the same bytes.
[ "$(curl -fs "http://127.0.0.1:$CACHED_PORT/api/v1/products/$PRODUCT")" = \
  "$(curl -fs "http://127.0.0.1:$UNCACHED_PORT/api/v1/products/$PRODUCT")" ] \
  || { echo "cached and uncached answers differ" >&2; exit 1; }

# wrk: prints "requests_per_second p50_ms p99_ms"; fails on any non-2xx answer or socket error.
measure() { # url
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1")
  if grep -qE "Non-2xx|Socket errors" <<<"$out"; then
    echo "wrk reported errors for $1:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
      return v
    }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { print rps, p50, p99 }
  ' <<<"$out"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Warm-up (fills the cache, opens connections, pages in code).
wrk -t1 -c8 -d2s "http://127.0.0.1:$CACHED_PORT/api/v1/products/$PRODUCT" >/dev/null
wrk -t1 -c8 -d2s "http://127.0.0.1:$UNCACHED_PORT/api/v1/products/$PRODUCT" >/dev/null
wrk -t1 -c8 -d2s "http://127.0.0.1:$CACHED_PORT/health/live" >/dev/null

declare -A RPS P50 P99
for scenario in live cached uncached; do RPS[$scenario]=""; P50[$scenario]=""; P99[$scenario]=""; done
for round in $(seq 1 "$ROUNDS"); do
  for scenario in live cached uncached; do
    case $scenario in
      live) url="http://127.0.0.1:$CACHED_PORT/health/live" ;;
      cached) url="http://127.0.0.1:$CACHED_PORT/api/v1/products/$PRODUCT" ;;
      uncached) url="http://127.0.0.1:$UNCACHED_PORT/api/v1/products/$PRODUCT" ;;
    esac
    read -r rps p50 p99 <<<"$(measure "$url")"
    RPS[$scenario]+="$rps "
    P50[$scenario]+="$p50 "
    P99[$scenario]+="$p99 "
    echo "  round $round $scenario: $rps req/s, p50 $p50 ms, p99 $p99 ms" >&2
  done
done

printf '\n%-44s %12s %10s %10s\n' "scenario" "req/s" "p50 ms" "p99 ms"
declare -A M
for scenario in live cached uncached; do
  M[$scenario.rps]=$(tr ' ' '\n' <<<"${RPS[$scenario]}" | grep . | median)
  M[$scenario.p50]=$(tr ' ' '\n' <<<"${P50[$scenario]}" | grep . | median)
  M[$scenario.p99]=$(tr ' ' '\n' <<<"${P99[$scenario]}" | grep . | median)
done
printf '%-44s %12.0f %10.3f %10.3f\n' "GET /health/live (reference)" "${M[live.rps]}" "${M[live.p50]}" "${M[live.p99]}"
printf '%-44s %12.0f %10.3f %10.3f\n' "GET /api/v1/products/{id}, cached" "${M[cached.rps]}" "${M[cached.p50]}" "${M[cached.p99]}"
printf '%-44s %12.0f %10.3f %10.3f\n' "GET /api/v1/products/{id}, CACHE_ENABLED=false" "${M[uncached.rps]}" "${M[uncached.p50]}" "${M[uncached.p99]}"
echo
echo "(medians of $ROUNDS rounds; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB)"
echo
echo "BENCH cache.cached.rps $(printf '%.0f' "${M[cached.rps]}") req/s"
echo "BENCH cache.cached_vs_live.ratio $(awk -v a="${M[cached.rps]}" -v b="${M[live.rps]}" 'BEGIN { printf "%.2f", a / b }') x"
echo "BENCH cache.cached_vs_uncached.ratio $(awk -v a="${M[cached.rps]}" -v b="${M[uncached.rps]}" 'BEGIN { printf "%.2f", a / b }') x"
echo "BENCH cache.cached.p99_ms ${M[cached.p99]} ms"
