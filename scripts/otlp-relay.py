#!/usr/bin/env python3
"""An OTLP protocol relay for the tests: receives trace exports over OTLP/HTTP with protobuf bodies
(POST /v1/traces, what OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf sends) and over OTLP/gRPC
(opentelemetry.proto.collector.trace.v1.TraceService/Export, what =grpc sends), and forwards each one, as
OTLP/JSON, to --forward (an OTLP/HTTP JSON collector such as the one TraceExportTests runs).

Both listeners bind free loopback ports; the first line on standard output is
`HTTP_PORT=<port> GRPC_PORT=<port>`. Needs grpcio and opentelemetry-proto (scripts/test-deps.sh).
An export that cannot be decoded or forwarded is answered with an error (400 / INVALID_ARGUMENT,
502 / UNAVAILABLE), so the exporter's own error handling shows in the test instead of spans going missing.
"""
import argparse
import gzip
import json
import sys
import urllib.request
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def to_json(request):
    return json.dumps(MessageToDict(request, use_integers_for_enums=True)).encode()


class Forwarder:
    def __init__(self, url):
        self.url = url

    def send(self, request):
        message = urllib.request.Request(
            self.url, data=to_json(request), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(message, timeout=10) as reply:
            reply.read()


def http_handler(forwarder):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                body = gzip.decompress(body)
            request = trace_service_pb2.ExportTraceServiceRequest()
            try:
                request.ParseFromString(body)
            except DecodeError as error:
                self.send_error(400, f"not an ExportTraceServiceRequest: {error}")
                return
            try:
                forwarder.send(request)
            except Exception as error:  # the collector behind is down: say so
                self.send_error(502, f"forwarding failed: {error}")
                return
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format, *args):
            pass

    return Handler


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, forwarder):
        self.forwarder = forwarder

    def Export(self, request, context):
        try:
            self.forwarder.send(request)
        except Exception as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"forwarding failed: {error}")
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forward", required=True, help="OTLP/HTTP JSON endpoint, e.g. http://127.0.0.1:4318/v1/traces")
    arguments = parser.parse_args()
    forwarder = Forwarder(arguments.forward)

    http = ThreadingHTTPServer(("127.0.0.1", 0), http_handler(forwarder))
    threading.Thread(target=http.serve_forever, daemon=True).start()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(forwarder), server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    print(f"HTTP_PORT={http.server_address[1]} GRPC_PORT={grpc_port}", flush=True)
    # Until the test closes standard input (or ends the process).
    sys.stdin.read()
    server.stop(0)
    http.shutdown()


if __name__ == "__main__":
    main()
