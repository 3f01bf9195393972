# Helpers shared by the benchmark scripts (sourced, not run). The caller sets `set -euo pipefail`, cds to the
# repository root, and defines DIR (a scratch directory) and PIDS (an array) before calling start_shop.

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# wrk, installed on first use.
need_wrk() {
  command -v wrk >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] || { echo "wrk is missing; install it with: sudo apt-get install -y wrk" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

# Builds `shop` in release and sets SHOP to its path.
build_shop() {
  echo "building shop (release)..." >&2
  swift build -c release --product shop >&2
  SHOP="$(swift build -c release --show-bin-path)/shop"
}

# Points DATABASE_URL at a database of the benchmark's own on the local PostgreSQL, creating it when missing.
use_bench_database() { # name
  DATABASE_URL="${DATABASE_URL%/*}/$1"
  export DATABASE_URL
  local admin="${DATABASE_URL%/*}/postgres"
  psql -X -q "$admin" -tc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1 \
    || psql -X -q "$admin" -c "CREATE DATABASE $1" >/dev/null
}

# Starts `shop serve` on a free port with extra environment, waits until it is ready, sets STARTED_PORT.
start_shop() { # name, VAR=value...
  local name=$1 port
  shift
  port=$(free_port)
  env HTTP_PORT="$port" INSTANCE_ID="bench-$name" LOG_LEVEL=warning DATABASE_MIGRATE_ON_START=false "$@" \
    "$SHOP" serve >"$DIR/$name.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null || {
    echo "shop ($name) did not start; log:" >&2
    cat "$DIR/$name.log" >&2
    exit 1
  }
  STARTED_PORT=$port
}

# Stops every started shop.
stop_shops() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

# Signs the seeded demo user in and prints the session cookie's value.
login_demo() { # port
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -d '{"email":"demo@example.com","password":"demo-password-local"}' "http://127.0.0.1:$1/api/v1/auth/login" \
    | tr -d '\r' | awk -F'[=;]' 'tolower($0) ~ /^set-cookie: shop_session=/ { print $2 }'
}
