#!/usr/bin/env bash
# Notifications across instances, in one run:
#   1. the floor: Redis pub/sub alone (RedisClient PUBLISH → RedisClient subscriber) at RATE messages/s;
#   2. end to end: an admin broadcast sent to instance A (HTTP), inbox rows written, announced on Redis, pushed by
#      instance B to USERS open SSE streams — RATE events/s delivered in all; latency from sending the request to
#      each stream reading the event.
# Everything runs against one private redis-server on a free port and a database of its own
# (`shop_bench_pubsub`). Medians over ROUNDS.
#
#   ROUNDS   rounds per scenario           (default 3)
#   RATE     events per second delivered   (default 1000)
#   USERS    open streams (one per user)   (default 10)
#   DURATION measured seconds per round    (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/scripts/common.sh

ROUNDS=${ROUNDS:-3}
RATE=${RATE:-1000}
USERS=${USERS:-10}
SECONDS_MEASURED=${DURATION:-10}

eval "$(bash scripts/services.sh 2>/dev/null | grep -E '^(REDIS_URL|DATABASE_URL)=')"
use_bench_database shop_bench_pubsub
build_shop
echo "building the pub/sub benchmark (release)..." >&2
swift build -c release --package-path Benchmarks --product PubSubBenchmark >&2
BENCH="$(swift build -c release --package-path Benchmarks --show-bin-path)/PubSubBenchmark"

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
# Broadcasts reach every user: keep only the seeded accounts and this run's stream users.
sql "DELETE FROM users WHERE email LIKE 'bench-%@pubsub.test'" >/dev/null
sql "DELETE FROM notifications" >/dev/null

# Instance A takes the broadcasts, instance B holds the streams; cheap password hashing for the bench users.
start_shop a PASSWORD_HASH_COST=4 LOGIN_MAX_ATTEMPTS_PER_ADDRESS=100000 NOTIFICATIONS_CHANNEL=bench:notify
A=$STARTED_PORT
start_shop b PASSWORD_HASH_COST=4 LOGIN_MAX_ATTEMPTS_PER_ADDRESS=100000 NOTIFICATIONS_CHANNEL=bench:notify
B=$STARTED_PORT

login() { # port email password
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "{\"email\":\"$2\",\"password\":\"$3\"}" \
    "http://127.0.0.1:$1/api/v1/auth/login" | tr -d '\r' | awk -F'[=;]' 'tolower($0) ~ /^set-cookie: shop_session=/ { print $2 }'
}
admin=$(login "$A" admin@example.com admin-password-local)
[ -n "$admin" ] || { echo "admin sign-in failed" >&2; exit 1; }
cookies=""
for i in $(seq 1 "$USERS"); do
  email="bench-$i@pubsub.test"
  curl -s -o /dev/null -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"bench-password-$i\"}" \
    "http://127.0.0.1:$A/api/v1/auth/register"
  cookie=$(login "$A" "$email" "bench-password-$i")
  [ -n "$cookie" ] || { echo "sign-in of $email failed" >&2; exit 1; }
  cookies+="${cookies:+,}shop_session=$cookie"
done

declare -A R
for round in $(seq 1 "$ROUNDS"); do
  raw=$("$BENCH" raw-pub-sub --url "$REDIS_URL" --rate "$RATE" --seconds "$SECONDS_MEASURED")
  echo "  round $round redis pub/sub: $raw" >&2
  R[raw50]+="$(field p50_ms <<<"$raw") "
  R[raw99]+="$(field p99_ms <<<"$raw") "
  streams=$("$BENCH" streams --publish-url "http://127.0.0.1:$A" --stream-url "http://127.0.0.1:$B" \
    --admin-cookie "shop_session=$admin" --user-cookies "$cookies" --rate "$RATE" --seconds "$SECONDS_MEASURED")
  echo "  round $round streams: $streams" >&2
  if [ "$(field missing <<<"$streams")" != 0 ] || [ "$(field failures <<<"$streams")" != 0 ]; then
    echo "events went missing or broadcasts failed: $streams" >&2
    exit 1
  fi
  R[sse50]+="$(field p50_ms <<<"$streams") "
  R[sse99]+="$(field p99_ms <<<"$streams") "
  R[events]+="$(field events <<<"$streams") "
done
med() { tr ' ' '\n' | grep -v '^$' | median; }

printf '\n%-58s %10s %10s\n' "scenario ($RATE events/s, medians of $ROUNDS rounds)" "p50 ms" "p99 ms"
printf '%-58s %10s %10s\n' "Redis pub/sub alone (RedisClient → RedisClient)" "$(med <<<"${R[raw50]}")" "$(med <<<"${R[raw99]}")"
printf '%-58s %10s %10s\n' "broadcast on A → $USERS SSE streams on B" "$(med <<<"${R[sse50]}")" "$(med <<<"${R[sse99]}")"
echo
echo "BENCH pubsub.cross_instance.p99_ms $(med <<<"${R[sse99]}") ms"
echo "BENCH pubsub.cross_instance.p50_ms $(med <<<"${R[sse50]}") ms"
echo "BENCH pubsub.redis_only.p99_ms $(med <<<"${R[raw99]}") ms"
