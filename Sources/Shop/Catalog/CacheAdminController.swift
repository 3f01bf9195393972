public import Hummingbird
public import RedisCache

/// `GET /api/v1/admin/cache/stats` (admins): the catalog cache's counters and hit ratio in this instance;
/// `POST /api/v1/admin/cache/{namespace}/evict` (admins): drop one key (`{"key": ...}`) or the whole namespace (no
/// body, or no `key`), on every instance at once.
public struct CacheAdminController: Sendable {
    let instanceID: String
    let cache: CatalogCache?
    /// Evicts a key (or, with nil, the namespace) of a namespace by name; nil when there is no such namespace.
    let evict: @Sendable (String, String?) async -> RedisCacheEviction?

    /// Creates the controller.
    /// - Parameters:
    ///   - instanceID: This instance's id, shown in the answer (the counts are per instance).
    ///   - cache: The catalog cache; nil when caching is disabled.
    ///   - evict: Evicts a key, or with nil the namespace, of a namespace by name (nil: no such namespace).
    public init(
        instanceID: String,
        cache: CatalogCache?,
        evict: @escaping @Sendable (String, String?) async -> RedisCacheEviction? = { _, _ in nil }
    ) {
        self.instanceID = instanceID
        self.cache = cache
        self.evict = evict
    }

    /// The routes, to add under `/api/v1/admin/cache`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.add(middleware: RequireRole(.admin))
        routes.get("stats", use: self.stats)
        routes.post(":namespace/evict", use: self.evictEntries)
        return routes
    }

    @Sendable func stats(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        CacheStats, EmptyMeta
    > {
        guard let cache else {
            return Envelope(
                data: CacheStats(
                    instance: self.instanceID,
                    enabled: false,
                    circuit: nil,
                    circuitOpenings: 0,
                    deferredEvictions: 0,
                    totals: NamespaceStats(RedisCacheStatistics(namespace: "*")),
                    namespaces: []
                )
            )
        }
        let namespaces = cache.manager.statistics
        var totals = RedisCacheStatistics(namespace: "*")
        for statistics in namespaces {
            totals.hits += statistics.hits
            totals.misses += statistics.misses
            totals.loads += statistics.loads
            totals.loadFailures += statistics.loadFailures
            totals.staleServes += statistics.staleServes
            totals.refreshes += statistics.refreshes
            totals.coalesced += statistics.coalesced
            totals.waits += statistics.waits
            totals.fillsRejected += statistics.fillsRejected
            totals.bypassed += statistics.bypassed
            totals.errors += statistics.errors
            totals.evictionsDeferred += statistics.evictionsDeferred
        }
        return Envelope(
            data: CacheStats(
                instance: self.instanceID,
                enabled: true,
                circuit: cache.manager.circuitState.rawValue,
                circuitOpenings: cache.manager.circuitOpenings,
                deferredEvictions: cache.manager.deferredEvictionCount,
                totals: NamespaceStats(totals),
                namespaces: namespaces.map(NamespaceStats.init)
            )
        )
    }
}

extension CacheAdminController {
    struct EvictBody: Decodable {
        var key: String?
    }

    /// The answer of an eviction.
    struct Evicted: Codable, Sendable, Equatable {
        var namespace: String
        /// The key evicted; nil when the whole namespace was.
        var key: String?
        /// `evicted`: Redis has it, every instance misses from now on; `deferred`: Redis did not answer, this
        /// instance applies it before it reads Redis again (others may serve the old entries until they expire).
        var outcome: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.namespace, forKey: .namespace)
            try container.encode(self.key, forKey: .key)
            try container.encode(self.outcome, forKey: .outcome)
        }
    }

    @Sendable func evictEntries(_ request: Request, context: ShopRequestContext) async throws -> Envelope<
        Evicted, EmptyMeta
    > {
        let namespace = context.parameters.get("namespace") ?? ""
        // No body (or one without `key`): the whole namespace.
        var key: String?
        if request.headers[.contentType] != nil {
            key = try await request.decodeJSON(as: EvictBody.self, context: context).key
        }
        if let text = key {
            var validator = Validator()
            key = validator.text(text, field: "key", rule: TextRule(minLength: 1, maxLength: 512))
            try validator.throwIfInvalid()
        }
        guard let outcome = await self.evict(namespace, key) else {
            throw APIError.notFound(
                self.cache == nil
                    ? "The catalog cache is off on this instance (CACHE_ENABLED=false): nothing to evict."
                    : "No cache namespace is named \(namespace.prefix(64))."
            )
        }
        return Envelope(
            data: Evicted(namespace: namespace, key: key, outcome: outcome == .evicted ? "evicted" : "deferred")
        )
    }
}

/// The answer of `GET /api/v1/admin/cache/stats`.
public struct CacheStats: Codable, Sendable, Equatable {
    /// The instance the counts belong to (every instance counts its own reads).
    public var instance: String
    /// Whether the catalog reads through the cache (`CACHE_ENABLED`).
    public var enabled: Bool
    /// The circuit breaker: `closed`, `open` (Redis bypassed) or `halfOpen`; null when disabled.
    public var circuit: String?
    /// How many times the breaker opened since the instance started.
    public var circuitOpenings: Int
    /// Evictions waiting for Redis to answer again.
    public var deferredEvictions: Int
    /// The sums over every namespace.
    public var totals: NamespaceStats
    /// One entry per namespace.
    public var namespaces: [NamespaceStats]

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.instance, forKey: .instance)
        try container.encode(self.enabled, forKey: .enabled)
        try container.encode(self.circuit, forKey: .circuit)
        try container.encode(self.circuitOpenings, forKey: .circuitOpenings)
        try container.encode(self.deferredEvictions, forKey: .deferredEvictions)
        try container.encode(self.totals, forKey: .totals)
        try container.encode(self.namespaces, forKey: .namespaces)
    }
}

/// The counters of one namespace (or the totals), with the hit ratio.
public struct NamespaceStats: Codable, Sendable, Equatable {
    /// The namespace (`*` for the totals).
    public var namespace: String
    /// `hits / (hits + misses)`; null before the first read.
    public var hitRatio: Double?
    /// Reads answered by Redis.
    public var hits: Int
    /// Reads Redis could not answer.
    public var misses: Int
    /// Reads of PostgreSQL.
    public var loads: Int
    /// PostgreSQL reads that failed.
    public var loadFailures: Int
    /// Expired entries served while being refreshed.
    public var staleServes: Int
    /// Background refreshes (early or stale).
    public var refreshes: Int
    /// Reads that joined a read of the same key in this instance.
    public var coalesced: Int
    /// Misses that waited for another caller's fill.
    public var waits: Int
    /// Fills refused because a write evicted the entry during the load.
    public var fillsRejected: Int
    /// Reads that skipped Redis because the breaker was open.
    public var bypassed: Int
    /// Failed Redis calls and undecodable entries.
    public var errors: Int
    /// Evictions deferred because Redis did not answer.
    public var evictionsDeferred: Int

    init(_ statistics: RedisCacheStatistics) {
        self.namespace = statistics.namespace
        // Rounded to 4 places so the answer stays readable.
        self.hitRatio = statistics.hitRatio.map { ($0 * 10_000).rounded() / 10_000 }
        self.hits = statistics.hits
        self.misses = statistics.misses
        self.loads = statistics.loads
        self.loadFailures = statistics.loadFailures
        self.staleServes = statistics.staleServes
        self.refreshes = statistics.refreshes
        self.coalesced = statistics.coalesced
        self.waits = statistics.waits
        self.fillsRejected = statistics.fillsRejected
        self.bypassed = statistics.bypassed
        self.errors = statistics.errors
        self.evictionsDeferred = statistics.evictionsDeferred
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.namespace, forKey: .namespace)
        try container.encode(self.hitRatio, forKey: .hitRatio)
        try container.encode(self.hits, forKey: .hits)
        try container.encode(self.misses, forKey: .misses)
        try container.encode(self.loads, forKey: .loads)
        try container.encode(self.loadFailures, forKey: .loadFailures)
        try container.encode(self.staleServes, forKey: .staleServes)
        try container.encode(self.refreshes, forKey: .refreshes)
        try container.encode(self.coalesced, forKey: .coalesced)
        try container.encode(self.waits, forKey: .waits)
        try container.encode(self.fillsRejected, forKey: .fillsRejected)
        try container.encode(self.bypassed, forKey: .bypassed)
        try container.encode(self.errors, forKey: .errors)
        try container.encode(self.evictionsDeferred, forKey: .evictionsDeferred)
    }
}
