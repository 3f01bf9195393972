import Foundation
public import Logging
public import Metrics
import NIOConcurrencyHelpers
public import ServiceLifecycle

/// One handler's consumer service: reads a topic with a consumer group, runs the handler with bounded
/// concurrency, acknowledges after success, retries failures with backoff, dead-letters what keeps failing, and
/// takes over messages left behind by dead consumers.
///
/// Run it in a `ServiceGroup` after its `RedisClient`. Each service is one consumer of the group; run one per
/// instance (or several, for more concurrency). On graceful shutdown it stops reading, lets in-flight handlers
/// finish within ``QueueConsumerConfiguration/shutdownGracePeriod``, and never acknowledges a handler that did
/// not finish.
///
/// ```swift
/// let consumer = QueueConsumer(queue: queue, topic: "orders", group: "order-emails") { message in
///     let order = try message.decodePayload(as: OrderPlaced.self)
///     try await mailer.sendConfirmation(order)   // throwing retries later; succeed to acknowledge
/// }
/// ```
///
/// Delivery is at least once: a handler can see a message again (after a crash, a stall beyond the visibility
/// timeout, or a lost acknowledgement). Record ``QueueMessage/id`` with the handler's own effects to make
/// handling idempotent (see ``RedisProcessedMessages`` and `docs/queue.md`).
public final class QueueConsumer: Service, Sendable {
    /// Handles one message; throwing schedules a retry (or a dead letter after the last attempt). The handler is
    /// cancelled when the service is cancelled or the shutdown grace period ends; its message then stays pending.
    public typealias Handler = @Sendable (QueueMessage) async throws -> Void

    /// The topic.
    public let topic: String
    /// The consumer group (one per handler).
    public let group: String
    /// This service's consumer name in the group (unique per run unless configured).
    public let name: String
    /// The settings.
    public let configuration: QueueConsumerConfiguration
    let queue: StreamQueue
    let keys: TopicKeys
    let handler: Handler
    let logger: Logger
    let metrics: ConsumerMetrics

    /// Creates a consumer service. Nothing starts until ``run()``.
    /// - Parameters:
    ///   - queue: The queue (client, key prefix).
    ///   - topic: The topic to consume.
    ///   - group: The consumer group, one per handler: every group gets every message.
    ///   - configuration: Concurrency, retries, timeouts.
    ///   - logger: Where to log; defaults to the queue's logger. Payloads are never logged.
    ///   - metricsFactory: Where its metrics go; defaults to the bootstrapped `MetricsSystem`.
    ///   - handler: Handles one message.
    public init(
        queue: StreamQueue,
        topic: String,
        group: String,
        configuration: QueueConsumerConfiguration = .init(),
        logger: Logger? = nil,
        metricsFactory: (any MetricsFactory)? = nil,
        handler: @escaping Handler
    ) {
        self.queue = queue
        self.topic = topic
        self.group = group
        self.configuration = configuration
        self.name = configuration.consumerName ?? Self.defaultName()
        self.keys = queue.keys(topic)
        self.handler = handler
        var logger = logger ?? queue.logger
        logger[metadataKey: "queue.topic"] = .string(topic)
        logger[metadataKey: "queue.group"] = .string(group)
        self.logger = logger
        self.metrics = ConsumerMetrics(topic: topic, group: group, factory: metricsFactory ?? MetricsSystem.factory)
    }

    /// Consumes until graceful shutdown (then drains as configured) or cancellation (then stops at once, leaving
    /// unfinished messages pending for other consumers).
    /// - Throws: ``StreamQueueError`` for an invalid topic, group or consumer name. Redis failures are logged and
    ///   retried, never thrown.
    public func run() async throws {
        try TopicKeys.validate(self.topic)
        try TopicKeys.validate(self.group)
        try TopicKeys.validate(self.name)
        guard self.configuration.exclusive else {
            let run = ConsumerRun(consumer: self, takeOver: false)
            await withGracefulShutdownHandler {
                await run.run()
            } onGracefulShutdown: {
                run.requestShutdown()
            }
            return
        }
        await self.runExclusive()
    }

    /// Exclusive mode: stand by until this service holds the group's lease, then consume (first taking over what
    /// the previous active consumer left pending); if the lease is lost, stop and stand by again.
    private func runExclusive() async {
        let lease = ExclusiveLease(consumer: self)
        let stopped = OneShotSignal()
        let current = NIOLockedValueBox<ConsumerRun?>(nil)
        await withGracefulShutdownHandler {
            while !stopped.isFired && !Task.isCancelled {
                guard await lease.acquire(until: stopped) else { break }
                let run = ConsumerRun(consumer: self, takeOver: true)
                current.withLockedValue { $0 = run }
                if stopped.isFired { run.requestShutdown() }
                let finished = OneShotSignal()
                await withDiscardingTaskGroup { tasks in
                    tasks.addTask {
                        await run.run()
                        finished.fire()
                    }
                    tasks.addTask { await lease.keep(while: run, finished: finished) }
                }
                current.withLockedValue { $0 = nil }
                if !Task.isCancelled && !run.wasAbandoned { await lease.release() }
            }
        } onGracefulShutdown: {
            stopped.fire()
            current.withLockedValue { $0 }?.requestShutdown()
        }
    }

    private static func defaultName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&buffer, 255) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.prefix(64).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : "consumer"
        let random = UInt32.random(in: 0 ... .max)
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(String(random, radix: 16))"
    }
}
