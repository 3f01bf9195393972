import Logging
import Metrics
import PostgresNIO
import RedisClient
import RedisLock
import StreamQueue

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The queue as `buildApplication` wires it: the outbox relay and the consumers (services), and the admin
/// routes over the queue.
struct Messaging: Sendable {
    /// The topics this service owns, in the order the admin API lists them.
    static let topics = ["orders", "payments"]

    let queue: StreamQueue
    let relay: OutboxRelay
    let consumers: [QueueConsumer]
    let controller: QueuesAdminController
    let consumerSettings: QueueConsumerConfiguration
    let metricsFactory: any MetricsFactory
    let logger: Logger

    init(
        configuration: QueueConfiguration,
        instanceID: String,
        redis: RedisClient,
        postgres: Database,
        locks: RedisLocks,
        notifications: Notifications,
        points: PointsReader,
        lowStockThreshold: Int,
        productChanged: @escaping @Sendable (UUID) async -> Bool,
        metricsFactory: any MetricsFactory,
        logger: Logger
    ) {
        var settings = StreamQueueConfiguration()
        settings.keyPrefix = configuration.keyPrefix
        settings.retention = .maxLength(100_000)
        let queue = StreamQueue(client: redis, configuration: settings, logger: logger)
        self.queue = queue
        self.relay = OutboxRelay(
            postgres: postgres,
            queue: queue,
            interval: configuration.relayInterval,
            resendAfter: configuration.resendAfter,
            logger: logger
        )
        var consumerSettings = QueueConsumerConfiguration()
        consumerSettings.concurrency = configuration.concurrency
        consumerSettings.visibilityTimeout = configuration.visibilityTimeout
        consumerSettings.retry.maxAttempts = configuration.maxAttempts
        consumerSettings.maxDeliveries = configuration.maxDeliveries
        // A database or Redis outage, a busy lock: waited out, never counted toward the attempts.
        consumerSettings.classifyFailure = ShopFailures.classify
        consumerSettings.transientBackoff.maximumDelay = configuration.transientBackoffMax
        consumerSettings.shutdownGracePeriod = configuration.shutdownGracePeriod
        consumerSettings.consumerName = instanceID
        self.consumerSettings = consumerSettings
        self.metricsFactory = metricsFactory
        self.logger = logger
        let processor = OrderPostProcessor(
            postgres: postgres,
            locks: locks,
            notifications: notifications,
            processed: RedisProcessedMessages(
                queue: queue,
                consumer: OrderPostProcessor.consumer,
                // Longer than the counters live: an event that could still count finds its marker.
                retention: OrderPostProcessor.counterLifetime + .seconds(5 * 86_400)
            ),
            countersBase: String(queue.streamKey("orders").dropLast("stream".count)),
            delay: configuration.postProcessingDelay,
            lowStockThreshold: lowStockThreshold,
            points: points,
            productChanged: productChanged,
            logger: logger
        )
        self.consumers = [
            QueueConsumer(
                queue: queue,
                topic: "orders",
                group: OrderPostProcessor.consumer,
                configuration: consumerSettings,
                logger: logger,
                metricsFactory: metricsFactory
            ) { message in try await processor.handle(message) }
        ]
        self.controller = QueuesAdminController(queue: queue, topics: Self.topics)
    }

    /// A consumer of another module's topic, with the same settings.
    func consumer(
        topic: String,
        group: String,
        ordering: QueueOrdering = .none,
        handler: @escaping QueueConsumer.Handler
    ) -> QueueConsumer {
        var settings = self.consumerSettings
        settings.ordering = ordering
        return QueueConsumer(
            queue: self.queue,
            topic: topic,
            group: group,
            configuration: settings,
            logger: self.logger,
            metricsFactory: self.metricsFactory,
            handler: handler
        )
    }
}
