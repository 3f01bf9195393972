#!/usr/bin/env bash
# `make run`: migrate, seed, start the simulated provider (exchange rates, payments) on 127.0.0.1:8090 unless
# one already answers there, and serve on 127.0.0.1:8080 in the foreground. Ctrl-C (or SIGTERM) stops both.
#
#   scripts/run.sh BINARY
set -euo pipefail
binary=$1
"$binary" migrate
"$binary" seed
mkdir -p .run
provider_port=${PROVIDER_PORT:-8090}
if curl -fsS "http://127.0.0.1:$provider_port/health" >/dev/null 2>&1; then
  echo "run: a provider already answers on 127.0.0.1:$provider_port" >&2
else
  PROVIDER_PORT="$provider_port" "$binary" provider >.run/provider.log 2>&1 &
  provider_pid=$!
  trap 'kill "$provider_pid" 2>/dev/null || true; wait "$provider_pid" 2>/dev/null || true' EXIT
  echo "run: simulated provider on http://127.0.0.1:$provider_port (log .run/provider.log)" >&2
fi
INSTANCE_ID="${INSTANCE_ID:-local-1}" "$binary" serve
