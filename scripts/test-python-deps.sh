#!/usr/bin/env bash
# Installs (if missing) the Python packages the tests use besides the standard library: grpcio and
# opentelemetry-proto for scripts/otlp-relay.py (TraceExportTests' OTLP/gRPC and OTLP/HTTP protobuf cases).
set -euo pipefail
if python3 -c 'import grpc, google.protobuf, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc' 2>/dev/null; then
  exit 0
fi
echo "test-python-deps: installing grpcio and opentelemetry-proto with pip" >&2
python3 -m pip install --quiet grpcio opentelemetry-proto \
  || { echo "test-python-deps: error: pip install grpcio opentelemetry-proto failed" >&2; exit 1; }
