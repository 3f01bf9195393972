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

# Signs a user in and prints the session cookie's value (empty when the sign-in failed).
login_as() { # port email password
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"email\":\"$2\",\"password\":\"$3\"}" "http://127.0.0.1:$1/api/v1/auth/login" \
    | tr -d '\r' | awk -F'[=;]' 'tolower($0) ~ /^set-cookie: shop_session=/ { print $2 }'
}

# Signs the seeded demo user in and prints the session cookie's value.
login_demo() { # port
  login_as "$1" demo@example.com demo-password-local
}

# Registers (if new) and signs in COUNT users <name>-<n>@example.com through the shop on PORT, and writes their
# cookies to FILE, one `shop_session=<value>` per line.
sign_up_users() { # port count name file
  local user email password cookie
  : >"$4"
  for user in $(seq 1 "$2"); do
    email="$3-$user@example.com"
    password="bench-password-$user"
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"email\":\"$email\",\"password\":\"$password\"}" "http://127.0.0.1:$1/api/v1/auth/register"
    cookie=$(login_as "$1" "$email" "$password")
    [ -n "$cookie" ] || { echo "sign-in of $email failed" >&2; exit 1; }
    echo "shop_session=$cookie" >>"$4"
  done
}

# Starts a redis-server of the benchmark's own on a free port (no persistence, its files in DIR), waits until it
# answers, sets PORT and exports REDIS_URL. The caller's cleanup stops it: redis-cli -p "$PORT" shutdown nosave.
start_private_redis() {
  PORT=$(free_port)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
    --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
  for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$PORT/0"
}

# Builds the LockBenchmark load generator (locks, stock, orders over HTTP) in release and sets BENCH to its path.
build_lock_benchmark() {
  echo "building LockBenchmark (release)..." >&2
  swift build -c release --package-path Benchmarks --product LockBenchmark >&2
  BENCH="$(swift build -c release --package-path Benchmarks --show-bin-path)/LockBenchmark"
}

# Empties the order history of the benchmark's database (DATABASE_URL): a previous run's orders reference the
# products it is about to replace.
empty_orders() {
  psql -X -q "$DATABASE_URL" -c "TRUNCATE orders, order_items, outbox, processed_messages, sent_messages,
    notifications, idempotency_records CASCADE" >/dev/null 2>&1
}
