import Foundation
import RedisClient
import StreamQueue
import Testing
import Tracing

/// Trace context through the queue, with a tracer of the test's own (``TestTracer``): the consumer's span continues
/// the producer's, and a retry's span links the attempt that failed.
@Suite struct TracingTests {
    @Test func aConsumerSpanContinuesTheProducersTraceAndARetryLinksTheFailedAttempt() async throws {
        let tracer = TestTracer.shared
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration(maxAttempts: 3)
        ) { message in
            await log.started(message)
            await log.ended()
            // Work inside the handler is a child of its span: one Redis command here.
            _ = try await client.send(RedisCommand("PING"))
            if message.attempt == 1 { throw HandlerFailure("first attempt fails") }
            await log.succeeded(message)
        }
        let trace = tracer.startTrace()
        let root = try #require(TestTracer.ids(of: trace))
        try await ServiceContext.withValue(trace) {
            _ = try await queue.publish(OutgoingMessage(id: "traced", type: "t", payload: "p"), to: "orders")
        }
        try await QueueTest.eventually("the retry succeeds") { await log.handledCount == 1 }
        await consumer.stop()

        let spans = tracer.spans(of: trace)
        let listing = spans.map { "\($0.name) \($0.spanID) parent \($0.parentSpanID ?? "-")" }.joined(separator: "\n")
        let send = try #require(spans.first { $0.name == "send orders" }, "\(listing)")
        #expect(send.kind == .producer)
        #expect(send.parentSpanID == root.spanID)
        #expect(send.attributes.get("messaging.destination.name") == .string("orders"))
        // The publish's own XADD is the producer span's child.
        #expect(
            spans.contains { $0.name == "XADD" && $0.parentSpanID == send.spanID && $0.kind == .client },
            "\(listing)"
        )

        let runs = spans.filter { $0.name == "process orders" }
        try #require(runs.count == 2, "\(listing)")
        for run in runs {
            #expect(run.kind == .consumer)
            #expect(run.parentSpanID == send.spanID, "both attempts continue the producer's trace")
            #expect(spans.contains { $0.name == "PING" && $0.parentSpanID == run.spanID }, "\(listing)")
        }
        let first = try #require(runs.first { $0.attributes.get("messaging.redis_streams.attempt") == .int64(1) })
        let second = try #require(runs.first { $0.attributes.get("messaging.redis_streams.attempt") == .int64(2) })
        #expect(first.isError)
        #expect(first.links.isEmpty)
        #expect(!second.isError)
        #expect(second.links == [first.spanID], "the retry links the failed attempt")
    }

    @Test func withoutATraceNothingIsRecordedOrInjected() async throws {
        let tracer = TestTracer.shared
        let prefix = QueueTest.prefix()
        let client = QueueTest.client()
        defer { Task { await client.shutdown() } }
        let queue = QueueTest.queue(client, prefix: prefix)
        let log = HandlerLog()
        let consumer = RunningConsumer.start(
            prefix: prefix,
            topic: "orders",
            group: "emails",
            configuration: QueueTest.configuration()
        ) { message in
            await log.started(message)
            await log.ended()
            await log.succeeded(message)
        }
        _ = try await queue.publish(OutgoingMessage(id: "untraced", type: "t", payload: "p"), to: "orders")
        try await QueueTest.eventually("it is handled") { await log.handledCount == 1 }
        await consumer.stop()
        let message = try #require(await log.messages["untraced"])
        // No trace context was injected: the message carries exactly the headers it was published with.
        #expect(message.headers.isEmpty, "\(message.headers)")
        #expect(tracer.spans(of: tracer.startTrace()).isEmpty)
    }
}
