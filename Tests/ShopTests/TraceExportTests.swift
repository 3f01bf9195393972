import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Distributed tracing end to end: two real `shop serve` processes export their spans over each OTLP protocol
/// (HTTP with JSON, HTTP with protobuf, gRPC) to a collector the test runs, and one order is one trace from the HTTP request on one process, through the outbox
/// relay and the stream, to the consumer's transaction and notification on the other.
@Suite("Trace export across processes", .serialized)
struct TraceExportTests {
    /// The settings that turn export on over `protocol`, pointed at `endpoint`, with a short batch delay.
    static func exporting(to endpoint: String, protocol: String) -> [String: String] {
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": `protocol`,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        ]
    }

    /// Runs `body` with the collector and the endpoint the service exports to over `protocol`: the collector
    /// itself for OTLP/HTTP JSON, ``OTLPRelay`` (which forwards to it) for protobuf over HTTP and for gRPC.
    static func withCollector<Result: Sendable>(
        protocol: String,
        _ body: @escaping @Sendable (OTLPCollector, _ endpoint: String) async throws -> Result
    ) async throws -> Result {
        try await OTLPCollector.withRunning { collector, collectorEndpoint in
            switch `protocol` {
            case "http/json":
                return try await body(collector, collectorEndpoint)
            default:
                return try await OTLPRelay.withRunning(forwardingTo: collectorEndpoint) { relay in
                    let port = `protocol` == "grpc" ? relay.grpcPort : relay.httpPort
                    return try await body(collector, "http://127.0.0.1:\(port)")
                }
            }
        }
    }

    /// Runs `body` with a collector and two `shop serve` processes exporting to it over `protocol`: `api` takes
    /// requests and relays the outbox (no consumers), `worker` consumes (no relay).
    static func withExportingPair(
        protocol: String,
        api apiInstance: String,
        worker workerInstance: String,
        _ body:
            @escaping @Sendable (
                OTLPCollector, DatabaseURL, QueueProcessTests.Client, _ api: ShopProcess, _ worker: ShopProcess
            ) async throws -> Void
    ) async throws {
        try await Self.withCollector(protocol: `protocol`) { collector, endpoint in
            try await QueueProcessTests().withSetup { database, client, environment in
                let exporting = Self.exporting(to: endpoint, protocol: `protocol`)
                let api = try await ShopProcess(
                    instance: apiInstance,
                    environment: environment(exporting.merging(["QUEUE_CONSUMERS_ENABLED": "false"]) { $1 })
                )
                let worker = try await ShopProcess(
                    instance: workerInstance,
                    environment: environment(exporting.merging(["OUTBOX_RELAY_ENABLED": "false"]) { $1 })
                )
                try await withShopProcesses([api, worker]) {
                    try await body(collector, database, client, api, worker)
                }
            }
        }
    }

    /// The spans below `span` in `spans`, at any depth.
    static func descendants(of span: OTLPCollector.Span, in spans: [OTLPCollector.Span]) -> [OTLPCollector.Span] {
        let children = spans.filter { $0.parentSpanID == span.spanID }
        return children + children.flatMap { Self.descendants(of: $0, in: spans) }
    }

    /// The spans whose parent is neither in `spans` nor the caller's span. Each process exports in batches of its
    /// own, so a trace is complete only when there are none: a consumer's span can arrive before its producer's.
    static func orphans(in spans: [OTLPCollector.Span], caller: String) -> [OTLPCollector.Span] {
        let ids = Set(spans.map(\.spanID))
        return spans.filter { span in span.parentSpanID.map { !ids.contains($0) && $0 != caller } ?? true }
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    @Test(.timeLimit(.minutes(10)), arguments: ["http/json", "http/protobuf", "grpc"])
    func oneOrderIsOneTraceFromTheRequestOnOneProcessToTheNotificationOnAnother(protocol: String) async throws {
        try await Self.withExportingPair(protocol: `protocol`, api: "trace-api", worker: "trace-worker") {
            collector,
            database,
            client,
            api,
            worker in
            let product = try await QueueProcessTests.insertProduct(database, price: "2.00")
            let cookie = try await client.signUp("traced@trace.test", port: api.port)
            // The caller's own trace: everything below must continue it.
            let traceID = Self.randomHex(bytes: 16)
            let callerSpan = Self.randomHex(bytes: 8)
            let body = #"{"items":[{"productId":"\#(product.uuidString.lowercased())","quantity":1}]}"#
            let placed = try await client.send(
                .POST,
                port: api.port,
                "/api/v1/orders",
                cookie: cookie,
                key: "traced-1",
                body: body,
                headers: [("traceparent", "00-\(traceID)-\(callerSpan)-01")]
            )
            #expect(placed.status == 201, "\(placed.body)")
            try await QueueProcessTests.waitUntilConfirmed(database, orders: 1)

            let spans = try await collector.waitForTrace(traceID) { spans in
                guard let process = spans.first(where: { $0.name == "process orders" }) else { return false }
                let names = Self.descendants(of: process, in: spans).map(\.name)
                return names.contains("TRANSACTION") && names.contains("PUBLISH")
                    && Self.orphans(in: spans, caller: callerSpan).isEmpty
            }
            let listing = spans.map(\.description).joined(separator: "\n")
            func child(of parent: OTLPCollector.Span, named name: String) -> OTLPCollector.Span? {
                spans.first { $0.parentSpanID == parent.spanID && $0.name == name }
            }

            // HTTP: a SERVER span on the api process, the caller's span its parent.
            let server = try #require(
                spans.first { $0.kind == 2 && $0.parentSpanID == callerSpan },
                "no server span continues the caller's traceparent:\n\(listing)"
            )
            #expect(server.instance == "trace-api")
            #expect(server.name.contains("/api/v1/orders"), "\(server)")
            // Its transaction and its Redis calls are its children.
            let requestTransaction = try #require(child(of: server, named: "TRANSACTION"), "\(listing)")
            #expect(requestTransaction.attributes["db.system"] == "postgresql")
            #expect(requestTransaction.kind == 3)
            #expect(
                spans.contains { $0.parentSpanID == server.spanID && $0.attributes["db.system"] == "redis" },
                "\(listing)"
            )
            // The outbox relay's publish: a PRODUCER span whose parent is the request's span, although the
            // relay published after the request's transaction committed, from the stored row.
            let send = try #require(child(of: server, named: "send orders"), "\(listing)")
            #expect(send.kind == 4)
            #expect(send.instance == "trace-api")
            #expect(send.attributes["messaging.destination.name"] == "orders")
            // The consumer on the other process: a CONSUMER span whose parent is the producer span.
            let process = try #require(child(of: send, named: "process orders"), "\(listing)")
            #expect(process.kind == 5)
            #expect(process.instance == "trace-worker")
            #expect(process.attributes["messaging.consumer.group.name"] == "order-post-processing")
            #expect(process.links.isEmpty)
            // The consumer takes the user's lock: its acquisition (with the fencing token it got) and the
            // hold until release are spans of their own beside the work done under the lock.
            let acquire = try #require(child(of: process, named: "lock acquire"), "\(listing)")
            #expect(Int(acquire.attributes["lock.fencing_token"] ?? "") ?? 0 > 0, "\(acquire)")
            #expect(Int(acquire.attributes["lock.attempts"] ?? "") ?? 0 >= 1, "\(acquire)")
            let hold = try #require(child(of: process, named: "lock hold"), "\(listing)")
            #expect(hold.attributes["lock.fencing_token"] == acquire.attributes["lock.fencing_token"])
            #expect(hold.attributes["lock.name"] == acquire.attributes["lock.name"])
            // The post-processing transaction and the notification's PUBLISH are the consumer's children.
            let postProcessing = try #require(child(of: process, named: "TRANSACTION"), "\(listing)")
            #expect(postProcessing.instance == "trace-worker")
            let notification = try #require(child(of: process, named: "PUBLISH"), "\(listing)")
            #expect(notification.attributes["db.system"] == "redis")
            // One trace: every span's parent is in it, except the caller's.
            let orphans = Self.orphans(in: spans, caller: callerSpan)
            #expect(orphans.isEmpty, "spans whose parent is not in the trace: \(orphans)")
            // No command argument reaches a span.
            #expect(
                !spans.contains { $0.attributes.values.contains { $0.contains("traced@trace.test") } },
                "\(listing)"
            )
        }
    }

    /// The external flow's consumer side: a provider's webhook is accepted on one process (verified, stored in the
    /// inbox, queued through the outbox) and its event applied by the payment consumer on the other, in one trace.
    @Test(.timeLimit(.minutes(10)))
    func aWebhookAndThePaymentConsumerThatAppliesItsEventAreOneTrace() async throws {
        try await Self.withExportingPair(protocol: "http/json", api: "hook-api", worker: "hook-worker") {
            collector,
            _,
            client,
            api,
            worker in
            let traceID = Self.randomHex(bytes: 16)
            let callerSpan = Self.randomHex(bytes: 8)
            // An event for a payment the shop does not know yet: the consumer parks it (a transaction).
            let body = PaymentWebhookTests.event(
                "evt_traced",
                "payment.succeeded",
                payment: "pay_t",
                order: UUID()
            )
            let accepted = try await client.send(
                .POST,
                port: api.port,
                "/api/v1/webhooks/payments",
                body: body,
                headers: [
                    ("X-Signature", PaymentWebhookTests.signed(body)),
                    ("traceparent", "00-\(traceID)-\(callerSpan)-01"),
                ]
            )
            #expect(accepted.status == 202, "\(accepted.body)")
            let spans = try await collector.waitForTrace(traceID) { spans in
                guard let process = spans.first(where: { $0.name == "process payments" }) else { return false }
                return Self.descendants(of: process, in: spans).contains { $0.name == "TRANSACTION" }
                    && Self.orphans(in: spans, caller: callerSpan).isEmpty
            }
            let listing = spans.map(\.description).joined(separator: "\n")
            let server = try #require(
                spans.first { $0.kind == 2 && $0.parentSpanID == callerSpan },
                "no server span continues the provider's traceparent:\n\(listing)"
            )
            #expect(server.instance == "hook-api")
            #expect(server.name.contains("/api/v1/webhooks/payments"), "\(server)")
            let send = try #require(
                spans.first { $0.parentSpanID == server.spanID && $0.name == "send payments" },
                "\(listing)"
            )
            let process = try #require(
                spans.first { $0.parentSpanID == send.spanID && $0.name == "process payments" },
                "\(listing)"
            )
            #expect(process.instance == "hook-worker")
            #expect(process.kind == 5)
            #expect(
                Self.descendants(of: process, in: spans).contains { $0.name == "TRANSACTION" },
                "\(listing)"
            )
        }
    }
}
