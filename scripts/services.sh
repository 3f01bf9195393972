#!/usr/bin/env bash
# Install (when missing and we are root) and start Redis and PostgreSQL on loopback,
# create the `shop` role and database, and print the URLs.
#
# Idempotent: running it again while everything is up changes nothing.
#
# Environment (all optional):
#   REDIS_PORT      port for redis-server            (default 6379)
#   PG_PORT         port PostgreSQL listens on       (default 5432)
#   SHOP_DB_USER    role created for the service     (default shop)
#   SHOP_DB_PASS    its local-only password          (default shop)
#   SHOP_DB_NAME    database created for the service (default shop)
#   RUN_DIR         where Redis keeps its log        (default ./.run)
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}
PG_PORT=${PG_PORT:-5432}
SHOP_DB_USER=${SHOP_DB_USER:-shop}
SHOP_DB_PASS=${SHOP_DB_PASS:-shop}
SHOP_DB_NAME=${SHOP_DB_NAME:-shop}
RUN_DIR=${RUN_DIR:-$(pwd)/.run}

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# is_root and apt_install (scripts/apt.sh); they report through this script's log and die.
# shellcheck source=scripts/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# --- Redis -----------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  apt_install redis-server redis-tools
fi
# Debian's package may try to start a service; nothing runs at boot here, so make sure ours does.
# Persistence: the append-only file, fsynced every second (the message queue's accepted messages survive a
# restart; a crash of the machine can lose the last second — see docs/operations.md). No RDB snapshots.
if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
  log "redis already running on 127.0.0.1:$REDIS_PORT"
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get appendonly 2>/dev/null | grep -qx no; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config set appendonly yes >/dev/null \
      && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config set appendfsync everysec >/dev/null \
      && log "turned on the append-only file of the running redis"
  fi
else
  mkdir -p "$RUN_DIR/redis-$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly yes --appendfsync everysec \
    --dir "$RUN_DIR/redis-$REDIS_PORT" --logfile "$RUN_DIR/redis-$REDIS_PORT/redis.log" \
    --pidfile "$RUN_DIR/redis-$REDIS_PORT/redis.pid"
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG \
    || die "redis-server did not start; see $RUN_DIR/redis-$REDIS_PORT/redis.log"
  log "redis started on 127.0.0.1:$REDIS_PORT"
fi

# --- PostgreSQL --------------------------------------------------------------
# The newest installed PostgreSQL *server* (a client-only install also creates /usr/lib/postgresql/N).
pg_server_version() {
  local bin
  for bin in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$bin" ] && basename "$(dirname "$(dirname "$bin")")"
  done | sort -V | tail -1
}
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(pg_server_version)" ]; then
  apt_install postgresql postgresql-client
fi
PG_VERSION=$(pg_server_version)
[ -n "$PG_VERSION" ] || die "no PostgreSQL server found under /usr/lib/postgresql"

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; }

if pg_ready; then
  log "postgresql already running on 127.0.0.1:$PG_PORT"
else
  is_root || die "PostgreSQL is not running on 127.0.0.1:$PG_PORT and starting it needs root"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$PG_VERSION main$"; then
    log "creating PostgreSQL $PG_VERSION cluster 'main'"
    pg_createcluster "$PG_VERSION" main -p "$PG_PORT" >/dev/null
  fi
  # Loopback only.
  pg_conftool "$PG_VERSION" main set listen_addresses 'localhost' >/dev/null 2>&1 || true
  pg_ctlcluster "$PG_VERSION" main start || true
  for _ in $(seq 1 100); do pg_ready && break; sleep 0.1; done
  pg_ready || die "PostgreSQL did not start; see /var/log/postgresql/postgresql-$PG_VERSION-main.log"
  log "postgresql $PG_VERSION started on 127.0.0.1:$PG_PORT"
fi

psql_admin() {
  # Run as the postgres superuser from a folder it can read.
  if is_root; then
    (cd /tmp && su postgres -c "psql -X -q -v ON_ERROR_STOP=1 -p $PG_PORT $*")
  else
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
  fi
}

if ! PGPASSWORD="$SHOP_DB_PASS" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$SHOP_DB_USER" -d postgres -c 'select 1' >/dev/null 2>&1; then
  log "creating role $SHOP_DB_USER"
  psql_admin "-c \"DO \\\$\\\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$SHOP_DB_USER') THEN
        CREATE ROLE $SHOP_DB_USER LOGIN PASSWORD '$SHOP_DB_PASS' CREATEDB;
      ELSE
        ALTER ROLE $SHOP_DB_USER LOGIN PASSWORD '$SHOP_DB_PASS' CREATEDB;
      END IF;
    END \\\$\\\$;\""
fi
if ! PGPASSWORD="$SHOP_DB_PASS" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$SHOP_DB_USER" -d "$SHOP_DB_NAME" -c 'select 1' >/dev/null 2>&1; then
  log "creating database $SHOP_DB_NAME"
  PGPASSWORD="$SHOP_DB_PASS" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$SHOP_DB_USER" -d postgres \
    -c "CREATE DATABASE $SHOP_DB_NAME OWNER $SHOP_DB_USER" >/dev/null
fi

echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
echo "DATABASE_URL=postgres://$SHOP_DB_USER:$SHOP_DB_PASS@127.0.0.1:$PG_PORT/$SHOP_DB_NAME"
