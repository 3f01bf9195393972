public import Configuration

/// The catalog cache's tunables (`CACHE_*`).
///
/// Every field is one documented key (`docs/operations.md`); ``ShopConfiguration/init(reader:)`` reads them
/// through ``read(from:)``.
public struct CatalogCacheConfiguration: Sendable, Equatable {
    /// Whether catalog reads go through Redis (`CACHE_ENABLED`, default true). With false every read goes to
    /// PostgreSQL; writes still work.
    public var enabled: Bool
    /// Prefix of every cache key and of the fill channel (`CACHE_KEY_PREFIX`, default `shop:cache:`).
    public var keyPrefix: String
    /// How long a product stays cached (`CACHE_TTL_SECONDS`, default 300).
    public var productTTL: Duration
    /// How long a page of the product list stays cached (`CACHE_LIST_TTL_SECONDS`, default 60).
    public var listTTL: Duration
    /// How long the copy of a user's points that `GET /api/v1/me` reads may live (`CACHE_POINTS_TTL_SECONDS`,
    /// default 3600). Crashes and failed writes are repaired without it; it bounds only how long a copy can stay
    /// stale after Redis itself lost writes it had acknowledged (a restore, a failover).
    public var pointsTTL: Duration
    /// How long "no such product" stays cached; zero caches nothing for it (`CACHE_NEGATIVE_TTL_SECONDS`,
    /// default 10).
    public var negativeTTL: Duration
    /// How long past its TTL an entry may be served while one instance refreshes it (`CACHE_STALE_SECONDS`,
    /// default 30; 0 serves nothing stale).
    public var staleWhileRevalidate: Duration
    /// TTL spread in percent, each entry lives TTL × (1 ± p/100) (`CACHE_TTL_JITTER_PERCENT`, default 10).
    public var ttlJitterPercent: Int
    /// The longest one cache call to Redis may take before the read goes to PostgreSQL
    /// (`CACHE_REDIS_TIMEOUT_MS`, default 100).
    public var redisTimeout: Duration
    /// How long a miss waits for another caller already loading the same entry (`CACHE_STAMPEDE_WAIT_MS`,
    /// default 1000).
    public var stampedeWait: Duration
    /// Consecutive failed Redis calls that open the cache's circuit breaker (`CACHE_BREAKER_FAILURES`, default 5).
    public var breakerFailures: Int
    /// How long the open breaker keeps Redis out of reads before one probe (`CACHE_BREAKER_COOLDOWN_MS`,
    /// default 2000).
    public var breakerCooldown: Duration

    /// The defaults.
    public init() {
        self.enabled = true
        self.keyPrefix = "shop:cache:"
        self.productTTL = .seconds(300)
        self.listTTL = .seconds(60)
        self.pointsTTL = .seconds(3600)
        self.negativeTTL = .seconds(10)
        self.staleWhileRevalidate = .seconds(30)
        self.ttlJitterPercent = 10
        self.redisTimeout = .milliseconds(100)
        self.stampedeWait = .milliseconds(1000)
        self.breakerFailures = 5
        self.breakerCooldown = .milliseconds(2000)
    }

    /// Reads the cache keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        func seconds(_ key: Key, in range: ClosedRange<Int>) throws -> Duration? {
            try read(key).map { .seconds(try ShopConfiguration.integer($0, in: range, key: key)) }
        }
        func milliseconds(_ key: Key, in range: ClosedRange<Int>) throws -> Duration? {
            try read(key).map { .milliseconds(try ShopConfiguration.integer($0, in: range, key: key)) }
        }
        if let value = read(.cacheEnabled) {
            self.enabled = try ShopConfiguration.bool(value, key: .cacheEnabled)
        }
        if let value = read(.cacheKeyPrefix) {
            self.keyPrefix = try ShopConfiguration.keyPrefix(value, key: .cacheKeyPrefix)
        }
        if let value = try seconds(.cacheTTLSeconds, in: 1...86_400) { self.productTTL = value }
        if let value = try seconds(.cacheListTTLSeconds, in: 1...86_400) { self.listTTL = value }
        if let value = try seconds(.cachePointsTTLSeconds, in: 1...86_400) { self.pointsTTL = value }
        if let value = try seconds(.cacheNegativeTTLSeconds, in: 0...3600) { self.negativeTTL = value }
        if let value = try seconds(.cacheStaleSeconds, in: 0...86_400) { self.staleWhileRevalidate = value }
        if let value = read(.cacheTTLJitterPercent) {
            self.ttlJitterPercent = try ShopConfiguration.integer(value, in: 0...50, key: .cacheTTLJitterPercent)
        }
        if let value = try milliseconds(.cacheRedisTimeoutMs, in: 1...10_000) { self.redisTimeout = value }
        if let value = try milliseconds(.cacheStampedeWaitMs, in: 0...60_000) { self.stampedeWait = value }
        if let value = read(.cacheBreakerFailures) {
            self.breakerFailures = try ShopConfiguration.integer(value, in: 1...1000, key: .cacheBreakerFailures)
        }
        if let value = try milliseconds(.cacheBreakerCooldownMs, in: 0...600_000) { self.breakerCooldown = value }
    }

}

extension ShopConfiguration.Key {
    /// `CACHE_ENABLED`: `true` or `false`. Default `true`.
    public static let cacheEnabled = Self("cache.enabled", "CACHE_ENABLED", "--cache-enabled")
    /// `CACHE_KEY_PREFIX`: 0–64 characters of `A-Z a-z 0-9 : . _ -`. Default `shop:cache:`.
    public static let cacheKeyPrefix = Self("cache.keyPrefix", "CACHE_KEY_PREFIX", "--cache-key-prefix")
    /// `CACHE_TTL_SECONDS`: 1–86400. Default `300`.
    public static let cacheTTLSeconds = Self("cache.ttlSeconds", "CACHE_TTL_SECONDS", "--cache-ttl-seconds")
    /// `CACHE_LIST_TTL_SECONDS`: 1–86400. Default `60`.
    public static let cacheListTTLSeconds = Self(
        "cache.listTtlSeconds",
        "CACHE_LIST_TTL_SECONDS",
        "--cache-list-ttl-seconds"
    )
    /// `CACHE_POINTS_TTL_SECONDS`: 1–86400. Default `3600`.
    public static let cachePointsTTLSeconds = Self(
        "cache.pointsTtlSeconds",
        "CACHE_POINTS_TTL_SECONDS",
        "--cache-points-ttl-seconds"
    )
    /// `CACHE_NEGATIVE_TTL_SECONDS`: 0–3600 (0: not found is not cached). Default `10`.
    public static let cacheNegativeTTLSeconds = Self(
        "cache.negativeTtlSeconds",
        "CACHE_NEGATIVE_TTL_SECONDS",
        "--cache-negative-ttl-seconds"
    )
    /// `CACHE_STALE_SECONDS`: 0–86400. Default `30`.
    public static let cacheStaleSeconds = Self("cache.staleSeconds", "CACHE_STALE_SECONDS", "--cache-stale-seconds")
    /// `CACHE_TTL_JITTER_PERCENT`: 0–50. Default `10`.
    public static let cacheTTLJitterPercent = Self(
        "cache.ttlJitterPercent",
        "CACHE_TTL_JITTER_PERCENT",
        "--cache-ttl-jitter-percent"
    )
    /// `CACHE_REDIS_TIMEOUT_MS`: 1–10000. Default `100`.
    public static let cacheRedisTimeoutMs = Self(
        "cache.redisTimeoutMs",
        "CACHE_REDIS_TIMEOUT_MS",
        "--cache-redis-timeout-ms"
    )
    /// `CACHE_STAMPEDE_WAIT_MS`: 0–60000. Default `1000`.
    public static let cacheStampedeWaitMs = Self(
        "cache.stampedeWaitMs",
        "CACHE_STAMPEDE_WAIT_MS",
        "--cache-stampede-wait-ms"
    )
    /// `CACHE_BREAKER_FAILURES`: 1–1000. Default `5`.
    public static let cacheBreakerFailures = Self(
        "cache.breakerFailures",
        "CACHE_BREAKER_FAILURES",
        "--cache-breaker-failures"
    )
    /// `CACHE_BREAKER_COOLDOWN_MS`: 0–600000. Default `2000`.
    public static let cacheBreakerCooldownMs = Self(
        "cache.breakerCooldownMs",
        "CACHE_BREAKER_COOLDOWN_MS",
        "--cache-breaker-cooldown-ms"
    )

    /// The catalog cache's keys, in the order `docs/operations.md` lists them.
    public static let cache: [Self] = [
        .cacheEnabled, .cacheKeyPrefix, .cacheTTLSeconds, .cacheListTTLSeconds, .cachePointsTTLSeconds,
        .cacheNegativeTTLSeconds,
        .cacheStaleSeconds, .cacheTTLJitterPercent, .cacheRedisTimeoutMs, .cacheStampedeWaitMs,
        .cacheBreakerFailures, .cacheBreakerCooldownMs,
    ]
}
