#!/usr/bin/env bash
# Authenticated GET /api/v1/me (session loaded from Redis) vs an anonymous route, with wrk, against the
# same release `shop` process, in the same run.
#
# Starts what it needs: the local Redis and PostgreSQL (scripts/services.sh), then two `shop serve`
# processes on free loopback ports — the default configuration (last-seen written at most once a minute)
# and one with SESSION_TOUCH_INTERVAL_SECONDS=0 (written on every request) — both with a key prefix of
# their own, removed afterwards. Each scenario runs ROUNDS times, alternating; the table shows medians.
#
#   ROUNDS       rounds per scenario            (default 5)
#   DURATION     seconds per wrk run            (default 10)
#   CONNECTIONS  wrk connections                (default 64)
#   THREADS      wrk threads                    (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}

bash scripts/services.sh >/dev/null
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "wrk is missing; install it with: sudo apt-get install -y wrk" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

echo "building shop (release)..." >&2
swift build -c release --product shop >&2
SHOP="$(swift build -c release --show-bin-path)/shop"

DIR=$(mktemp -d)
PREFIX="bench:sessions:$$:"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  redis-cli --scan --pattern "${PREFIX}*" | xargs -r redis-cli del >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

"$SHOP" migrate >/dev/null
"$SHOP" seed >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start() { # name, extra environment... -> sets STARTED_PORT
  local name=$1 port; shift
  port=$(free_port)
  env HTTP_PORT="$port" INSTANCE_ID="bench-$name" LOG_LEVEL=warning SESSION_KEY_PREFIX="$PREFIX$name:" \
    DATABASE_MIGRATE_ON_START=false "$@" "$SHOP" serve >"$DIR/$name.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null || { cat "$DIR/$name.log" >&2; exit 1; }
  STARTED_PORT=$port
}

start default
PORT=$STARTED_PORT
start touch0 SESSION_TOUCH_INTERVAL_SECONDS=0
PORT_TOUCH=$STARTED_PORT

login() { # port -> cookie value
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -d '{"email":"demo@example.com","password":"demo-password-local"}' "http://127.0.0.1:$1/api/v1/auth/login" \
    | tr -d '\r' | awk -F'[=;]' 'tolower($0) ~ /^set-cookie: shop_session=/ { print $2 }'
}
COOKIE=$(login "$PORT")
COOKIE_TOUCH=$(login "$PORT_TOUCH")
[ -n "$COOKIE" ] && [ -n "$COOKIE_TOUCH" ] || { echo "sign-in failed" >&2; exit 1; }

check() { # url, cookie -> status
  curl -s -o /dev/null -w '%{http_code}' ${2:+-H "Cookie: shop_session=$2"} "$1"
}
for pair in "$PORT $COOKIE" "$PORT_TOUCH $COOKIE_TOUCH"; do
  read -r port cookie <<<"$pair"
  [ "$(check "http://127.0.0.1:$port/api/v1/me" "$cookie")" = 200 ] || { echo "GET /api/v1/me is not 200" >&2; exit 1; }
done
SIZE_ME=$(curl -s -H "Cookie: shop_session=$COOKIE" "http://127.0.0.1:$PORT/api/v1/me" | wc -c)
SIZE_ANON=$(curl -s "http://127.0.0.1:$PORT/health/live" | wc -c)

# wrk: prints "requests_per_second p99_ms non2xx"
run() { # url, cookie
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency ${2:+-H "Cookie: shop_session=$2"} "$1")
  echo "$out" | awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); p99 = v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); p99 = v } else if (v ~ /s$/) { sub(/s$/, "", v); p99 = v * 1000 } }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    END { printf "%s %s %d\n", rps, p99, bad }'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RPS P99
SCENARIOS=(anon me me_touch0)
for round in $(seq 1 "$ROUNDS"); do
  for scenario in "${SCENARIOS[@]}"; do
    case $scenario in
      anon) result=$(run "http://127.0.0.1:$PORT/health/live" "") ;;
      me) result=$(run "http://127.0.0.1:$PORT/api/v1/me" "$COOKIE") ;;
      me_touch0) result=$(run "http://127.0.0.1:$PORT_TOUCH/api/v1/me" "$COOKIE_TOUCH") ;;
    esac
    read -r rps p99 bad <<<"$result"
    if [ "${bad:-0}" != 0 ]; then echo "$scenario: $bad responses were not 2xx" >&2; exit 1; fi
    RPS[$scenario]+="$rps "
    P99[$scenario]+="$p99 "
    echo "  round $round $scenario: $rps req/s, p99 $p99 ms" >&2
  done
done

med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }
ANON=$(med "${RPS[anon]}"); ME=$(med "${RPS[me]}"); ME0=$(med "${RPS[me_touch0]}")
ANON99=$(med "${P99[anon]}"); ME99=$(med "${P99[me]}"); ME099=$(med "${P99[me_touch0]}")
RATIO=$(awk -v a="$ME" -v b="$ANON" 'BEGIN { printf "%.2f", a / b }')
RATIO0=$(awk -v a="$ME0" -v b="$ANON" 'BEGIN { printf "%.2f", a / b }')

printf '\n%-44s %8s %12s %10s %8s\n' "scenario" "bytes" "req/s" "p99 ms" "ratio"
printf '%-44s %8d %12.0f %10.2f %8s\n' "GET /health/live (anonymous)" "$SIZE_ANON" "$ANON" "$ANON99" "1.00x"
printf '%-44s %8d %12.0f %10.2f %7sx\n' "GET /api/v1/me (session, touch <= 1/min)" "$SIZE_ME" "$ME" "$ME99" "$RATIO"
printf '%-44s %8d %12.0f %10.2f %7sx\n' "GET /api/v1/me (session, touch every request)" "$SIZE_ME" "$ME0" "$ME099" "$RATIO0"
echo
echo "(medians of $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; one release shop per configuration;"
echo " wrk, shop, redis-server and PostgreSQL share the machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB)"
echo
echo "BENCH sessions.auth_vs_anon.ratio $RATIO x"
echo "BENCH sessions.auth_touch_every_request_vs_anon.ratio $RATIO0 x"
echo "BENCH sessions.me.rps $(printf '%.0f' "$ME") req/s"
echo "BENCH sessions.anon.rps $(printf '%.0f' "$ANON") req/s"
echo "BENCH sessions.me.p99_ms $ME99 ms"
echo "BENCH sessions.anon.p99_ms $ANON99 ms"
