public import Configuration

/// The message queue, its consumers and the outbox relay (`QUEUE_*`, `OUTBOX_*`,
/// `ORDERS_POST_PROCESSING_DELAY_MS`).
public struct QueueConfiguration: Sendable, Equatable {
    /// Prefix of the queue's Redis keys (`QUEUE_KEY_PREFIX`, default `shop:queue:`).
    public var keyPrefix: String
    /// Whether this instance runs the consumers (`QUEUE_CONSUMERS_ENABLED`, default true).
    public var consumersEnabled: Bool
    /// Messages one instance handles at once per consumer (`QUEUE_CONCURRENCY`, default 8).
    public var concurrency: Int
    /// A message a consumer took and neither finished nor renewed for this long is taken over by another
    /// (`QUEUE_VISIBILITY_TIMEOUT_MS`, default 30000).
    public var visibilityTimeout: Duration
    /// Attempts before a message that keeps failing for its own reasons goes to the dead letters
    /// (`QUEUE_MAX_ATTEMPTS`, default 5). Failures of the infrastructure (a database or Redis outage, a busy lock)
    /// do not count: they are waited out.
    public var maxAttempts: Int
    /// Deliveries without an outcome (the consumers holding it crashed) before a message goes to the dead letters
    /// (`QUEUE_MAX_DELIVERIES`, default 20): the guard against a message that kills every consumer it reaches.
    public var maxDeliveries: Int
    /// The longest wait between tries of a message whose handler failed transiently
    /// (`QUEUE_TRANSIENT_BACKOFF_MAX_MS`, default 30000).
    public var transientBackoffMax: Duration
    /// On shutdown, messages being handled get this long to finish (`QUEUE_SHUTDOWN_GRACE_SECONDS`, default 10).
    public var shutdownGracePeriod: Duration
    /// Whether this instance publishes the outbox (`OUTBOX_RELAY_ENABLED`, default true).
    public var relayEnabled: Bool
    /// How often the relay looks at the outbox when nothing woke it (`OUTBOX_POLL_INTERVAL_MS`, default 500).
    public var relayInterval: Duration
    /// An outbox row published this long ago whose consumer has not recorded its effects is published again
    /// (`OUTBOX_RESEND_AFTER_MS`, default 120000): what Redis lost (a failover, a restore, the last second of an
    /// `everysec` append-only file) is delivered anyway.
    public var resendAfter: Duration
    /// Simulated long-running work in the order post-processing (`ORDERS_POST_PROCESSING_DELAY_MS`, default 0).
    public var postProcessingDelay: Duration

    /// The defaults.
    public init() {
        self.keyPrefix = "shop:queue:"
        self.consumersEnabled = true
        self.concurrency = 8
        self.visibilityTimeout = .milliseconds(30_000)
        self.maxAttempts = 5
        self.maxDeliveries = 20
        self.transientBackoffMax = .seconds(30)
        self.shutdownGracePeriod = .seconds(10)
        self.relayEnabled = true
        self.relayInterval = .milliseconds(500)
        self.resendAfter = .seconds(120)
        self.postProcessingDelay = .zero
    }

    /// Reads the keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        if let value = read(.queueKeyPrefix) {
            self.keyPrefix = try ShopConfiguration.keyPrefix(value, key: .queueKeyPrefix)
        }
        if let value = read(.queueConsumersEnabled) {
            self.consumersEnabled = try ShopConfiguration.bool(value, key: .queueConsumersEnabled)
        }
        if let value = read(.queueConcurrency) {
            self.concurrency = try ShopConfiguration.integer(value, in: 1...1000, key: .queueConcurrency)
        }
        if let value = read(.queueVisibilityTimeoutMs) {
            self.visibilityTimeout = .milliseconds(
                try ShopConfiguration.integer(value, in: 100...3_600_000, key: .queueVisibilityTimeoutMs)
            )
        }
        if let value = read(.queueMaxAttempts) {
            self.maxAttempts = try ShopConfiguration.integer(value, in: 1...100, key: .queueMaxAttempts)
        }
        if let value = read(.queueMaxDeliveries) {
            self.maxDeliveries = try ShopConfiguration.integer(value, in: 1...1000, key: .queueMaxDeliveries)
        }
        if let value = read(.queueTransientBackoffMaxMs) {
            self.transientBackoffMax = .milliseconds(
                try ShopConfiguration.integer(value, in: 10...3_600_000, key: .queueTransientBackoffMaxMs)
            )
        }
        if let value = read(.queueShutdownGraceSeconds) {
            self.shutdownGracePeriod = .seconds(
                try ShopConfiguration.integer(value, in: 0...3600, key: .queueShutdownGraceSeconds)
            )
        }
        if let value = read(.outboxRelayEnabled) {
            self.relayEnabled = try ShopConfiguration.bool(value, key: .outboxRelayEnabled)
        }
        if let value = read(.outboxPollIntervalMs) {
            self.relayInterval = .milliseconds(
                try ShopConfiguration.integer(value, in: 10...600_000, key: .outboxPollIntervalMs)
            )
        }
        if let value = read(.outboxResendAfterMs) {
            self.resendAfter = .milliseconds(
                try ShopConfiguration.integer(value, in: 100...86_400_000, key: .outboxResendAfterMs)
            )
        }
        if let value = read(.ordersPostProcessingDelayMs) {
            self.postProcessingDelay = .milliseconds(
                try ShopConfiguration.integer(value, in: 0...600_000, key: .ordersPostProcessingDelayMs)
            )
        }
    }
}

extension ShopConfiguration.Key {
    /// `QUEUE_KEY_PREFIX`: 0–64 characters of `A-Z a-z 0-9 : . _ -`. Default `shop:queue:`.
    public static let queueKeyPrefix = Self("queue.keyPrefix", "QUEUE_KEY_PREFIX", "--queue-key-prefix")
    /// `QUEUE_CONSUMERS_ENABLED`: `true` or `false`. Default `true`.
    public static let queueConsumersEnabled = Self(
        "queue.consumersEnabled",
        "QUEUE_CONSUMERS_ENABLED",
        "--queue-consumers-enabled"
    )
    /// `QUEUE_CONCURRENCY`: 1–1000. Default `8`.
    public static let queueConcurrency = Self("queue.concurrency", "QUEUE_CONCURRENCY", "--queue-concurrency")
    /// `QUEUE_VISIBILITY_TIMEOUT_MS`: 100–3600000. Default `30000`.
    public static let queueVisibilityTimeoutMs = Self(
        "queue.visibilityTimeoutMs",
        "QUEUE_VISIBILITY_TIMEOUT_MS",
        "--queue-visibility-timeout-ms"
    )
    /// `QUEUE_MAX_ATTEMPTS`: 1–100. Default `5`.
    public static let queueMaxAttempts = Self("queue.maxAttempts", "QUEUE_MAX_ATTEMPTS", "--queue-max-attempts")
    /// `QUEUE_MAX_DELIVERIES`: 1–1000. Default `20`.
    public static let queueMaxDeliveries = Self(
        "queue.maxDeliveries",
        "QUEUE_MAX_DELIVERIES",
        "--queue-max-deliveries"
    )
    /// `QUEUE_TRANSIENT_BACKOFF_MAX_MS`: 10–3600000. Default `30000`.
    public static let queueTransientBackoffMaxMs = Self(
        "queue.transientBackoffMaxMs",
        "QUEUE_TRANSIENT_BACKOFF_MAX_MS",
        "--queue-transient-backoff-max-ms"
    )
    /// `QUEUE_SHUTDOWN_GRACE_SECONDS`: 0–3600. Default `10`.
    public static let queueShutdownGraceSeconds = Self(
        "queue.shutdownGraceSeconds",
        "QUEUE_SHUTDOWN_GRACE_SECONDS",
        "--queue-shutdown-grace-seconds"
    )
    /// `OUTBOX_RELAY_ENABLED`: `true` or `false`. Default `true`.
    public static let outboxRelayEnabled = Self("outbox.relayEnabled", "OUTBOX_RELAY_ENABLED", "--outbox-relay-enabled")
    /// `OUTBOX_POLL_INTERVAL_MS`: 10–600000. Default `500`.
    public static let outboxPollIntervalMs = Self(
        "outbox.pollIntervalMs",
        "OUTBOX_POLL_INTERVAL_MS",
        "--outbox-poll-interval-ms"
    )
    /// `OUTBOX_RESEND_AFTER_MS`: 100–86400000. Default `120000`.
    public static let outboxResendAfterMs = Self(
        "outbox.resendAfterMs",
        "OUTBOX_RESEND_AFTER_MS",
        "--outbox-resend-after-ms"
    )
    /// `ORDERS_POST_PROCESSING_DELAY_MS`: 0–600000. Default `0`.
    public static let ordersPostProcessingDelayMs = Self(
        "orders.postProcessingDelayMs",
        "ORDERS_POST_PROCESSING_DELAY_MS",
        "--orders-post-processing-delay-ms"
    )

    /// The queue keys, in the order `docs/operations.md` lists them.
    public static let queue: [Self] = [
        .queueKeyPrefix, .queueConsumersEnabled, .queueConcurrency, .queueVisibilityTimeoutMs, .queueMaxAttempts,
        .queueMaxDeliveries, .queueTransientBackoffMaxMs, .queueShutdownGraceSeconds, .outboxRelayEnabled,
        .outboxPollIntervalMs, .outboxResendAfterMs, .ordersPostProcessingDelayMs,
    ]
}
