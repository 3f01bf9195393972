#!/usr/bin/env bash
# Prints the REDIS_URL the shop should use for a Redis mode, starting the local topology the mode needs.
#
#   scripts/redis-mode.sh single            REDIS_URL from the environment, or the local server (services.sh)
#   scripts/redis-mode.sh cluster [PORT]    starts scripts/redis-cluster.sh on PORT (default 7000); its seeds
#   scripts/redis-mode.sh sentinel [PORT]   starts scripts/redis-sentinel.sh on PORT (default 6390); its sentinels
#
# `make run REDIS_MODE=cluster|sentinel` and `make cluster N=3 REDIS_MODE=cluster|sentinel` use it.
set -euo pipefail
mode=${1:-single}
case "$mode" in
  single)
    echo "${REDIS_URL:-redis://127.0.0.1:6379/0}"
    ;;
  cluster)
    url=$(bash "$(dirname "$0")/redis-cluster.sh" start "${2:-7000}" | sed -n 's/^REDIS_URL=//p')
    [ -n "$url" ] || { echo "redis-mode: the local Redis Cluster did not start" >&2; exit 1; }
    echo "$url"
    ;;
  sentinel)
    url=$(bash "$(dirname "$0")/redis-sentinel.sh" start "${2:-6390}" | sed -n 's/^REDIS_URL=//p')
    [ -n "$url" ] || { echo "redis-mode: the local Redis Sentinel set did not start" >&2; exit 1; }
    echo "$url"
    ;;
  *)
    echo "redis-mode: REDIS_MODE must be single, cluster or sentinel (got '$mode')" >&2
    exit 1
    ;;
esac
