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

    /// The catalog cache answered `hits` reads from Redis and missed `misses`.
    func cacheReads(hits: Int, misses: Int) {
        let minute = self.currentMinute
        self.state.withLock { totals in
            totals.add(hits, to: .init(minute: minute, metric: .cache, field: "hits"))
            totals.add(misses, to: .init(minute: minute, metric: .cache, field: "misses"))
        }
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
