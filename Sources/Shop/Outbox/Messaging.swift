import Logging
import PostgresNIO
import RedisClient
import RedisLock
import StreamQueue

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
    let logger: Logger

    init(
        configuration: QueueConfiguration,
        instanceID: String,
        redis: RedisClient,
        postgres: PostgresClient,
        locks: RedisLocks,
        notifications: Notifications,
        points: PointsReader,
        lowStockThreshold: Int,
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
            logger: logger
        )
        var consumerSettings = QueueConsumerConfiguration()
        consumerSettings.concurrency = configuration.concurrency
        consumerSettings.visibilityTimeout = configuration.visibilityTimeout
        consumerSettings.retry.maxAttempts = configuration.maxAttempts
        consumerSettings.maxDeliveries = configuration.maxAttempts
        consumerSettings.shutdownGracePeriod = configuration.shutdownGracePeriod
        consumerSettings.consumerName = instanceID
        self.consumerSettings = consumerSettings
        self.logger = logger
        let processor = OrderPostProcessor(
            postgres: postgres,
            locks: locks,
            notifications: notifications,
            processed: RedisProcessedMessages(queue: queue, consumer: OrderPostProcessor.consumer),
            countersBase: String(queue.streamKey("orders").dropLast("stream".count)),
            delay: configuration.postProcessingDelay,
            lowStockThreshold: lowStockThreshold,
            pointsChanged: { user, balance in await points.pointsChanged(user, balance: balance) },
            logger: logger
        )
        self.consumers = [
            QueueConsumer(
                queue: queue,
                topic: "orders",
                group: OrderPostProcessor.consumer,
                configuration: consumerSettings,
                logger: logger
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
            handler: handler
        )
    }
}
