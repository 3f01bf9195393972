import NIOCore
import RedisClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A cache-aside cache of one namespace in Redis: ``get(_:ttl:load:)`` returns the cached value or loads,
/// stores and returns it (`@Cacheable`); ``evict(_:)`` drops one key after a write (`@CacheEvict`);
/// ``evictNamespace()`` drops them all in O(1).
///
/// Guarantees (see `docs/caching.md`):
/// - **No stale resurrection.** A value loaded before a concurrent ``evict(_:)`` is never stored after it: a
///   miss takes a fill token (lease) and the value is stored only if that token is still the entry's.
/// - **One load per key across processes.** Concurrent misses of one key in this process share one flight;
///   across processes one caller holds the lease and loads while the others wait (woken by its announcement)
///   for at most ``RedisCacheOptions/stampedeWait``, then load themselves.
/// - **Fail open.** Reads never fail because of Redis: errors, timeouts and an open circuit breaker fall back
///   to the loader. Evictions that cannot reach Redis are applied before this process uses Redis again.
///
/// Make one per namespace (``RedisCacheManager/cache(namespace:of:options:)``) and share it.
public struct RedisCache<Value: Sendable, Codec: CacheCodec>: Sendable where Codec.Value == Value {
    /// The manager this cache belongs to.
    public let manager: RedisCacheManager
    /// The namespace.
    public var namespace: String { self.layout.namespace }
    /// The options it was made with.
    public let options: RedisCacheOptions
    let layout: CacheKeyLayout
    let codec: Codec
    let counters: CacheCounters
    let flights: SingleFlight<Value?>
    var hooks = CacheHooks()

    init(manager: RedisCacheManager, namespace: String, codec: Codec, options: RedisCacheOptions) throws {
        guard CacheKeyLayout.isValidNamespace(namespace) else {
            throw RedisCacheError(
                .invalidConfiguration,
                "namespace must be 1-64 characters of A-Z a-z 0-9 . _ - (got \(namespace.prefix(80).debugDescription))"
            )
        }
        try options.validate()
        self.manager = manager
        self.options = options
        self.layout = CacheKeyLayout(prefix: manager.configuration.keyPrefix, namespace: namespace)
        self.codec = codec
        self.counters = manager.counters(for: namespace)
        self.flights = SingleFlight()
    }

    /// This namespace's statistics in this process.
    public var statistics: RedisCacheStatistics {
        self.counters.snapshot
    }

    /// The Redis key of a cache key (for inspection and tests).
    /// - Parameter key: The cache key.
    /// - Returns: The key the entry is stored under.
    public func redisKey(for key: String) -> String {
        self.layout.entry(key)
    }

    // MARK: Reads

    /// Returns the cached value of `key`, or calls `load`, caches what it returns and returns it.
    ///
    /// A nil from `load` ("not found") is cached for ``RedisCacheOptions/negativeTTL`` (if set) and returned
    /// as nil. Errors of `load` are thrown and nothing is cached. Redis problems are never thrown.
    /// - Parameters:
    ///   - key: The key within the namespace (any string).
    ///   - ttl: How long the loaded value is fresh; nil uses ``RedisCacheOptions/ttl``.
    ///   - load: Reads the value from the source of truth. It may also run later in the background to refresh
    ///     the entry early, so it must not depend on the calling request.
    /// - Returns: The value, or nil when `load` found nothing.
    public func get(
        _ key: String,
        ttl: Duration? = nil,
        load: @escaping @Sendable () async throws -> Value?
    ) async throws -> Value? {
        let entry = self.layout.entry(key)
        let counters = self.counters
        let joined = {
            counters.record(.coalesced)
            CacheTracing.outcome("coalesced")
        }
        return try await CacheTracing.withSpan(namespace: self.namespace) {
            try await self.flights.run(entry, onJoin: joined) {
                try await self.fetch(entry: entry, ttl: ttl ?? self.options.ttl, load: load)
            }
        }
    }

    /// Returns the cached value of `key`, or calls `load`, caches what it returns and returns it; for loaders
    /// that always produce a value (a page of a list, an aggregate).
    /// - Parameters:
    ///   - key: The key within the namespace.
    ///   - ttl: How long the loaded value is fresh; nil uses ``RedisCacheOptions/ttl``.
    ///   - load: Reads the value from the source of truth.
    /// - Returns: The value.
    public func get(
        _ key: String,
        ttl: Duration? = nil,
        load: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let loadOptional: @Sendable () async throws -> Value? = { try await load() }
        if let value = try await self.get(key, ttl: ttl, load: loadOptional) { return value }
        // A "not found" entry stored by a caller whose loader could return nil: ours cannot, so ask it.
        return try await load()
    }

    /// Reloads `key` now and stores the result, whatever is cached (for scheduled rebuilds of hot entries).
    ///
    /// It takes over the entry's lease, so a fill already in progress (which loaded earlier) is not stored
    /// after it, and a concurrent ``evict(_:)`` still wins.
    /// - Parameters:
    ///   - key: The key within the namespace.
    ///   - ttl: How long the value is fresh; nil uses ``RedisCacheOptions/ttl``.
    ///   - load: Reads the value from the source of truth.
    /// - Returns: The loaded value, and whether it was stored (false when Redis was unavailable or an
    ///   eviction raced with the load).
    @discardableResult
    public func refresh(
        _ key: String,
        ttl: Duration? = nil,
        load: @escaping @Sendable () async throws -> Value?
    ) async throws -> (value: Value?, stored: Bool) {
        let entry = self.layout.entry(key)
        let lease = self.layout.lease(ofEntry: entry)
        let token = CacheTokens.make()
        let taken = try await self.manager.perform(self.counters) {
            let replies = try await self.manager.pipeline([
                RedisCommand("GET", key: self.layout.epoch),
                self.leaseCommand(lease, token: token, onlyIfFree: false),
            ])
            return try await self.currentEpoch(from: replies[0])
        }
        guard case .done(let epoch) = taken else {
            return (try await self.loadCounted(load), false)
        }
        self.counters.record(.refresh)
        let outcome = try await self.loadAndFill(
            entry: entry,
            lease: lease,
            token: token,
            epoch: epoch,
            ttl: ttl ?? self.options.ttl,
            load: load
        )
        return (outcome.value, outcome.shareable)
    }

    // MARK: Writes

    /// Stores `value` under `key` unconditionally (last writer wins), voiding any fill in progress.
    ///
    /// Prefer ``evict(_:)`` after a write to the source of truth: two writers that each `put` what they wrote can
    /// finish in the opposite order of their commits. `put` suits values that are not derived from a shared
    /// source (computed results, tokens).
    /// - Parameters:
    ///   - key: The key within the namespace.
    ///   - value: The value; nil stores "not found" for ``RedisCacheOptions/negativeTTL``, or evicts the key when
    ///     negative caching is off.
    ///   - ttl: How long it is fresh; nil uses ``RedisCacheOptions/ttl``.
    /// - Returns: True when it was stored, false when Redis was unavailable.
    /// - Throws: What the codec throws for `value` (Redis problems are not thrown).
    @discardableResult
    public func put(_ key: String, _ value: Value?, ttl: Duration? = nil) async throws -> Bool {
        if value == nil && self.options.negativeTTL == nil {
            return await self.evict(key) == .evicted
        }
        var payload = ByteBuffer()
        if let value { try self.codec.encode(value, into: &payload) }
        let entry = self.layout.entry(key)
        let lease = self.layout.lease(ofEntry: entry)
        let attempt = try await self.manager.perform(self.counters) { () async throws -> Void in
            let epochReply = try await self.manager.send(RedisCommand("GET", key: self.layout.epoch))
            let epoch = try await self.currentEpoch(from: epochReply)
            let (bytes, lifetime) = self.entryBytes(
                payload: value == nil ? nil : payload,
                epoch: epoch,
                ttl: ttl ?? self.options.ttl,
                loadTime: .zero
            )
            _ = try await self.manager.eval(
                CacheScripts.put,
                keys: [entry, lease],
                arguments: [bytes, lifetime.roundedUpMilliseconds, self.manager.fillChannel]
            )
        }
        if case .done = attempt { return true }
        return false
    }

    /// Drops the entry of `key` and voids any fill in progress, so the next read loads from the source of truth
    /// (call it *after* the write to the source of truth committed).
    ///
    /// When Redis cannot be reached the eviction is deferred: this process applies it before it reads Redis
    /// again. Other processes may then serve the old entry until it expires or the eviction is applied.
    /// - Parameter key: The key within the namespace.
    /// - Returns: Whether it reached Redis now or was deferred.
    @discardableResult
    public func evict(_ key: String) async -> RedisCacheEviction {
        let entry = self.layout.entry(key)
        let lease = self.layout.lease(ofEntry: entry)
        let attempt = try? await self.manager.perform(self.counters) {
            var delete = RedisCommand("DEL")
            delete.appendKey(entry)
            delete.appendKey(lease)
            _ = try await self.manager.send(delete)
        }
        if case .done = attempt { return .evicted }
        self.manager.deferEviction(entry: entry, lease: lease, namespace: self.layout, counters: self.counters)
        return .deferred
    }

    /// Drops every entry of the namespace at once by replacing its epoch: O(1), one command, immediately visible
    /// to every process. The old entries stay in Redis, unreachable, until their TTL ends (see
    /// ``purgeNamespace()`` to reclaim the memory now).
    /// - Returns: Whether it reached Redis now or was deferred.
    @discardableResult
    public func evictNamespace() async -> RedisCacheEviction {
        let attempt = try? await self.manager.perform(self.counters) {
            _ = try await self.manager.send(RedisCommand("SET", key: self.layout.epoch, CacheTokens.make()))
        }
        if case .done = attempt { return .evicted }
        self.manager.deferNamespaceEviction(self.layout, counters: self.counters)
        return .deferred
    }

    /// Evicts the namespace (``evictNamespace()``), then deletes its keys with `SCAN` + `UNLINK` to reclaim their
    /// memory now. `SCAN` walks the whole keyspace of the database in steps: O(all keys), never blocking Redis
    /// for long, but not cheap on a large database.
    /// - Parameter batchSize: The `SCAN COUNT` hint.
    /// - Returns: How many keys were deleted.
    /// - Throws: ``RedisCacheError`` `.redisUnavailable` when Redis cannot be reached.
    @discardableResult
    public func purgeNamespace(batchSize: Int = 1000) async throws -> Int {
        guard case .evicted = await self.evictNamespace() else {
            throw RedisCacheError(.redisUnavailable, "Redis is unavailable; the namespace eviction is deferred")
        }
        var deleted = 0
        do {
            try await self.manager.client.scanKeys(matching: self.layout.scanPattern, count: batchSize) { keys in
                // One UNLINK per key: keys of different entries live in different cluster slots.
                let results = try await self.manager.client.pipeline(keys.map { RedisCommand("UNLINK", key: $0) })
                for result in results { deleted += try result.get().decode(as: Int.self) }
            }
        } catch let error as RedisError {
            throw RedisCacheError(.redisUnavailable, "purging the namespace failed: \(error)")
        }
        return deleted
    }

    // MARK: The read path

    typealias Outcome = SingleFlight<Value?>.Outcome

    /// What a look at Redis found.
    enum Lookup {
        /// A current entry (nil for a cached "not found").
        case hit(Value?)
        /// A current entry that should be refreshed early.
        case refreshSoon(Value?, epoch: String)
        /// An entry past its TTL but inside the stale-while-revalidate window.
        case stale(Value?, epoch: String)
        /// Nothing usable; `epoch` is the namespace's current one.
        case miss(epoch: String)
    }

    private func fetch(
        entry: String,
        ttl: Duration,
        load: @escaping @Sendable () async throws -> Value?
    ) async throws -> Outcome {
        guard case .done(let lookup) = try await self.look(entry) else {
            CacheTracing.flag("cache.redis_error")
            return Outcome(value: try await self.loadCounted(load), shareable: false)
        }
        let epoch: String
        switch lookup {
        case .hit(let value):
            self.counters.record(.hit)
            CacheTracing.outcome("hit")
            return Outcome(value: value, shareable: true)
        case .refreshSoon(let value, let refreshEpoch):
            self.counters.record(.hit)
            CacheTracing.outcome("hit")
            self.scheduleRefresh(entry: entry, epoch: refreshEpoch, ttl: ttl, load: load)
            return Outcome(value: value, shareable: true)
        case .stale(let value, let staleEpoch):
            if self.scheduleRefresh(entry: entry, epoch: staleEpoch, ttl: ttl, load: load) {
                self.counters.record(.hit)
                self.counters.record(.staleServe)
                CacheTracing.outcome("stale")
                return Outcome(value: value, shareable: true)
            }
            epoch = staleEpoch
        case .miss(let missEpoch):
            epoch = missEpoch
        }
        self.counters.record(.miss)
        CacheTracing.outcome("miss")
        return try await self.fillOrWait(entry: entry, epoch: epoch, ttl: ttl, load: load)
    }

    /// Takes the lease and loads, or waits for the caller that holds it.
    private func fillOrWait(
        entry: String,
        epoch: String,
        ttl: Duration,
        load: @escaping @Sendable () async throws -> Value?
    ) async throws -> Outcome {
        let lease = self.layout.lease(ofEntry: entry)
        let deadline = ContinuousClock.now.advanced(by: self.options.stampedeWait)
        var epoch = epoch
        var waited = false
        while true {
            let token = CacheTokens.make()
            // Armed before the lease attempt, so a fill announced between that and the wait is not missed.
            let ticket = self.manager.signals.arm(entry)
            // The entry is read after the lease in the same round trip: a fill that completed between our last
            // look and this attempt frees the lease, and loading again then would be a second load for nothing.
            let taken = try await self.manager.perform(self.counters) {
                let replies = try await self.manager.pipeline([
                    self.leaseCommand(lease, token: token, onlyIfFree: true),
                    RedisCommand("GET", key: self.layout.epoch),
                    RedisCommand("GET", key: entry),
                ])
                let leased = try replies[0].decode(as: Bool.self)
                let epoch = try await self.currentEpoch(from: replies[1])
                return (leased, self.classify(replies[2], epoch: epoch, countingErrors: false))
            }
            switch taken {
            case .unavailable:
                self.manager.signals.disarm(ticket)
                return Outcome(value: try await self.loadCounted(load), shareable: false)
            case .done((true, .hit(let value))), .done((true, .refreshSoon(let value, _))):
                self.manager.signals.disarm(ticket)
                _ = try await self.releaseLease(lease, token: token)
                return Outcome(value: value, shareable: true)
            case .done((true, .stale(_, let currentEpoch))), .done((true, .miss(let currentEpoch))):
                self.manager.signals.disarm(ticket)
                epoch = currentEpoch
                return try await self.loadAndFill(
                    entry: entry,
                    lease: lease,
                    token: token,
                    epoch: epoch,
                    ttl: ttl,
                    load: load
                )
            case .done((false, _)):
                break
            }
            // Another caller is loading it: wait for its fill.
            if !waited {
                waited = true
                self.counters.record(.wait)
                CacheTracing.flag("cache.waited")
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                self.manager.signals.disarm(ticket)
                // It takes too long (or its loader died): load without storing; the lease is not ours.
                return Outcome(value: try await self.loadCounted(load), shareable: false)
            }
            await self.manager.signals.wait(ticket, upTo: min(self.manager.configuration.pollInterval, remaining))
            try Task.checkCancellation()
            guard case .done(let lookup) = try await self.look(entry) else {
                return Outcome(value: try await self.loadCounted(load), shareable: false)
            }
            switch lookup {
            case .hit(let value), .refreshSoon(let value, _):
                return Outcome(value: value, shareable: true)
            case .stale(_, let currentEpoch), .miss(let currentEpoch):
                epoch = currentEpoch
            }
        }
    }

    /// Calls the loader, stores the result if the lease is still ours, and announces the fill.
    private func loadAndFill(
        entry: String,
        lease: String,
        token: String,
        epoch: String,
        ttl: Duration,
        load: @escaping @Sendable () async throws -> Value?
    ) async throws -> Outcome {
        let started = ContinuousClock.now
        let value: Value?
        do {
            value = try await self.loadCounted(load)
        } catch {
            _ = try? await self.releaseLease(lease, token: token)
            throw error
        }
        let loadTime = started.duration(to: .now)
        if let afterLoad = self.hooks.afterLoad { await afterLoad(entry) }

        let encoded: (ByteBuffer, Duration)?
        do {
            encoded = try self.encodeEntry(value, epoch: epoch, ttl: ttl, loadTime: loadTime)
        } catch {
            self.counters.record(.error)
            self.manager.logger.error(
                "cache value could not be encoded",
                metadata: ["namespace": "\(self.namespace)", "error": "\(error)"]
            )
            encoded = nil
        }
        guard let (bytes, lifetime) = encoded else {
            // Nothing to store ("not found" without negative caching): give the lease back. The value may be
            // shared if the lease was still ours, which proves no eviction happened during the load.
            let released = try await self.releaseLease(lease, token: token)
            return Outcome(value: value, shareable: released == true)
        }
        let stored = try await self.manager.perform(self.counters) {
            try await self.manager.eval(
                CacheScripts.fill,
                keys: [entry, lease],
                arguments: [token, bytes, lifetime.roundedUpMilliseconds, self.manager.fillChannel]
            ).decode(as: Bool.self)
        }
        switch stored {
        case .done(true):
            return Outcome(value: value, shareable: true)
        case .done(false):
            // An eviction (or a refresh) took the lease while we loaded: what we loaded may predate a write.
            self.counters.record(.fillRejected)
            return Outcome(value: value, shareable: false)
        case .unavailable:
            return Outcome(value: value, shareable: false)
        }
    }

    /// Looks at the entry and the namespace epoch in one round trip.
    func look(_ entry: String) async throws(CancellationError) -> RedisCacheManager.Attempt<Lookup> {
        let attempt = try await self.manager.perform(self.counters) {
            let replies = try await self.manager.pipeline([
                RedisCommand("GET", key: self.layout.epoch),
                RedisCommand("GET", key: entry),
            ])
            return (try await self.currentEpoch(from: replies[0]), replies[1])
        }
        guard case .done(let (epoch, stored)) = attempt else { return .unavailable }
        return .done(self.classify(stored, epoch: epoch))
    }

    /// - Parameter countingErrors: False for a second look in one read (the lease attempt), so an entry that does
    ///   not decode counts once.
    func classify(_ stored: RESPValue, epoch: String, countingErrors: Bool = true) -> Lookup {
        guard let bytes = stored.bytesValue else { return .miss(epoch: epoch) }
        guard let (header, payload) = CacheEntryHeader.parse(bytes) else {
            if countingErrors { self.counters.record(.error) }
            return .miss(epoch: epoch)
        }
        guard header.epoch == epoch else { return .miss(epoch: epoch) }
        let value: Value?
        if header.isNegative {
            value = nil
        } else {
            do {
                value = try self.codec.decode(from: payload)
            } catch {
                if countingErrors { self.counters.record(.error) }
                return .miss(epoch: epoch)
            }
        }
        let now = CacheTime.nowMilliseconds()
        if now >= header.expiresAtMilliseconds {
            return .stale(value, epoch: epoch)
        }
        if CacheTime.shouldRefreshEarly(
            now: now,
            expiresAt: header.expiresAtMilliseconds,
            loadMilliseconds: header.loadMilliseconds,
            beta: self.options.earlyRefreshBeta
        ) {
            return .refreshSoon(value, epoch: epoch)
        }
        return .hit(value)
    }

    // MARK: Helpers

    /// The current epoch from a `GET` reply, creating it when the namespace has none yet.
    private func currentEpoch(from reply: RESPValue) async throws -> String {
        if let epoch = try reply.decode(as: String?.self) { return epoch }
        return try await self.manager.eval(
            CacheScripts.ensureEpoch,
            keys: [self.layout.epoch],
            arguments: [CacheTokens.make()]
        ).decode(as: String.self)
    }

    private func leaseCommand(_ lease: String, token: String, onlyIfFree: Bool) -> RedisCommand {
        var command = RedisCommand("SET", capacity: 128)
        command.appendKey(lease)
        command.append(token)
        if onlyIfFree { command.append("NX") }
        command.append("PX")
        command.append(max(1, self.options.leaseTTL.roundedUpMilliseconds))
        return command
    }

    /// Gives a lease back if it is still ours; nil when Redis was unavailable.
    private func releaseLease(_ lease: String, token: String) async throws -> Bool? {
        let attempt = try await self.manager.perform(self.counters) {
            try await self.manager.eval(CacheScripts.releaseLease, keys: [lease], arguments: [token]).decode(
                as: Bool.self
            )
        }
        if case .done(let released) = attempt { return released }
        return nil
    }

    private func loadCounted(_ load: @Sendable () async throws -> Value?) async throws -> Value? {
        self.counters.record(.load)
        do {
            return try await load()
        } catch {
            self.counters.record(.loadFailure)
            throw error
        }
    }

    /// The stored form of a value and how long Redis keeps it; nil for "not found" when it is not cached.
    private func encodeEntry(
        _ value: Value?,
        epoch: String,
        ttl: Duration,
        loadTime: Duration
    ) throws -> (ByteBuffer, Duration)? {
        guard let value else {
            if self.options.negativeTTL == nil { return nil }
            return self.entryBytes(payload: nil, epoch: epoch, ttl: ttl, loadTime: loadTime)
        }
        var payload = ByteBuffer()
        try self.codec.encode(value, into: &payload)
        return self.entryBytes(payload: payload, epoch: epoch, ttl: ttl, loadTime: loadTime)
    }

    /// Header plus encoded value (nil: a "not found" entry, which needs a negative TTL), and the key's lifetime.
    private func entryBytes(
        payload: ByteBuffer?,
        epoch: String,
        ttl: Duration,
        loadTime: Duration
    ) -> (ByteBuffer, Duration) {
        let fresh: Duration
        let lifetime: Duration
        if payload == nil {
            fresh = CacheTime.jittered(self.options.negativeTTL ?? ttl, by: self.options.ttlJitter)
            lifetime = fresh
        } else {
            fresh = CacheTime.jittered(ttl, by: self.options.ttlJitter)
            lifetime = fresh + self.options.staleWhileRevalidate
        }
        let header = CacheEntryHeader(
            epoch: epoch,
            isNegative: payload == nil,
            expiresAtMilliseconds: CacheTime.nowMilliseconds() + Int64(fresh.roundedUpMilliseconds),
            loadMilliseconds: Int64(loadTime.roundedUpMilliseconds)
        )
        var buffer = ByteBuffer()
        buffer.reserveCapacity(96 + (payload?.readableBytes ?? 0))
        header.write(to: &buffer)
        if let payload { buffer.writeImmutableBuffer(payload) }
        return (buffer, lifetime)
    }

    @discardableResult
    private func scheduleRefresh(
        entry: String,
        epoch: String,
        ttl: Duration,
        load: @escaping @Sendable () async throws -> Value?
    ) -> Bool {
        self.manager.scheduleRefresh(entry: entry) {
            await self.refreshInBackground(entry: entry, epoch: epoch, ttl: ttl, load: load)
        }
    }

    /// A background refresh: only if no one else is loading the entry (in any process).
    private func refreshInBackground(
        entry: String,
        epoch: String,
        ttl: Duration,
        load: @escaping @Sendable () async throws -> Value?
    ) async {
        let lease = self.layout.lease(ofEntry: entry)
        let token = CacheTokens.make()
        do {
            let taken = try await self.manager.perform(self.counters) {
                try await self.manager.send(self.leaseCommand(lease, token: token, onlyIfFree: true)).decode(
                    as: Bool.self
                )
            }
            guard case .done(true) = taken else { return }
            self.counters.record(.refresh)
            _ = try await self.loadAndFill(entry: entry, lease: lease, token: token, epoch: epoch, ttl: ttl, load: load)
        } catch {
            self.manager.logger.warning(
                "cache background refresh failed",
                metadata: ["namespace": "\(self.namespace)", "error": "\(error)"]
            )
        }
    }
}

/// Whether an eviction reached Redis.
public enum RedisCacheEviction: Sendable, Hashable {
    /// Redis applied it.
    case evicted
    /// Redis could not be reached; this process applies it before it uses Redis again.
    case deferred
}

/// Test hooks: code run at chosen points of the read path, to force races deterministically.
struct CacheHooks: Sendable {
    /// Runs after the loader returned and before the value is stored (with the entry key).
    var afterLoad: (@Sendable (String) async -> Void)?
}
