#!/usr/bin/env bash
# Prints the REDIS_URL the shop should use for a Redis mode, starting the local topology the mode needs.
#
#   scripts/redis-mode.sh single            REDIS_URL from the environment, or the local server (services.sh)
#   scripts/redis-mode.sh cluster [PORT]    starts scripts/redis-cluster.sh on PORT (default 7000); its seeds
#   scripts/redis-mode.sh sentinel          refused: the client does not follow Sentinel yet (see docs/redis-client.md)
#
# `make run REDIS_MODE=cluster` and `make cluster N=3 REDIS_MODE=cluster` use it.
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
    echo "redis-mode: REDIS_MODE=sentinel is not supported yet: RedisClient does not discover the primary from" \
      "Sentinel (scripts/redis-sentinel.sh starts one for when it does)" >&2
    exit 1
    ;;
  *)
    echo "redis-mode: REDIS_MODE must be single or cluster (got '$mode')" >&2
    exit 1
    ;;
esac
