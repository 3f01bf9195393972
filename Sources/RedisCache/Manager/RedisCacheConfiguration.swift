/// How a ``RedisCacheManager`` talks to Redis; shared by every namespace it creates.
public struct RedisCacheConfiguration: Sendable {
    /// Prepended to every key and to the fill channel (`cache:` by default). Use a prefix of your own per
    /// application (and per test) sharing one Redis. At most 128 bytes, without `{` or `}`.
    public var keyPrefix: String = "cache:"
    /// The longest the cache waits for one Redis call before it gives up and reads the loader instead. Keep it
    /// short: it is what a request pays when Redis is slow. Independent of the client's own command timeout.
    public var operationTimeout: Duration = .milliseconds(100)
    /// Consecutive failed Redis calls that open the circuit breaker.
    public var failureThreshold: Int = 5
    /// How long the breaker stays open (Redis is not called) before one call probes it again.
    public var breakerCooldown: Duration = .seconds(2)
    /// How often a caller waiting for another caller's fill looks at Redis again when no announcement woke it
    /// (announcements travel over pub/sub, at most once, and only while ``RedisCacheManager/run()`` runs).
    public var pollInterval: Duration = .milliseconds(50)
    /// Background refreshes (early refresh, stale-while-revalidate) that may run at once in this process.
    public var maxConcurrentRefreshes: Int = 4
    /// Background refreshes that may wait to run; more are dropped (the entry then simply expires).
    public var refreshQueueLimit: Int = 256
    /// Evictions kept to retry when Redis could not be reached. Past this, the namespaces concerned are evicted
    /// whole (their epoch replaced) when Redis is back, which is always correct but empties them.
    public var maxDeferredEvictions: Int = 10_000

    /// Creates the default configuration.
    public init() {}
}

/// An error of the cache itself (Redis errors never escape a read: reads fall back to the loader).
public struct RedisCacheError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidConfiguration
            case redisUnavailable
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { self.base.rawValue }

        /// A key prefix, namespace or option is not acceptable.
        public static let invalidConfiguration = Self(.invalidConfiguration)
        /// An administrative operation that needs Redis (``RedisCache/purgeNamespace()``) could not reach it.
        public static let redisUnavailable = Self(.redisUnavailable)
    }

    /// What kind of failure this is.
    public let code: Code
    /// A human-readable explanation.
    public let message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: What kind of failure this is.
    ///   - message: A human-readable explanation.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "RedisCacheError.\(self.code): \(self.message)" }
}
