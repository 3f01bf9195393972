#!/usr/bin/env bash
# `make fuzz-api`: schemathesis against the OpenAPI document (GET /openapi.json) of a private shop stack.
#
# Starts its own redis-server, a database of its own on the local PostgreSQL (scripts/services.sh), the simulated
# provider and one `shop serve`, all on free loopback ports (a developer's `make run` is not touched), migrates and
# seeds, signs the demo user and the admin in, and runs schemathesis three times — anonymous, as the user, as the
# admin (admin routes and catalog writes) — with every check that fits (positive and negative data, stateful
# links: create a product, order it, pay it). Prints
#   BENCH api.fuzz.requests <n> requests
#   BENCH api.fuzz.server_errors <n> errors
# and exits non-zero when a 5xx or a failed check was found. Everything it started is stopped on exit.
#
#   SHOP_BIN=path          the shop binary (default: swift build -c $CONFIG --product shop)
#   FUZZ_API_SECONDS=180   the time budget of the schemathesis runs (split between them)
#   FUZZ_API_SEED=n        schemathesis' seed (default: random, printed)
#   FUZZ_API_KEEP=1        keep the run folder (.run/fuzz-api/...) even when everything passed
#   PGHOST/PGPORT/PGUSER/PGPASSWORD  where the private database is created (default: services.sh's shop role)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_BUDGET=${FUZZ_API_SECONDS:-180}
SEED=${FUZZ_API_SEED:-$((RANDOM * 32768 + RANDOM))}
CONFIG=${CONFIG:-debug}
PG_HOST=${PGHOST:-127.0.0.1}
PG_PORT=${PGPORT:-5432}
PG_USER=${PGUSER:-shop}
PG_PASS=${PGPASSWORD:-shop}
WEBHOOK_SECRET="fuzz-local-webhook-secret-0123456789"

log() { printf 'fuzz-api: %s\n' "$*" >&2; }
die() { printf 'fuzz-api: error: %s\n' "$*" >&2; exit 2; }

# --- Tools ------------------------------------------------------------------------------------------------------
command -v redis-server >/dev/null || die "redis-server is missing (run scripts/services.sh)"
command -v psql >/dev/null || die "psql is missing (run scripts/services.sh)"
command -v curl >/dev/null || die "curl is missing"
if ! python3 -c 'import schemathesis' 2>/dev/null; then
  log "installing schemathesis with pip"
  python3 -m pip install --quiet schemathesis || die "pip install schemathesis failed"
fi
ST=(python3 -m schemathesis.cli)
log "$("${ST[@]}" --version)"
if [ -z "${SHOP_BIN:-}" ]; then
  swift build -c "$CONFIG" --product shop
  SHOP_BIN="$(swift build -c "$CONFIG" --show-bin-path)/shop"
fi
[ -x "$SHOP_BIN" ] || die "no shop binary at $SHOP_BIN"

# --- The run's folder and cleanup ------------------------------------------------------------------------------
RUN_DIR="$ROOT/.run/fuzz-api/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$RUN_DIR"
DB_NAME="shop_fuzz_$$_$(date +%s)"
PIDS=()
DB_CREATED=0
psql_admin() {
  PGPASSWORD="$PG_PASS" psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # Only the processes this script started, newest first (the shop before the servers it uses), each by its id.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    local pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$DB_CREATED" = 1 ]; then
    psql_admin -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 \
      || log "could not drop the database $DB_NAME"
  fi
  if [ "$status" = 0 ] && [ -z "${FUZZ_API_KEEP:-}" ]; then
    rm -rf "$RUN_DIR"
  else
    log "run folder kept: ${RUN_DIR#"$ROOT"/}"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() { # url seconds
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# --- Private servers --------------------------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
  --dir "$RUN_DIR" --logfile "$RUN_DIR/redis.log" &
PIDS+=($!)
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG || die "redis-server did not start ($RUN_DIR/redis.log)"
log "redis-server on 127.0.0.1:$REDIS_PORT"

psql_admin -c "CREATE DATABASE $DB_NAME OWNER $PG_USER" >/dev/null \
  || die "cannot create a database as $PG_USER on $PG_HOST:$PG_PORT (run scripts/services.sh)"
DB_CREATED=1
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DATABASE_URL="postgres://$PG_USER:$PG_PASS@$PG_HOST:$PG_PORT/$DB_NAME"
log "database $DB_NAME on $PG_HOST:$PG_PORT"

PROVIDER_PORT=$(free_port)
PROVIDER_HOST=127.0.0.1 PROVIDER_PORT="$PROVIDER_PORT" PAYMENT_WEBHOOK_SECRET="$WEBHOOK_SECRET" LOG_LEVEL=warning \
  "$SHOP_BIN" provider >"$RUN_DIR/provider.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PROVIDER_PORT/health" 30 || die "the provider did not start ($RUN_DIR/provider.log)"

LOG_LEVEL=warning "$SHOP_BIN" migrate >"$RUN_DIR/migrate.log" 2>&1 || die "shop migrate failed ($RUN_DIR/migrate.log)"
LOG_LEVEL=warning "$SHOP_BIN" seed >"$RUN_DIR/seed.log" 2>&1 || die "shop seed failed ($RUN_DIR/seed.log)"

SHOP_PORT=$(free_port)
BASE="http://127.0.0.1:$SHOP_PORT"
# Cheap password hashes and generous sign-in limits: schemathesis registers and signs in thousands of times.
HTTP_HOST=127.0.0.1 HTTP_PORT="$SHOP_PORT" INSTANCE_ID=fuzz-1 LOG_LEVEL=warning \
  RATES_PROVIDER_URL="http://127.0.0.1:$PROVIDER_PORT" PAYMENTS_PROVIDER_URL="http://127.0.0.1:$PROVIDER_PORT" \
  PAYMENT_WEBHOOK_SECRET="$WEBHOOK_SECRET" PASSWORD_HASH_COST=4 \
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS=1000000 LOGIN_MAX_ATTEMPTS_PER_ACCOUNT=100000 \
  "$SHOP_BIN" serve >"$RUN_DIR/shop.log" 2>&1 &
PIDS+=($!)
wait_http "$BASE/health/ready" 120 || die "shop serve did not become ready ($RUN_DIR/shop.log)"
log "shop serve on $BASE (provider on 127.0.0.1:$PROVIDER_PORT)"

# --- Sessions ---------------------------------------------------------------------------------------------------
sign_in() { # email password -> the session cookie's value
  curl -fsS -o /dev/null -D - -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" "$BASE/api/v1/auth/login" \
    | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: shop_session=\([^;]*\);.*/\1/p' | head -1
}
USER_COOKIE=$(sign_in demo@example.com demo-password-local)
ADMIN_COOKIE=$(sign_in admin@example.com admin-password-local)
[ -n "$USER_COOKIE" ] && [ -n "$ADMIN_COOKIE" ] || die "signing in the seeded demo user and admin failed"

# --- schemathesis -----------------------------------------------------------------------------------------------
# Statuses a valid request may still get: the document cannot say which products exist, share a currency or fit a
# total (422), or which resources are the caller's (404).
cat >"$RUN_DIR/schemathesis.toml" <<'EOF'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

# `from` after `to`, or more than 366 days apart: a rule between two parameters the document cannot express.
[[operations]]
include-path = "/api/v1/admin/sales/daily"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403"]
EOF
# Crash reproductions (`st replay`) go to the run's folder, not to .schemathesis/ in the working tree.
printf '\n[cache]\ndirectory = "%s"\n' "$RUN_DIR/schemathesis-cache" >>"$RUN_DIR/schemathesis.toml"
# Webhooks signed as the provider signs them (X-Signature over the exact bytes sent), so the fuzzer reaches the
# webhook's parsing and validation instead of stopping at 401 (the unsigned cases are the service tests' part).
cat >"$RUN_DIR/fuzz_api_hooks.py" <<EOF
import hashlib, hmac, json, time
import schemathesis

SECRET = b"$WEBHOOK_SECRET"

@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/api/v1/webhooks/payments":
        return
    body = case.body
    if isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif type(body).__name__ == "NotSet":
        data = b""
    elif body is None:
        data = b"null"
    else:
        try:
            data = json.dumps(body).encode()
        except (TypeError, ValueError):
            return
    kwargs["data"] = data
    stamp = str(int(time.time()))
    mac = hmac.new(SECRET, stamp.encode() + b"." + data, hashlib.sha256).hexdigest()
    case.headers = dict(case.headers or {}, **{"X-Signature": "t=%s,v1=%s" % (stamp, mac)})
EOF
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
CHECKS+=,response_headers_conformance,negative_data_rejection,positive_data_acceptance,missing_required_header
CHECKS+=,unsupported_method,allow_header_conformance,use_after_free,ensure_resource_availability
# Requests carry neither `Origin` nor `Sec-Fetch-Site`, so the cross-site guard lets their POST/PUT/DELETE through
# (it refuses only what a browser marks as cross-site; docs/security.md).
# Never while signed in: signing in, out or ending sessions would end the run's own session (a sign-in replaces the
# request's session), and a stream with a session never ends.
SESSION_ENDING='^/api/v1/(auth/|me/sessions|me/password|notifications/stream)'
FAILED=0
run_schemathesis() { # name seconds cookie-or-empty extra-args...
  local name=$1 budget=$2 cookie=$3
  shift 3
  local auth=()
  [ -n "$cookie" ] && auth=(-H "Cookie: shop_session=$cookie")
  log "schemathesis run '$name' for ${budget}s (seed $SEED)"
  local status=0
  PYTHONPATH="$RUN_DIR${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=fuzz_api_hooks \
    timeout --kill-after=10 $((budget + 90)) "${ST[@]}" --config-file "$RUN_DIR/schemathesis.toml" run \
    "$BASE/openapi.json" --url "$BASE" \
    --checks "$CHECKS" --mode all --phases examples,coverage,fuzzing,stateful \
    --max-time "$budget" --max-examples 200 --seed "$SEED" --workers 1 \
    --request-timeout 10 --generation-with-security-parameters false \
    --suppress-health-check all --no-color --generation-database none \
    "${auth[@]}" "$@" \
    --report har,junit --report-dir "$RUN_DIR/$name" \
    >"$RUN_DIR/$name.log" 2>&1 || status=$?
  # The summary and the failures, without the progress lines.
  sed -n '/^=\{5,\} \(FAILURES\|ERRORS\|WARNINGS\|SUMMARY\)/,$p' "$RUN_DIR/$name.log" | grep -v '^\s*$' \
    | cut -c1-400 | head -n 200 >&2 || true
  if [ "$status" != 0 ]; then
    log "run '$name': schemathesis exited $status"
    FAILED=1
  fi
}
ANON=$((SECONDS_BUDGET * 20 / 100))
AS_USER=$((SECONDS_BUDGET * 40 / 100))
AS_ADMIN=$((SECONDS_BUDGET - ANON - AS_USER))
# Anonymous, every route: without a session there is none to end, and the notification stream answers 401.
run_schemathesis anonymous "$ANON" ""
run_schemathesis user "$AS_USER" "$USER_COOKIE" --exclude-path-regex "$SESSION_ENDING|^/api/v1/admin/"
run_schemathesis admin "$AS_ADMIN" "$ADMIN_COOKIE" --include-path-regex '^/api/v1/(admin/|products|orders)'

# --- Counts -----------------------------------------------------------------------------------------------------
read -r REQUESTS SERVER_ERRORS < <(python3 - "$RUN_DIR" <<'EOF'
import glob, json, sys
requests = errors = 0
seen = set()
for path in sorted(glob.glob(sys.argv[1] + "/*/har-*.json")):
    with open(path) as handle:
        entries = json.load(handle).get("log", {}).get("entries", [])
    requests += len(entries)
    for entry in entries:
        status = entry.get("response", {}).get("status", 0)
        if status >= 500:
            errors += 1
            request = entry.get("request", {})
            line = "%d %s %s" % (status, request.get("method"), request.get("url"))
            if line not in seen and len(seen) < 20:
                seen.add(line)
                print("fuzz-api: 5xx: " + line[:400], file=sys.stderr)
print(requests, errors)
EOF
)
echo "BENCH api.fuzz.requests $REQUESTS requests"
echo "BENCH api.fuzz.server_errors $SERVER_ERRORS errors"
if [ "$SERVER_ERRORS" != 0 ]; then
  log "the service answered 5xx; the requests are in the HAR files and shop.log of the run folder"
  FAILED=1
fi
[ "$FAILED" = 0 ] || exit 1
log "no 5xx and no failed check"
