import Synchronization

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// One instance's dashboard figures for the current and recent minutes, counted in memory as things happen and
/// written to Redis by ``DashboardRecorder`` (``MinuteTotals`` holds the state).
public final class DashboardSeries: Sendable {
    /// How a queue handler run ended, as the dashboard counts it.
    enum QueueOutcome: Sendable {
        case handled
        case failed
        case deadLettered
    }

    private let state = Mutex(MinuteTotals())
    /// The clock: milliseconds since the Unix epoch.
    let now: @Sendable () -> Int64

    /// Creates empty figures.
    /// - Parameter now: The clock, milliseconds since the Unix epoch (injectable for tests).
    public init(now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.now = now
    }

    /// The minute (since the Unix epoch) a time in milliseconds falls in.
    static func minute(ofMilliseconds milliseconds: Int64) -> Int64 {
        milliseconds >= 0 ? milliseconds / 60_000 : (milliseconds - 59_999) / 60_000
    }

    /// The current minute by this series' clock.
    var currentMinute: Int64 { Self.minute(ofMilliseconds: self.now()) }

    /// An HTTP request was answered with `status` after `duration`.
    func requestAnswered(status: Int, duration: Duration) {
        let minute = self.currentMinute
        self.state.withLock { totals in
            totals.add(1, to: .init(minute: minute, metric: .http, field: "requests"))
            if status >= 500 { totals.add(1, to: .init(minute: minute, metric: .http, field: "errors")) }
            totals.add(1, to: .init(minute: minute, metric: .http, field: "b\(LatencyBuckets.index(of: duration))"))
        }
    }

    /// An order was committed.
    func orderPlaced() {
        self.add(1, .orders, "placed")
    }

    /// A queue handler run on `topic` ended with `outcome` (`count` messages).
    func queueHandled(topic: String, _ outcome: QueueOutcome, count: Int = 1) {
        switch outcome {
        case .handled: self.add(count, .queue, "handled:\(topic)")
        case .failed: self.add(count, .queue, "failed:\(topic)")
        case .deadLettered:
            self.add(count, .queue, "failed:\(topic)")
            self.add(count, .queue, "dead:\(topic)")
        }
    }

    /// What the catalog cache's namespace did since the last sample (hits, misses, stampede waits, errors,
    /// reads that bypassed Redis).
    func cacheActivity(namespace: String, _ counts: CacheCounts) {
        let minute = self.currentMinute
        self.state.withLock { totals in
            for (field, amount) in counts.fields where amount > 0 {
                totals.add(amount, to: .init(minute: minute, metric: .cache, field: "\(field):\(namespace)"))
            }
        }
    }

    /// The cache's breaker opened `openings` times since the last sample, and was open for about
    /// `openMilliseconds`.
    func cacheBreaker(openings: Int, openMilliseconds: Int) {
        if openings > 0 { self.add(openings, .cache, "openings") }
        if openMilliseconds > 0 { self.add(openMilliseconds, .cache, "open_ms") }
    }

    private func add(_ amount: Int, _ metric: DashboardMetric, _ field: String) {
        let minute = self.currentMinute
        self.state.withLock { $0.add(amount, to: .init(minute: minute, metric: metric, field: field)) }
    }

    /// The totals to write to Redis now.
    var unwritten: [MinuteTotals.Key: Int] {
        self.state.withLock { $0.unwritten }
    }

    /// `written` reached Redis; minutes older than `retention` minutes are forgotten.
    func wrote(_ written: [MinuteTotals.Key: Int], retention: Int64) {
        let minute = self.currentMinute
        self.state.withLock { $0.wrote(written, currentMinute: minute, oldestKept: minute - retention) }
    }

    /// A write failed: minutes older than `retention` minutes are forgotten, written or not.
    func expire(retention: Int64) {
        let minute = self.currentMinute
        self.state.withLock { $0.expire(oldestKept: minute - retention) }
    }
}

/// One cache namespace's counters (since the start, or over a span).
public struct CacheCounts: Sendable, Equatable {
    public var hits = 0
    public var misses = 0
    /// Reads that waited for another caller's fill (stampede protection).
    public var waits = 0
    /// Redis errors.
    public var errors = 0
    /// Reads that went to the source without Redis (its breaker open).
    public var bypassed = 0

    /// Creates counters.
    public init(hits: Int = 0, misses: Int = 0, waits: Int = 0, errors: Int = 0, bypassed: Int = 0) {
        self.hits = hits
        self.misses = misses
        self.waits = waits
        self.errors = errors
        self.bypassed = bypassed
    }

    /// The counters by their field names in the dashboard's hashes.
    var fields: [(String, Int)] {
        [
            ("hits", self.hits), ("misses", self.misses), ("waits", self.waits), ("errors", self.errors),
            ("bypassed", self.bypassed),
        ]
    }

    /// What grew from `earlier` to these (a counter that went back, a restarted cache, counts as 0).
    func since(_ earlier: CacheCounts) -> CacheCounts {
        CacheCounts(
            hits: max(0, self.hits - earlier.hits),
            misses: max(0, self.misses - earlier.misses),
            waits: max(0, self.waits - earlier.waits),
            errors: max(0, self.errors - earlier.errors),
            bypassed: max(0, self.bypassed - earlier.bypassed)
        )
    }
}

/// The catalog cache as the dashboard samples it at each write: every namespace's counters since the start, the
/// breaker's openings since the start and whether it is open now.
public struct CacheSample: Sendable, Equatable {
    public var namespaces: [String: CacheCounts]
    public var breakerOpenings: Int
    public var breakerOpen: Bool

    /// Creates a sample.
    public init(namespaces: [String: CacheCounts], breakerOpenings: Int, breakerOpen: Bool) {
        self.namespaces = namespaces
        self.breakerOpenings = breakerOpenings
        self.breakerOpen = breakerOpen
    }
}
