#!/usr/bin/env bash
# Our RedisClient vs redis-benchmark, against the same private redis-server, in the same run.
#
# Starts only what it needs: one redis-server on a free loopback port (removed afterwards).
# Each scenario runs ROUNDS times, alternating the two tools; the median of each is reported.
#
#   REQUESTS   commands per unpipelined run   (default 200000)
#   PREQUESTS  commands per pipelined run     (default 1000000)
#   ROUNDS     rounds per scenario            (default 5)
#   BASELINE   optional: a RedisBenchmark binary built from another commit; it runs in every round too, so
#              "before" and "after" ratios come from the same run (BENCH redis.baseline.* lines)
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-200000}
PREQUESTS=${PREQUESTS:-1000000}
ROUNDS=${ROUNDS:-5}
CLIENTS=50

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || bash scripts/services.sh >/dev/null

echo "building the benchmark (release)..." >&2
swift build -c release --package-path Benchmarks --product RedisBenchmark >&2
OURS="$(swift build -c release --package-path Benchmarks --show-bin-path)/RedisBenchmark"

DIR=$(mktemp -d)
PORT=$(( 30000 + RANDOM % 20000 ))
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
  --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# redis-benchmark: prints requests per second for one test.
reference() { # test pipeline requests
  redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -n "$3" -P "$2" -t "$1" --csv 2>/dev/null \
    | awk -F'","' 'NR==2 {print $2}' | tr -d '"'
}
# ours: prints "ops p50_ms p99_ms".
ours() { # command pipeline requests [binary]
  "${4:-$OURS}" --url "redis://127.0.0.1:$PORT/0" --clients "$CLIENTS" --pipeline "$2" --requests "$3" --command "$1" \
    | awk '/^RESULT/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["ops_per_sec"], v["p50_ms"], v["p99_ms"] }'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RESULT
for scenario in "get 1 $REQUESTS c50" "set 1 $REQUESTS c50" "get 16 $PREQUESTS p16" "set 16 $PREQUESTS p16"; do
  read -r cmd pipeline requests label <<<"$scenario"
  refs=(); mine=(); p50s=(); p99s=(); base=()
  for round in $(seq 1 "$ROUNDS"); do
    refs+=("$(reference "$cmd" "$pipeline" "$requests")")
    read -r ops p50 p99 <<<"$(ours "$cmd" "$pipeline" "$requests")"
    mine+=("$ops"); p50s+=("$p50"); p99s+=("$p99")
    extra=""
    if [ -n "${BASELINE:-}" ]; then
      read -r bops _ _ <<<"$(ours "$cmd" "$pipeline" "$requests" "$BASELINE")"
      base+=("$bops"); extra=", baseline $bops ops/s"
    fi
    echo "  $cmd $label round $round: redis-benchmark ${refs[-1]} ops/s, ours $ops ops/s$extra" >&2
  done
  if [ -n "${BASELINE:-}" ]; then RESULT[$cmd.$label.base]=$(printf '%s\n' "${base[@]}" | median); fi
  RESULT[$cmd.$label.ref]=$(printf '%s\n' "${refs[@]}" | median)
  RESULT[$cmd.$label.ours]=$(printf '%s\n' "${mine[@]}" | median)
  RESULT[$cmd.$label.p50]=$(printf '%s\n' "${p50s[@]}" | median)
  RESULT[$cmd.$label.p99]=$(printf '%s\n' "${p99s[@]}" | median)
done

printf '\n%-22s %16s %16s %8s %10s %10s\n' "scenario" "redis-benchmark" "RedisClient" "ratio" "p50 ms" "p99 ms"
for key in get.c50 set.c50 get.p16 set.p16; do
  ref=${RESULT[$key.ref]}; mine=${RESULT[$key.ours]}
  ratio=$(awk -v a="$mine" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')
  RESULT[$key.ratio]=$ratio
  printf '%-22s %16.0f %16.0f %7sx %10.3f %10.3f\n' "${key/./ }" "$ref" "$mine" "$ratio" "${RESULT[$key.p50]}" "${RESULT[$key.p99]}"
done
echo
echo "(medians of $ROUNDS rounds; $CLIENTS concurrent callers; machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB)"
echo
echo "BENCH redis.get.c50.ops $(printf '%.0f' "${RESULT[get.c50.ours]}") ops/s"
echo "BENCH redis.get.c50.ratio ${RESULT[get.c50.ratio]} x"
echo "BENCH redis.set.c50.ratio ${RESULT[set.c50.ratio]} x"
echo "BENCH redis.get.p16.ratio ${RESULT[get.p16.ratio]} x"
echo "BENCH redis.set.p16.ratio ${RESULT[set.p16.ratio]} x"
echo "BENCH redis.get.c50.p50_ms ${RESULT[get.c50.p50]} ms"
if [ -n "${BASELINE:-}" ]; then
  echo
  echo "baseline ($BASELINE), same run:"
  for key in get.c50 set.c50 get.p16 set.p16; do
    ratio=$(awk -v a="${RESULT[$key.base]}" -v b="${RESULT[$key.ref]}" 'BEGIN { printf "%.2f", a / b }')
    echo "BENCH redis.baseline.${key}.ratio $ratio x"
  done
fi
