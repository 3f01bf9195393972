import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
    import Foundation
#else
    import Foundation
#endif

/// A minimal OpenTelemetry collector for tests: accepts OTLP/HTTP with JSON bodies (`POST /v1/traces`, what
/// `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` sends) and keeps the spans, so a test can read what real `shop serve`
/// processes exported.
actor OTLPCollector {
    /// One exported span, identifiers in lower-case hex.
    struct Span: Sendable, CustomStringConvertible {
        var traceID: String
        var spanID: String
        var parentSpanID: String?
        var name: String
        /// OTLP's numbers: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
        var kind: Int
        /// `service.instance.id` of the process that exported it.
        var instance: String?
        var attributes: [String: String]
        /// The span ids this span links to.
        var links: [String]
        /// OTLP's status code: 0 unset, 1 ok, 2 error.
        var statusCode: Int

        var description: String {
            "\(self.name) kind=\(self.kind) span=\(self.spanID) parent=\(self.parentSpanID ?? "-") on \(self.instance ?? "?")"
        }
    }

    private(set) var spans: [Span] = []
    private(set) var requests = 0

    /// Runs `body` with a collector listening on a free loopback port; its base URL is the argument.
    static func withRunning<Result: Sendable>(
        _ body: @Sendable (OTLPCollector, _ endpoint: String) async throws -> Result
    ) async throws -> Result {
        let collector = OTLPCollector()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 32 << 20)
            try await collector.receive(Data(buffer: body))
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "{}"))
            )
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await body(collector, "http://127.0.0.1:\(port)")
        }
    }

    /// The spans of one trace.
    func trace(_ traceID: String) -> [Span] {
        self.spans.filter { $0.traceID == traceID }
    }

    /// Waits (bounded) until the spans of `traceID` satisfy `complete`; returns them either way.
    func waitForTrace(
        _ traceID: String,
        within limit: Duration = .seconds(30),
        until complete: ([Span]) -> Bool
    ) async throws -> [Span] {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if complete(self.trace(traceID)) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return self.trace(traceID)
    }

    private func receive(_ body: Data) throws {
        self.requests += 1
        guard let root = try JSONSerialization.jsonObject(with: body) as? [String: Any],
            let resourceSpans = root["resourceSpans"] as? [[String: Any]]
        else { throw Malformed(body: String(decoding: body.prefix(200), as: UTF8.self)) }
        for resourceSpan in resourceSpans {
            let resource = Self.attributes((resourceSpan["resource"] as? [String: Any])?["attributes"])
            for scope in resourceSpan["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    self.spans.append(
                        Span(
                            traceID: Self.hex(span["traceId"]),
                            spanID: Self.hex(span["spanId"]),
                            parentSpanID: (span["parentSpanId"] as? String).flatMap { $0.isEmpty ? nil : Self.hex($0) },
                            name: span["name"] as? String ?? "",
                            kind: Self.integer(span["kind"]),
                            instance: resource["service.instance.id"],
                            attributes: Self.attributes(span["attributes"]),
                            links: (span["links"] as? [[String: Any]] ?? []).map { Self.hex($0["spanId"]) },
                            statusCode: Self.integer((span["status"] as? [String: Any])?["code"])
                        )
                    )
                }
            }
        }
    }

    /// OTLP/JSON ids are hex by the specification; some exporters send the protobuf JSON mapping's base64.
    private static func hex(_ value: Any?) -> String {
        guard let text = value as? String else { return "" }
        let isHex = (text.count == 32 || text.count == 16) && text.allSatisfy(\.isHexDigit)
        if isHex { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    private static func integer(_ value: Any?) -> Int {
        if let number = value as? Int { return number }
        if let text = value as? String { return Int(text) ?? 0 }
        return 0
    }

    /// `[{key, value: {stringValue | intValue | boolValue | doubleValue}}]` as strings.
    private static func attributes(_ value: Any?) -> [String: String] {
        var result: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any],
                let first = value.values.first
            else { continue }
            result[key] = "\(first)"
        }
        return result
    }

    struct Malformed: Error, CustomStringConvertible {
        let body: String
        var description: String { "not an OTLP/JSON trace export: \(self.body)" }
    }
}
