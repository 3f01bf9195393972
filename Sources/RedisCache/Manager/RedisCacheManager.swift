public import Logging
public import RedisClient
public import ServiceLifecycle
import Synchronization

/// The shared part of every cache of one application: the Redis client, the circuit breaker, wake-ups of
/// waiting callers, background refreshes and statistics. Create one, run it in your `ServiceGroup` after the
/// Redis client, and make one ``RedisCache`` per namespace with ``cache(namespace:of:options:)``.
///
/// ```swift
/// let caches = try RedisCacheManager(client: redis, configuration: .init(), logger: logger)
/// let products = try caches.cache(namespace: "products", of: Product.self, options: .init(ttl: .seconds(300)))
/// let product = try await products.get(id.uuidString) { try await database.product(id) }
/// ```
///
/// ``run()`` keeps one pub/sub subscription that wakes callers waiting for another caller's fill, and runs
/// background refreshes. Everything else works without it: waiters then poll, and nothing is refreshed early.
public final class RedisCacheManager: Sendable, Service {
    /// The Redis client the caches use.
    public let client: RedisClient
    /// The configuration shared by every namespace.
    public let configuration: RedisCacheConfiguration
    let logger: Logger
    let breaker: CircuitBreaker
    let signals = FillSignals()
    let fillChannel: String
    private let deferred: DeferredEvictions
    private let deferredFlush = SingleFlight<Void>()
    private let counters = Mutex<[String: CacheCounters]>([:])
    private let refreshes: RefreshQueue
    private let isSubscribed = Atomic<Bool>(false)

    /// Creates the manager; nothing is sent to Redis until a cache is used.
    /// - Parameters:
    ///   - client: The Redis client (run it as a service before this one).
    ///   - configuration: Key prefix, timeouts, breaker and refresh settings.
    ///   - logger: Where to log breaker changes and background failures.
    /// - Throws: ``RedisCacheError`` with `.invalidConfiguration` for an unusable prefix or setting.
    public init(
        client: RedisClient,
        configuration: RedisCacheConfiguration = RedisCacheConfiguration(),
        logger: Logger = Logger(label: "redis-cache")
    ) throws {
        guard CacheKeyLayout.isValidPrefix(configuration.keyPrefix) else {
            throw RedisCacheError(.invalidConfiguration, "keyPrefix must be at most 128 bytes without { or }")
        }
        guard configuration.operationTimeout > .zero, configuration.breakerCooldown >= .zero,
            configuration.pollInterval > .zero
        else {
            throw RedisCacheError(
                .invalidConfiguration,
                "operationTimeout and pollInterval must be positive, breakerCooldown not negative"
            )
        }
        guard configuration.failureThreshold >= 1, configuration.maxConcurrentRefreshes >= 1,
            configuration.refreshQueueLimit >= 1, configuration.maxDeferredEvictions >= 1
        else {
            throw RedisCacheError(
                .invalidConfiguration,
                "failureThreshold, maxConcurrentRefreshes, refreshQueueLimit and maxDeferredEvictions must be at least 1"
            )
        }
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.breaker = CircuitBreaker(
            failureThreshold: configuration.failureThreshold,
            cooldown: configuration.breakerCooldown
        )
        self.fillChannel = CacheKeyLayout.fillChannel(prefix: configuration.keyPrefix)
        self.deferred = DeferredEvictions(limit: configuration.maxDeferredEvictions)
        self.refreshes = RefreshQueue(limit: configuration.refreshQueueLimit)
    }

    /// Makes the cache of one namespace with the JSON codec.
    /// - Parameters:
    ///   - namespace: 1–64 characters of `A-Z a-z 0-9 . _ -`.
    ///   - type: The type of the cached values.
    ///   - options: TTLs, early refresh, stampede handling.
    /// - Returns: The cache. Make one per namespace and share it: callers of one instance coalesce their misses.
    public func cache<Value: Codable & Sendable>(
        namespace: String,
        of type: Value.Type = Value.self,
        options: RedisCacheOptions = RedisCacheOptions()
    ) throws -> RedisCache<Value, JSONCacheCodec<Value>> {
        try RedisCache(manager: self, namespace: namespace, codec: JSONCacheCodec<Value>(), options: options)
    }

    /// Makes the cache of one namespace with a codec of your own.
    /// - Parameters:
    ///   - namespace: 1–64 characters of `A-Z a-z 0-9 . _ -`.
    ///   - codec: How values become bytes and back.
    ///   - options: TTLs, early refresh, stampede handling.
    /// - Returns: The cache.
    public func cache<Codec: CacheCodec>(
        namespace: String,
        codec: Codec,
        options: RedisCacheOptions = RedisCacheOptions()
    ) throws -> RedisCache<Codec.Value, Codec> {
        try RedisCache(manager: self, namespace: namespace, codec: codec, options: options)
    }

    /// The circuit breaker's state: `open` while Redis is being bypassed after repeated failures.
    public var circuitState: CacheCircuitState {
        self.breaker.state
    }

    /// How many times the circuit breaker opened since this manager was created.
    public var circuitOpenings: Int {
        self.breaker.openings
    }

    /// The statistics of every namespace this manager made a cache for, sorted by namespace (this process only).
    public var statistics: [RedisCacheStatistics] {
        self.counters.withLock { Array($0.values) }.map(\.snapshot).sorted { $0.namespace < $1.namespace }
    }

    /// Evictions waiting for Redis to come back (entries, plus whole namespaces when the list overflowed).
    public var deferredEvictionCount: Int {
        self.deferred.count
    }

    /// Whether the fill announcements are being received (``run()`` is subscribed).
    public var isListening: Bool {
        self.isSubscribed.load(ordering: .relaxed)
    }

    /// Listens for fill announcements and runs background refreshes until graceful shutdown or cancellation.
    public func run() async throws {
        self.refreshes.open()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listenForFills() }
            group.addTask { await self.runRefreshes() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        self.refreshes.close()
    }

    // MARK: Counters

    func counters(for namespace: String) -> CacheCounters {
        self.counters.withLock { counters in
            if let existing = counters[namespace] { return existing }
            let created = CacheCounters(namespace: namespace)
            counters[namespace] = created
            return created
        }
    }

    // MARK: Redis calls

    /// The result of a guarded Redis call.
    enum Attempt<Result> {
        case done(Result)
        /// Redis failed, timed out, or the breaker is open: the caller falls back to the loader.
        case unavailable
    }

    /// Runs Redis work under the circuit breaker, after any deferred evictions, with failures counted.
    ///
    /// Only cancellation is thrown; every other failure is `.unavailable`.
    func perform<Result>(
        _ counters: CacheCounters,
        _ work: () async throws -> Result
    ) async throws(CancellationError) -> Attempt<Result> {
        let decision = self.breaker.decide()
        if decision == .reject {
            counters.record(.bypassed)
            return .unavailable
        }
        do {
            if self.deferred.isPending {
                try await self.flushDeferredEvictions()
            }
            let result = try await work()
            if decision == .probe {
                self.breaker.recordSuccess()
                self.logger.notice("cache circuit closed: Redis answers again")
            } else {
                self.breaker.recordSuccess()
            }
            return .done(result)
        } catch is CancellationError {
            if decision == .probe { self.breaker.abandonProbe() }
            throw CancellationError()
        } catch {
            counters.record(.error)
            if self.breaker.recordFailure() {
                self.logger.warning(
                    "cache circuit opened: Redis is bypassed",
                    metadata: [
                        "error": "\(error)", "cooldown": "\(self.configuration.breakerCooldown)",
                    ]
                )
            } else {
                self.logger.debug("cache Redis call failed", metadata: ["error": "\(error)"])
            }
            return .unavailable
        }
    }

    /// Sends one command with the cache's short timeout.
    func send(_ command: RedisCommand) async throws -> RESPValue {
        try await self.client.send(command, timeout: self.configuration.operationTimeout)
    }

    /// Sends commands in one write with the cache's short timeout; an error reply throws.
    func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        let results = try await self.client.pipeline(commands, timeout: self.configuration.operationTimeout)
        return try results.map { try $0.get() }
    }

    /// Runs a script (`EVALSHA`, then `EVAL` when the server does not know it) with the cache's short timeout.
    func eval(_ script: RedisScript, keys: [String], arguments: [any RESPArgument]) async throws -> RESPValue {
        do {
            return try await self.send(Self.evalCommand("EVALSHA", script.sha1, keys: keys, arguments: arguments))
        } catch let error as RedisError where error.serverErrorPrefix == "NOSCRIPT" {
            return try await self.send(Self.evalCommand("EVAL", script.source, keys: keys, arguments: arguments))
        }
    }

    private static func evalCommand(
        _ name: String,
        _ body: String,
        keys: [String],
        arguments: [any RESPArgument]
    ) -> RedisCommand {
        var command = RedisCommand(name, capacity: 128)
        command.append(body)
        command.append(keys.count)
        command.appendKeys(contentsOf: keys)
        for argument in arguments { argument.append(to: &command) }
        return command
    }

    // MARK: Deferred evictions

    func deferEviction(entry: String, lease: String, namespace: CacheKeyLayout, counters: CacheCounters) {
        self.deferred.add(keys: [entry, lease], namespace: namespace)
        counters.record(.evictionDeferred)
        self.logger.warning(
            "cache eviction deferred until Redis answers",
            metadata: ["namespace": "\(namespace.namespace)"]
        )
    }

    func deferNamespaceEviction(_ namespace: CacheKeyLayout, counters: CacheCounters) {
        self.deferred.add(namespace: namespace)
        counters.record(.evictionDeferred)
        self.logger.warning(
            "cache namespace eviction deferred until Redis answers",
            metadata: ["namespace": "\(namespace.namespace)"]
        )
    }

    /// Runs the deferred evictions; concurrent callers share one flush (and run another for what was deferred
    /// after it started).
    private func flushDeferredEvictions() async throws {
        try await self.deferredFlush.run("flush") {
            let batch = self.deferred.snapshot()
            guard !batch.isEmpty else { return .init(value: (), shareable: false) }
            var commands: [RedisCommand] = []
            commands.reserveCapacity(batch.keys.count + batch.namespaces.count)
            for pair in batch.keys {
                // An entry and its lease share a hash tag, so one DEL is valid on a cluster.
                var delete = RedisCommand("DEL")
                delete.appendKey(pair[0])
                delete.appendKey(pair[1])
                commands.append(delete)
            }
            for namespace in batch.namespaces {
                commands.append(RedisCommand("SET", key: namespace.epoch, CacheTokens.make()))
            }
            _ = try await self.pipeline(commands)
            self.deferred.remove(batch)
            self.logger.notice(
                "cache deferred evictions applied",
                metadata: ["entries": "\(batch.keys.count)", "namespaces": "\(batch.namespaces.count)"]
            )
            return .init(value: (), shareable: false)
        }
    }

    // MARK: Background work

    /// Queues a background refresh of `entry` unless one is queued or running; false when it cannot run
    /// (``run()`` is not running, or the queue is full).
    func scheduleRefresh(entry: String, _ job: @escaping @Sendable () async -> Void) -> Bool {
        self.refreshes.schedule(key: entry, job)
    }

    private func runRefreshes() async {
        let limit = self.configuration.maxConcurrentRefreshes
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await job in self.refreshes.jobs {
                if running >= limit {
                    await group.next()
                    running -= 1
                }
                group.addTask {
                    await job.work()
                    self.refreshes.finished(key: job.key)
                }
                running += 1
            }
        }
    }

    private func listenForFills() async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await self.client.subscribe(to: [self.fillChannel]) { subscription in
                    self.isSubscribed.store(true, ordering: .relaxed)
                    delay = .milliseconds(100)
                    // Fills announced before the subscription was active were missed: let waiters look again.
                    self.signals.signalAll()
                    for try await event in subscription {
                        switch event {
                        case .message(let message): self.signals.signal(message.payloadString)
                        case .gap: self.signals.signalAll()
                        }
                    }
                }
            } catch let error as RedisError where error.code == .shutdown {
                break
            } catch {
                if Task.isCancelled { break }
                self.logger.debug("cache fill subscription failed", metadata: ["error": "\(error)"])
            }
            self.isSubscribed.store(false, ordering: .relaxed)
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
        self.isSubscribed.store(false, ordering: .relaxed)
    }
}

/// Random tokens for leases and namespace epochs: 128 bits from the system's CSPRNG, as hex.
enum CacheTokens {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return Self.hex(high) + Self.hex(low)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
