public import Logging
public import RedisClient

/// A message queue on Redis Streams: publish to topics, consume with consumer groups (``QueueConsumer``), retry
/// with backoff, dead letters, and an admin API.
///
/// ```swift
/// let queue = StreamQueue(client: redis, configuration: .init(), logger: logger)
/// try await queue.publish(OutgoingMessage(type: "order.placed", payload: json), to: "orders")
///
/// let emails = QueueConsumer(queue: queue, topic: "orders", group: "emails") { message in
///     try await sendConfirmation(for: message)    // throw to retry later
/// }
/// // Run `emails` in the ServiceGroup after the RedisClient.
/// ```
///
/// `StreamQueue` itself holds no tasks or connections of its own; it is a cheap value to pass around.
public struct StreamQueue: Sendable {
    /// The Redis client (run it as a service too).
    public let client: RedisClient
    /// The settings.
    public let configuration: StreamQueueConfiguration
    let logger: Logger
    let metrics: PublishMetrics

    /// Creates a queue.
    /// - Parameters:
    ///   - client: The Redis client.
    ///   - configuration: Key prefix, retention, dead-letter limits.
    ///   - logger: Where to log; payloads are never logged.
    public init(client: RedisClient, configuration: StreamQueueConfiguration = .init(), logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.metrics = PublishMetrics()
    }

    func keys(_ topic: String) -> TopicKeys {
        TopicKeys(prefix: self.configuration.keyPrefix, topic: topic)
    }

    /// The key of a topic's stream (for tools and tests; publish with ``publish(_:to:deduplicationWindow:)``).
    /// - Parameter topic: The topic.
    /// - Returns: `<prefix>{<topic>}:stream`.
    public func streamKey(_ topic: String) -> String { self.keys(topic).stream }

    /// The key of a topic's dead-letter stream.
    /// - Parameter topic: The topic.
    /// - Returns: `<prefix>{<topic>}:dead`.
    public func deadLetterKey(_ topic: String) -> String { self.keys(topic).dead }
}
