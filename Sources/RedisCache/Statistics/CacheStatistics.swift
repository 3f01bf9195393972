import CoreMetrics
import Synchronization

/// Counts of one namespace of one process since it started.
///
/// These are per process (per service instance): every instance has its own. Aggregate across instances with
/// the swift-metrics counters of the same names (`cache_hits_total{namespace=...}`, ...).
public struct RedisCacheStatistics: Sendable, Hashable, Codable {
    /// The namespace.
    public var namespace: String
    /// Reads answered from Redis with a current entry (including cached "not found" answers).
    public var hits: Int
    /// Reads that found no current entry in Redis (before waiting or loading).
    public var misses: Int
    /// Calls of the loader (the source of truth), for any reason: misses, refreshes, Redis unavailable.
    public var loads: Int
    /// Loader calls that threw.
    public var loadFailures: Int
    /// Reads answered with an entry past its TTL, inside the stale-while-revalidate window, while one caller
    /// refreshed it.
    public var staleServes: Int
    /// Refreshes started before expiry (probabilistic early refresh) or for stale entries.
    public var refreshes: Int
    /// Reads that joined another read of the same key in this process instead of going to Redis themselves.
    public var coalesced: Int
    /// Misses that waited for another caller (possibly in another process) to fill the entry.
    public var waits: Int
    /// Fills refused because the entry was evicted while the value was being loaded (stale data not stored).
    public var fillsRejected: Int
    /// Reads that did not use Redis because the circuit breaker was open, and went to the loader.
    public var bypassed: Int
    /// Failed Redis calls (errors and timeouts) and entries that could not be decoded.
    public var errors: Int
    /// Evictions that could not reach Redis and were queued to run before this process reads Redis again.
    public var evictionsDeferred: Int

    /// `hits / (hits + misses)`, or nil before the first read.
    public var hitRatio: Double? {
        let reads = self.hits + self.misses
        return reads == 0 ? nil : Double(self.hits) / Double(reads)
    }

    /// Creates statistics with every count at zero.
    /// - Parameter namespace: The namespace.
    public init(namespace: String) {
        self.namespace = namespace
        self.hits = 0
        self.misses = 0
        self.loads = 0
        self.loadFailures = 0
        self.staleServes = 0
        self.refreshes = 0
        self.coalesced = 0
        self.waits = 0
        self.fillsRejected = 0
        self.bypassed = 0
        self.errors = 0
        self.evictionsDeferred = 0
    }
}

/// The live counters of one namespace: atomics for the in-process statistics, plus swift-metrics counters.
final class CacheCounters: Sendable {
    enum Event: Int, CaseIterable, Sendable {
        case hit, miss, load, loadFailure, staleServe, refresh, coalesced, wait, fillRejected, bypassed, error
        case evictionDeferred

        var metricLabel: String {
            switch self {
            case .hit: "cache_hits_total"
            case .miss: "cache_misses_total"
            case .load: "cache_loads_total"
            case .loadFailure: "cache_load_failures_total"
            case .staleServe: "cache_stale_serves_total"
            case .refresh: "cache_refreshes_total"
            case .coalesced: "cache_coalesced_total"
            case .wait: "cache_waits_total"
            case .fillRejected: "cache_fills_rejected_total"
            case .bypassed: "cache_bypassed_total"
            case .error: "cache_errors_total"
            case .evictionDeferred: "cache_evictions_deferred_total"
            }
        }
    }

    let namespace: String
    private let hits = Atomic<Int>(0)
    private let misses = Atomic<Int>(0)
    private let loads = Atomic<Int>(0)
    private let loadFailures = Atomic<Int>(0)
    private let staleServes = Atomic<Int>(0)
    private let refreshes = Atomic<Int>(0)
    private let coalesced = Atomic<Int>(0)
    private let waits = Atomic<Int>(0)
    private let fillsRejected = Atomic<Int>(0)
    private let bypassed = Atomic<Int>(0)
    private let errors = Atomic<Int>(0)
    private let evictionsDeferred = Atomic<Int>(0)
    private let metrics: [Counter]

    init(namespace: String) {
        self.namespace = namespace
        self.metrics = Event.allCases.map { event in
            Counter(label: event.metricLabel, dimensions: [("namespace", namespace)])
        }
    }

    func record(_ event: Event, count: Int = 1) {
        switch event {
        case .hit: self.hits.add(count, ordering: .relaxed)
        case .miss: self.misses.add(count, ordering: .relaxed)
        case .load: self.loads.add(count, ordering: .relaxed)
        case .loadFailure: self.loadFailures.add(count, ordering: .relaxed)
        case .staleServe: self.staleServes.add(count, ordering: .relaxed)
        case .refresh: self.refreshes.add(count, ordering: .relaxed)
        case .coalesced: self.coalesced.add(count, ordering: .relaxed)
        case .wait: self.waits.add(count, ordering: .relaxed)
        case .fillRejected: self.fillsRejected.add(count, ordering: .relaxed)
        case .bypassed: self.bypassed.add(count, ordering: .relaxed)
        case .error: self.errors.add(count, ordering: .relaxed)
        case .evictionDeferred: self.evictionsDeferred.add(count, ordering: .relaxed)
        }
        self.metrics[event.rawValue].increment(by: Int64(count))
    }

    func count(_ event: Event) -> Int {
        switch event {
        case .hit: self.hits.load(ordering: .relaxed)
        case .miss: self.misses.load(ordering: .relaxed)
        case .load: self.loads.load(ordering: .relaxed)
        case .loadFailure: self.loadFailures.load(ordering: .relaxed)
        case .staleServe: self.staleServes.load(ordering: .relaxed)
        case .refresh: self.refreshes.load(ordering: .relaxed)
        case .coalesced: self.coalesced.load(ordering: .relaxed)
        case .wait: self.waits.load(ordering: .relaxed)
        case .fillRejected: self.fillsRejected.load(ordering: .relaxed)
        case .bypassed: self.bypassed.load(ordering: .relaxed)
        case .error: self.errors.load(ordering: .relaxed)
        case .evictionDeferred: self.evictionsDeferred.load(ordering: .relaxed)
        }
    }

    var snapshot: RedisCacheStatistics {
        var statistics = RedisCacheStatistics(namespace: self.namespace)
        statistics.hits = self.count(.hit)
        statistics.misses = self.count(.miss)
        statistics.loads = self.count(.load)
        statistics.loadFailures = self.count(.loadFailure)
        statistics.staleServes = self.count(.staleServe)
        statistics.refreshes = self.count(.refresh)
        statistics.coalesced = self.count(.coalesced)
        statistics.waits = self.count(.wait)
        statistics.fillsRejected = self.count(.fillRejected)
        statistics.bypassed = self.count(.bypassed)
        statistics.errors = self.count(.error)
        statistics.evictionsDeferred = self.count(.evictionDeferred)
        return statistics
    }
}
