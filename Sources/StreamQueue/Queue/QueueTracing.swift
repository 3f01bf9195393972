public import Tracing

/// How trace context travels with messages, and the spans of publishing and handling them (OpenTelemetry
/// messaging conventions; a no-op until the application bootstraps a tracer).
///
/// A message carries its trace context in its headers, in the format of the bootstrapped instrument (W3C
/// `traceparent`/`tracestate` with OpenTelemetry). Publishing starts a `PRODUCER` span `send <topic>` whose parent
/// is the context the message already carries (a relay forwarding a stored request's context), or else the
/// caller's, and writes that span's context into the message. Handling starts a `CONSUMER` span
/// `process <topic>` whose parent is the producer span; a retry's span also links the failed attempt's span,
/// whose context the retry carries under ``previousAttemptPrefix``.
enum QueueTracing {
    /// Header names under which a retry carries the context of the attempt that failed.
    static let previousAttemptPrefix = "previous-attempt-"

    private struct HeaderInjector: Injector {
        let prefix: String
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
            carrier[self.prefix + key] = value
        }
    }

    private struct HeaderExtractor: Extractor {
        let prefix: String
        func extract(key: String, from carrier: [String: String]) -> String? {
            carrier[self.prefix + key]
        }
    }

    /// The trace context stored in `headers` (under `prefix`), or nil when they carry none the instrument reads.
    static func context(in headers: [String: String], prefix: String = "") -> ServiceContext? {
        guard !headers.isEmpty else { return nil }
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: HeaderExtractor(prefix: prefix))
        return context.isEmpty ? nil : context
    }

    /// Writes `context` into `headers` under `prefix`.
    static func inject(_ context: ServiceContext, into headers: inout [String: String], prefix: String = "") {
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderInjector(prefix: prefix))
    }

    /// Starts the producer span of `message` and returns the message carrying that span's context.
    static func startPublishing(
        _ message: OutgoingMessage,
        topic: String
    ) -> (span: any Span, message: OutgoingMessage) {
        let parent = Self.context(in: message.headers) ?? ServiceContext.current ?? .topLevel
        let span = startSpan("send \(topic)", context: parent, ofKind: .producer)
        guard span.isRecording else { return (span, message) }
        span.attributes["messaging.system"] = "redis_streams"
        span.attributes["messaging.operation.type"] = "send"
        span.attributes["messaging.operation.name"] = "send"
        span.attributes["messaging.destination.name"] = topic
        span.attributes["messaging.message.id"] = message.id
        var message = message
        Self.inject(span.context, into: &message.headers)
        return (span, message)
    }

    /// Starts the consumer span of one handler run of `message`.
    static func startProcessing(_ message: QueueMessage, group: String, consumer: String) -> any Span {
        let parent = Self.context(in: message.headers) ?? .topLevel
        let span = startSpan("process \(message.topic)", context: parent, ofKind: .consumer)
        guard span.isRecording else { return span }
        span.attributes["messaging.system"] = "redis_streams"
        span.attributes["messaging.operation.type"] = "process"
        span.attributes["messaging.operation.name"] = "process"
        span.attributes["messaging.destination.name"] = message.topic
        span.attributes["messaging.consumer.group.name"] = group
        span.attributes["messaging.message.id"] = message.id
        span.attributes["messaging.message.type"] = message.type
        span.attributes["messaging.redis_streams.entry_id"] = message.entryID
        span.attributes["messaging.redis_streams.attempt"] = message.attempt
        span.attributes["messaging.message.delivery_count"] = message.deliveryCount
        span.attributes["messaging.consumer.name"] = consumer
        if let previous = Self.context(in: message.headers, prefix: Self.previousAttemptPrefix) {
            span.addLink(SpanLink(context: previous, attributes: ["messaging.link": "previous attempt"]))
        }
        return span
    }

    /// The header fields (`h:` + name) a retry of the attempt traced by `span` carries, so that the retry's
    /// span can link this one; empty when the span does not record.
    static func previousAttemptFields(_ span: any Span) -> [String: String] {
        guard span.isRecording else { return [:] }
        var headers: [String: String] = [:]
        Self.inject(span.context, into: &headers, prefix: Self.previousAttemptPrefix)
        return Dictionary(uniqueKeysWithValues: headers.map { (MessageField.headerPrefix + $0.key, $0.value) })
    }
}

extension OutgoingMessage {
    /// The headers that carry `context` (the current one by default) to the consumers of a message, in the
    /// bootstrapped instrument's format (W3C `traceparent`/`tracestate` with OpenTelemetry); empty with no tracer.
    ///
    /// For messages written now and published later — an outbox row — so that the publish, and through it the
    /// consumer, continues the trace of the work that wrote them (``StreamQueue/publish(_:to:deduplicationWindow:)``
    /// makes a message's own context the parent of its `send` span).
    /// - Parameter context: The context to carry.
    /// - Returns: Header names and values.
    public static func traceHeaders(
        for context: ServiceContext = ServiceContext.current ?? .topLevel
    ) -> [String: String] {
        var headers: [String: String] = [:]
        QueueTracing.inject(context, into: &headers)
        return headers
    }
}
