#!/usr/bin/env bash
# Our RedisClient vs `redis-benchmark --cluster`, against the same private Redis Cluster, in the same run; and our
# GET on that cluster vs our GET on one private standalone redis-server (scaling), also in the same run.
#
# Starts only what it needs, and removes it afterwards (EXIT trap):
#   - a 6-node cluster (3 primaries + 3 replicas) from scripts/redis-cluster.sh on a free base port in
#     20000-22700 (nodes on BASE..BASE+5, cluster bus on +10000), files in a mktemp directory;
#   - one redis-server on a free loopback port (the scaling baseline).
# Each scenario is 50 unpipelined callers on keys spread over a 100,000-key keyspace (ours: --keyspace 100000;
# redis-benchmark: -r 100000). SET runs before GET so that most GETs find a value. Each scenario runs ROUNDS times,
# alternating the tools; the median of each is reported.
#
# Read the scaling figure with the core count in mind (it is printed): every node is a process on this machine, so
# three primaries, their three replicas (which apply every SET) and the client share its cores. On a 2-core machine
# the cluster cannot run faster than one server, and cluster.scaling.get.ratio measures the cost of routing by
# slot over three connections on a busy CPU rather than horizontal scaling. redis-benchmark --cluster starts one
# thread per primary by default (3 here); our client uses its default event loop group.
#
#   REQUESTS   commands per run         (default 200000)
#   ROUNDS     rounds per scenario      (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/scripts/common.sh

REQUESTS=${REQUESTS:-200000}
ROUNDS=${ROUNDS:-5}
CLIENTS=50
KEYSPACE=100000
CORES=$(nproc)

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || bash scripts/services.sh >/dev/null

echo "building the benchmark (release)..." >&2
swift build -c release --package-path Benchmarks --product RedisBenchmark >&2
OURS="$(swift build -c release --package-path Benchmarks --show-bin-path)/RedisBenchmark"

DIR=$(mktemp -d)
CLUSTER_PORT=""
CLUSTER_DIR=""
PORT=""
cleanup() {
  [ -n "$PORT" ] && { redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; }
  [ -n "$CLUSTER_PORT" ] && { bash scripts/redis-cluster.sh stop "$CLUSTER_PORT" "$CLUSTER_DIR" >/dev/null 2>&1 || true; }
  rm -rf "$DIR"
}
trap cleanup EXIT

# Whether none of the cluster's ports (BASE..BASE+5) nor their bus ports (+10000) is taken on loopback.
ports_free() { # base
  python3 - "$1" <<'EOF'
import socket, sys
base = int(sys.argv[1])
for port in [p for p in range(base, base + 6)] + [p + 10000 for p in range(base, base + 6)]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}

# The cluster: a random free base port in 20000-22700 (others run clusters there too: redis-cluster.sh refuses a
# port in use, and we try another).
URL=""
for attempt in $(seq 1 10); do
  base=$(( 20000 + RANDOM % (22700 - 5 - 20000 + 1) ))
  ports_free "$base" || continue
  CLUSTER_PORT=$base
  CLUSTER_DIR="$DIR/cluster-$attempt"
  if URL=$(bash scripts/redis-cluster.sh start "$CLUSTER_PORT" "$CLUSTER_DIR" | sed -n 's/^REDIS_URL=//p') \
    && [ -n "$URL" ]; then
    break
  fi
  bash scripts/redis-cluster.sh stop "$CLUSTER_PORT" "$CLUSTER_DIR" >/dev/null 2>&1 || true
  CLUSTER_PORT=""
  URL=""
done
[ -n "$URL" ] || { echo "bench-cluster: could not start a Redis Cluster on a free port in 20000-22700" >&2; exit 1; }
echo "cluster: $URL (files in $CLUSTER_DIR)" >&2

# The standalone server for the scaling baseline.
PORT=$(free_port)
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
  --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "standalone: redis://127.0.0.1:$PORT/0" >&2

# redis-benchmark in cluster mode: prints requests per second for one test (its CSV line; it prints the primaries
# it found before the header).
reference() { # test requests
  redis-benchmark --cluster -h 127.0.0.1 -p "$CLUSTER_PORT" -c "$CLIENTS" -n "$2" -t "$1" -r "$KEYSPACE" --csv \
    2>/dev/null | awk -F'","' 'toupper($1) ~ /^"(GET|SET)$/ {print $2}' | tr -d '"'
}
# ours: prints "ops p50_ms p99_ms".
ours() { # url command requests
  "$OURS" --url "$1" --clients "$CLIENTS" --pipeline 1 --requests "$3" --command "$2" --keyspace "$KEYSPACE" \
    | awk '/^RESULT/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["ops_per_sec"], v["p50_ms"], v["p99_ms"] }'
}

# Fill the standalone server's keys once (not measured), as the cluster's SET rounds fill the cluster's.
ours "redis://127.0.0.1:$PORT/0" set "$REQUESTS" >/dev/null

declare -A RESULT
for cmd in set get; do
  refs=(); mine=(); p50s=(); p99s=(); single=()
  for round in $(seq 1 "$ROUNDS"); do
    refs+=("$(reference "$cmd" "$REQUESTS")")
    read -r ops p50 p99 <<<"$(ours "$URL" "$cmd" "$REQUESTS")"
    mine+=("$ops"); p50s+=("$p50"); p99s+=("$p99")
    extra=""
    if [ "$cmd" = get ]; then
      read -r sops _ _ <<<"$(ours "redis://127.0.0.1:$PORT/0" get "$REQUESTS")"
      single+=("$sops"); extra=", ours on one server $sops ops/s"
    fi
    echo "  cluster $cmd c50 round $round: redis-benchmark ${refs[-1]} ops/s, ours $ops ops/s$extra" >&2
  done
  [ "$cmd" = get ] && RESULT[get.single]=$(printf '%s\n' "${single[@]}" | median)
  RESULT[$cmd.ref]=$(printf '%s\n' "${refs[@]}" | median)
  RESULT[$cmd.ours]=$(printf '%s\n' "${mine[@]}" | median)
  RESULT[$cmd.p50]=$(printf '%s\n' "${p50s[@]}" | median)
  RESULT[$cmd.p99]=$(printf '%s\n' "${p99s[@]}" | median)
done

printf '\n%-22s %16s %16s %8s %10s %10s\n' "scenario" "redis-benchmark" "RedisClient" "ratio" "p50 ms" "p99 ms"
for cmd in get set; do
  ratio=$(awk -v a="${RESULT[$cmd.ours]}" -v b="${RESULT[$cmd.ref]}" 'BEGIN { printf "%.2f", a / b }')
  RESULT[$cmd.ratio]=$ratio
  printf '%-22s %16.0f %16.0f %7sx %10.3f %10.3f\n' "cluster $cmd c50" "${RESULT[$cmd.ref]}" "${RESULT[$cmd.ours]}" \
    "$ratio" "${RESULT[$cmd.p50]}" "${RESULT[$cmd.p99]}"
done
scaling=$(awk -v a="${RESULT[get.ours]}" -v b="${RESULT[get.single]}" 'BEGIN { printf "%.2f", a / b }')
printf '%-22s %16s %16.0f (ours on one redis-server; cluster/one = %sx)\n' "standalone get c50" "" \
  "${RESULT[get.single]}" "$scaling"
echo
echo "(medians of $ROUNDS rounds of $REQUESTS commands; $CLIENTS concurrent callers; keyspace $KEYSPACE;"
echo " machine: $CORES cores, $(free -g | awk '/Mem:/ {print $2}') GiB; the 6 cluster nodes, the standalone server and"
echo " the client all run on it)"
if [ "$CORES" -le 4 ]; then
  echo "note: on $CORES cores the 3 primaries, 3 replicas and the client compete for CPU: the scaling ratio measures"
  echo "      the cost of slot routing on a shared CPU, not horizontal scaling (that needs a core per primary or more)."
fi
echo
echo "BENCH cluster.get.c50.ratio ${RESULT[get.ratio]} x"
echo "BENCH cluster.set.c50.ratio ${RESULT[set.ratio]} x"
echo "BENCH cluster.get.c50.ops $(printf '%.0f' "${RESULT[get.ours]}") ops/s"
echo "BENCH cluster.scaling.get.ratio $scaling x"
echo "BENCH cluster.machine.cores $CORES cores"
