#!/usr/bin/env bash
# Installs (if missing) what the tests use besides Swift, Redis and PostgreSQL:
#   - Python's grpcio and opentelemetry-proto, for scripts/otlp-relay.py (TraceExportTests' OTLP/gRPC and OTLP/HTTP
#     protobuf cases), and selenium, for scripts/console-browser.py (ConsoleTests) — with pip;
#   - Debian's chromium and chromium-driver (the headless browser ConsoleTests drives) — with apt-get, as root.
set -euo pipefail
log() { printf 'test-deps: %s\n' "$*" >&2; }
die() { printf 'test-deps: error: %s\n' "$*" >&2; exit 1; }
source "$(dirname "$0")/apt.sh"

if ! python3 -c 'import grpc, google.protobuf, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc, selenium' \
  2>/dev/null; then
  log "installing grpcio, opentelemetry-proto and selenium with pip"
  python3 -m pip install --quiet grpcio opentelemetry-proto selenium \
    || die "pip install grpcio opentelemetry-proto selenium failed"
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt_install chromium chromium-driver
fi
