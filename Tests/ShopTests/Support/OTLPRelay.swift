import Foundation
import Testing

/// `scripts/otlp-relay.py` as a child process: it takes OTLP/HTTP protobuf and OTLP/gRPC exports on loopback ports
/// and forwards each, as OTLP/JSON, to an ``OTLPCollector``, so the same assertions cover every protocol
/// `OTEL_EXPORTER_OTLP_PROTOCOL` offers. Needs grpcio and opentelemetry-proto (`scripts/test-deps.sh`, run
/// by `make test`); without them the relay does not start and the test fails saying so.
final class OTLPRelay: @unchecked Sendable {
    let httpPort: Int
    let grpcPort: Int
    private let process: Process
    private let input: Pipe

    private init(process: Process, input: Pipe, httpPort: Int, grpcPort: Int) {
        self.process = process
        self.input = input
        self.httpPort = httpPort
        self.grpcPort = grpcPort
    }

    /// Runs `body` with a relay forwarding to `collectorEndpoint` (the collector's base URL); stops it afterwards.
    static func withRunning<Result: Sendable>(
        forwardingTo collectorEndpoint: String,
        _ body: (OTLPRelay) async throws -> Result
    ) async throws -> Result {
        let relay = try await Self.start(forwardingTo: collectorEndpoint)
        defer { relay.stop() }
        return try await body(relay)
    }

    private static func start(forwardingTo collectorEndpoint: String) async throws -> OTLPRelay {
        let script = OpenAPIConformance.root.appendingPathComponent("scripts/otlp-relay.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--forward", collectorEndpoint + "/v1/traces"]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // The first line names the ports; a relay that cannot start (a missing module) ends with its reason.
        let handle = output.fileHandleForReading
        let line = await catalogOffPool { () -> String in
            var bytes: [UInt8] = []
            while let byte = try? handle.read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") {
                bytes.append(first)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var ports: [String: Int] = [:]
        for field in line.split(separator: " ") {
            let parts = field.split(separator: "=")
            if parts.count == 2, let port = Int(parts[1]) { ports[String(parts[0])] = port }
        }
        guard let httpPort = ports["HTTP_PORT"], let grpcPort = ports["GRPC_PORT"] else {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            let reason = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw RelayFailed(description: "otlp-relay.py did not start (run scripts/test-deps.sh): \(reason)")
        }
        return OTLPRelay(process: process, input: input, httpPort: httpPort, grpcPort: grpcPort)
    }

    /// Closes its standard input (it then exits) and waits for it.
    private func stop() {
        try? self.input.fileHandleForWriting.close()
        self.process.waitUntilExit()
    }

    struct RelayFailed: Error, CustomStringConvertible {
        let description: String
    }
}
