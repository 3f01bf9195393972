public import Configuration

/// The exchange-rate provider and how it is called (`RATES_*`).
public struct RatesConfiguration: Sendable, Equatable {
    /// Base URL of the rate provider (`RATES_PROVIDER_URL`, default `http://127.0.0.1:8090`).
    public var providerURL: String
    /// How long a fetched rate is served from the cache (`RATES_CACHE_TTL_SECONDS`, default 60).
    public var cacheTTL: Duration
    /// How long one attempt may take (`RATES_ATTEMPT_TIMEOUT_MS`, default 500).
    public var attemptTimeout: Duration
    /// Attempts per lookup, retries included (`RATES_MAX_ATTEMPTS`, default 3).
    public var maxAttempts: Int
    /// Calls in the breaker's window before it judges the failure rate (`RATES_BREAKER_MIN_CALLS`, default 5).
    public var breakerMinimumCalls: Int
    /// How long the open breaker refuses calls before a trial (`RATES_BREAKER_OPEN_SECONDS`, default 10).
    public var breakerOpenDuration: Duration

    /// The defaults.
    public init() {
        self.providerURL = "http://127.0.0.1:8090"
        self.cacheTTL = .seconds(60)
        self.attemptTimeout = .milliseconds(500)
        self.maxAttempts = 3
        self.breakerMinimumCalls = 5
        self.breakerOpenDuration = .seconds(10)
    }

    /// Reads the keys from `reader`; missing keys keep their values.
    /// - Parameter reader: The configuration reader.
    /// - Throws: ``ConfigurationError`` naming the first key whose value cannot be used.
    public mutating func read(from reader: ConfigReader) throws {
        typealias Key = ShopConfiguration.Key
        func read(_ key: Key) -> String? {
            reader.string(forKey: ConfigKey(key.name), isSecret: key.isSecret)
        }
        if let value = read(.ratesProviderURL) {
            self.providerURL = try PaymentsConfiguration.httpURL(value, key: .ratesProviderURL)
        }
        if let value = read(.ratesCacheTTLSeconds) {
            self.cacheTTL = .seconds(try ShopConfiguration.integer(value, in: 1...86_400, key: .ratesCacheTTLSeconds))
        }
        if let value = read(.ratesAttemptTimeoutMs) {
            self.attemptTimeout = .milliseconds(
                try ShopConfiguration.integer(value, in: 1...60_000, key: .ratesAttemptTimeoutMs)
            )
        }
        if let value = read(.ratesMaxAttempts) {
            self.maxAttempts = try ShopConfiguration.integer(value, in: 1...10, key: .ratesMaxAttempts)
        }
        if let value = read(.ratesBreakerMinCalls) {
            self.breakerMinimumCalls = try ShopConfiguration.integer(value, in: 1...1000, key: .ratesBreakerMinCalls)
        }
        if let value = read(.ratesBreakerOpenSeconds) {
            self.breakerOpenDuration = .seconds(
                try ShopConfiguration.integer(value, in: 1...3600, key: .ratesBreakerOpenSeconds)
            )
        }
    }
}

extension ShopConfiguration.Key {
    /// `RATES_PROVIDER_URL`: an `http(s)://` URL. Default `http://127.0.0.1:8090`.
    public static let ratesProviderURL = Self("rates.providerURL", "RATES_PROVIDER_URL", "--rates-provider-url")
    /// `RATES_CACHE_TTL_SECONDS`: 1–86400. Default `60`.
    public static let ratesCacheTTLSeconds = Self(
        "rates.cacheTTLSeconds",
        "RATES_CACHE_TTL_SECONDS",
        "--rates-cache-ttl-seconds"
    )
    /// `RATES_ATTEMPT_TIMEOUT_MS`: 1–60000. Default `500`.
    public static let ratesAttemptTimeoutMs = Self(
        "rates.attemptTimeoutMs",
        "RATES_ATTEMPT_TIMEOUT_MS",
        "--rates-attempt-timeout-ms"
    )
    /// `RATES_MAX_ATTEMPTS`: 1–10. Default `3`.
    public static let ratesMaxAttempts = Self("rates.maxAttempts", "RATES_MAX_ATTEMPTS", "--rates-max-attempts")
    /// `RATES_BREAKER_MIN_CALLS`: 1–1000. Default `5`.
    public static let ratesBreakerMinCalls = Self(
        "rates.breakerMinCalls",
        "RATES_BREAKER_MIN_CALLS",
        "--rates-breaker-min-calls"
    )
    /// `RATES_BREAKER_OPEN_SECONDS`: 1–3600. Default `10`.
    public static let ratesBreakerOpenSeconds = Self(
        "rates.breakerOpenSeconds",
        "RATES_BREAKER_OPEN_SECONDS",
        "--rates-breaker-open-seconds"
    )

    /// The rates keys, in the order `docs/operations.md` lists them.
    public static let rates: [Self] = [
        .ratesProviderURL, .ratesCacheTTLSeconds, .ratesAttemptTimeoutMs, .ratesMaxAttempts, .ratesBreakerMinCalls,
        .ratesBreakerOpenSeconds,
    ]
}
