#!/usr/bin/env bash
# StreamQueue vs a Python queue (RQ), against the same private redis-server, in the same run.
#
# Ours (Benchmarks/Sources/QueueBenchmark): 1 producer and CONSUMERS consumer services (each with a Redis
# client of its own, CONCURRENCY handlers each), no-op handler:
#   - throughput: MESSAGES published as fast as one producer can (pipelined batches of 100), timed from the
#     first publish until every message is handled and acknowledged;
#   - end-to-end latency: LATENCY_MESSAGES published one at a time at RATE/s; from just before publish to the
#     handler's start (p50/p99).
# Peer (Benchmarks/scripts/queue_peer.py): RQ with PEER_WORKERS non-forking SimpleWorkers (separate processes),
# no-op jobs, PEER_JOBS enqueued by one producer (`enqueue_many`, batches of 1000), timed from the first
# enqueue until every job is finished. RQ is installed from PyPI into .run/bench-venv.
# Peer (Benchmarks/scripts/sidekiq_peer.rb): Sidekiq from Debian (`ruby-sidekiq`, installed when missing), run
# the way its users run it: `sidekiq -c SIDEKIQ_CONCURRENCY`, 1 and then 2 processes, logging at warn, no-op jobs
# pushed with push_bulk (batches of 1,000) by one producer, timed from the first push until the queue is empty
# (every job's completion is then checked in Sidekiq's processed counter). Sidekiq's basic fetch is BRPOP: a job a
# crashed process was running is lost, where ours stays pending and is taken over (at-least-once), see
# docs/queue.md.
# Each round runs the peers, then ours; the table shows medians over ROUNDS. The ratio to Sidekiq is to its best
# setting (1 or 2 processes).
#
#   ROUNDS            rounds                                (default 3)
#   MESSAGES          our throughput messages               (default 100000)
#   CONSUMERS         our consumer services                 (default 4)
#   CONCURRENCY       handlers per consumer service         (default 32)
#   LATENCY_MESSAGES  our latency-phase messages            (default 10000)
#   RATE              latency-phase publish rate, msgs/s    (default 5000)
#   PEER_JOBS         RQ jobs                               (default 20000)
#   PEER_WORKERS      RQ workers                            (default 4)
#   SIDEKIQ_JOBS      Sidekiq jobs                          (default 50000)
#   SIDEKIQ_CONCURRENCY  threads per Sidekiq process        (default 10, Sidekiq's own default)
#   TRACING           compare: each round also runs ours with spans exported over OTLP/HTTP (protobuf) to a
#                     local collector that discards them, every publish sampled  (default off)
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/scripts/common.sh

ROUNDS=${ROUNDS:-3}
MESSAGES=${MESSAGES:-100000}
CONSUMERS=${CONSUMERS:-4}
CONCURRENCY=${CONCURRENCY:-32}
LATENCY_MESSAGES=${LATENCY_MESSAGES:-10000}
RATE=${RATE:-5000}
PEER_JOBS=${PEER_JOBS:-20000}
PEER_WORKERS=${PEER_WORKERS:-4}
TRACING=${TRACING:-off}
SIDEKIQ_JOBS=${SIDEKIQ_JOBS:-50000}
SIDEKIQ_CONCURRENCY=${SIDEKIQ_CONCURRENCY:-10}

command -v redis-server >/dev/null || bash scripts/services.sh >/dev/null

echo "building the queue benchmark (release)..." >&2
swift build -c release --package-path Benchmarks --product QueueBenchmark >&2
OURS="$(swift build -c release --package-path Benchmarks --show-bin-path)/QueueBenchmark"

VENV=.run/bench-venv
if ! "$VENV/bin/python" -c 'import rq' >/dev/null 2>&1; then
  echo "installing RQ into $VENV..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'rq>=2,<3' >&2
fi

if ! command -v sidekiq >/dev/null 2>&1; then
  echo "installing Sidekiq (ruby-sidekiq) from Debian..." >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y -q ruby-sidekiq >&2 || { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q ruby-sidekiq >&2; }
fi

DIR=$(mktemp -d)
PORT=$(free_port)
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
  --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
URL="redis://127.0.0.1:$PORT/0"

field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# TRACING=compare: an OTLP/HTTP endpoint that accepts every export and keeps nothing (an empty protobuf body is an
# empty ExportTraceServiceResponse).
if [ "$TRACING" = compare ]; then
  SINK_PORT=$(free_port)
  python3 -c '
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
' "$SINK_PORT" &
  SINK_PID=$!
  trap 'kill "$SINK_PID" 2>/dev/null || true; redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
fi
traced=(); traced_p99s=()

peers=(); sidekiq1=(); sidekiq2=(); mine=(); p50s=(); p99s=(); publishes=()
for round in $(seq 1 "$ROUNDS"); do
  peer=$("$VENV/bin/python" Benchmarks/scripts/queue_peer.py --url "$URL" --jobs "$PEER_JOBS" --workers "$PEER_WORKERS" | grep '^RESULT')
  RQ_VERSION=$(echo "$peer" | field rq)
  peers+=("$(echo "$peer" | field jobs_per_s)")
  for processes in 1 2; do
    sidekiq=$(SIDEKIQ_LOG="$DIR/sidekiq.log" ruby Benchmarks/scripts/sidekiq_peer.rb "$URL" "$SIDEKIQ_JOBS" "$processes" \
      "$SIDEKIQ_CONCURRENCY" | grep '^RESULT')
    SIDEKIQ_VERSION=$(echo "$sidekiq" | field sidekiq)
    if [ "$processes" = 1 ]; then sidekiq1+=("$(echo "$sidekiq" | field jobs_per_s)"); else sidekiq2+=("$(echo "$sidekiq" | field jobs_per_s)"); fi
  done
  echo "  round $round: Sidekiq ${sidekiq1[-1]} jobs/s (1 process), ${sidekiq2[-1]} jobs/s (2 processes)" >&2
  ours=$("$OURS" --url "$URL" --prefix "bench:queue:$round:" --messages "$MESSAGES" --consumers "$CONSUMERS" \
    --concurrency "$CONCURRENCY" --latency-messages "$LATENCY_MESSAGES" --rate "$RATE" | grep '^RESULT')
  mine+=("$(echo "$ours" | field msgs_per_s)")
  publishes+=("$(echo "$ours" | field publish_per_s)")
  p50s+=("$(echo "$ours" | field e2e_p50_ms)")
  p99s+=("$(echo "$ours" | field e2e_p99_ms)")
  echo "  round $round: RQ ${peers[-1]} jobs/s, StreamQueue ${mine[-1]} msgs/s (e2e p50 ${p50s[-1]} ms, p99 ${p99s[-1]} ms)" >&2
  if [ "$TRACING" = compare ]; then
    on=$(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
      "$OURS" --url "$URL" --prefix "bench:queue:traced:$round:" --messages "$MESSAGES" --consumers "$CONSUMERS" \
      --concurrency "$CONCURRENCY" --latency-messages "$LATENCY_MESSAGES" --rate "$RATE" --trace | grep '^RESULT')
    traced+=("$(echo "$on" | field msgs_per_s)")
    traced_p99s+=("$(echo "$on" | field e2e_p99_ms)")
    echo "  round $round: StreamQueue with tracing exported ${traced[-1]} msgs/s (e2e p99 ${traced_p99s[-1]} ms)" >&2
  fi
done

PEER=$(printf '%s\n' "${peers[@]}" | median)
MINE=$(printf '%s\n' "${mine[@]}" | median)
PUBLISH=$(printf '%s\n' "${publishes[@]}" | median)
P50=$(printf '%s\n' "${p50s[@]}" | median)
P99=$(printf '%s\n' "${p99s[@]}" | median)
RATIO=$(awk -v a="$MINE" -v b="$PEER" 'BEGIN { printf "%.1f", a / b }')
SIDEKIQ1=$(printf '%s\n' "${sidekiq1[@]}" | median)
SIDEKIQ2=$(printf '%s\n' "${sidekiq2[@]}" | median)
SIDEKIQ_BEST=$(awk -v a="$SIDEKIQ1" -v b="$SIDEKIQ2" 'BEGIN { print (a > b ? a : b) }')
SIDEKIQ_RATIO=$(awk -v a="$MINE" -v b="$SIDEKIQ_BEST" 'BEGIN { printf "%.2f", a / b }')

printf '\n%-58s %12s %12s %12s\n' "queue (produce -> consume -> acknowledge, no-op handler)" "msgs/s" "e2e p50 ms" "e2e p99 ms"
printf '%-58s %12.0f %12s %12s\n' "RQ $RQ_VERSION, $PEER_WORKERS SimpleWorkers, $PEER_JOBS jobs" "$PEER" "-" "-"
printf '%-58s %12.0f %12s %12s\n' "Sidekiq $SIDEKIQ_VERSION, 1 process x $SIDEKIQ_CONCURRENCY, $SIDEKIQ_JOBS jobs" "$SIDEKIQ1" "-" "-"
printf '%-58s %12.0f %12s %12s\n' "Sidekiq $SIDEKIQ_VERSION, 2 processes x $SIDEKIQ_CONCURRENCY, $SIDEKIQ_JOBS jobs" "$SIDEKIQ2" "-" "-"
printf '%-58s %12.0f %12.2f %12.2f\n' "StreamQueue, 1 producer, $CONSUMERS consumers x $CONCURRENCY, $MESSAGES msgs" "$MINE" "$P50" "$P99"
if [ "$TRACING" = compare ]; then
  TRACED=$(printf '%s\n' "${traced[@]}" | median)
  TRACED_P99=$(printf '%s\n' "${traced_p99s[@]}" | median)
  printf '%-58s %12.0f %12s %12.2f\n' "  the same, spans exported (OTLP/HTTP, every publish sampled)" "$TRACED" "-" "$TRACED_P99"
fi
echo
echo "(medians of $ROUNDS rounds; our producer alone published $(printf '%.0f' "$PUBLISH") msgs/s; latency at $RATE msgs/s;"
echo " machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB)"
echo
echo "BENCH queue.throughput.msgs_per_s $(printf '%.0f' "$MINE") msgs/s"
echo "BENCH queue.vs_python_peer.ratio $RATIO x"
echo "BENCH queue.sidekiq.jobs_per_s $(printf '%.0f' "$SIDEKIQ_BEST") jobs/s"
echo "BENCH queue.vs_sidekiq.ratio $SIDEKIQ_RATIO x"
echo "BENCH queue.e2e.p99_ms $P99 ms"
if [ "$TRACING" = compare ]; then
  echo "BENCH queue.tracing_on.throughput_ratio $(awk -v a="$TRACED" -v b="$MINE" 'BEGIN { printf "%.2f", a / b }') x"
  echo "BENCH queue.tracing_on.e2e.p99_ms $TRACED_P99 ms"
fi
