/// The figures the console's dashboard charts, one Redis hash per figure per minute.
public enum DashboardMetric: String, CaseIterable, Codable, Sendable {
    /// Fields `requests`, `errors` (answers 500 and above) and `b<i>`, the count of latency bucket `i`
    /// (``LatencyBuckets``).
    case http
    /// Field `placed`: orders committed.
    case orders
    /// Fields `handled:<topic>`, `failed:<topic>` (handler runs that failed and will be retried) and
    /// `dead:<topic>` (messages dead-lettered).
    case queue
    /// The catalog cache, per namespace: `hits:<ns>`, `misses:<ns>`, `waits:<ns>` (stampede waits), `errors:<ns>`
    /// (Redis errors) and `bypassed:<ns>` (reads that skipped Redis, its breaker open); and the breaker's
    /// `openings` and `open_ms` (milliseconds it was seen open at the writes).
    case cache
}

/// One instance's totals per minute, figure and field, as a pure state machine: what has changed since the last
/// write to Redis, and what can be forgotten.
///
/// Writes are idempotent: an instance writes its own totals of a minute (`HSET <instance>|<field> <total>`), never
/// increments, so a write retried after a timeout cannot count twice, and readers add the instances up. A total is
/// kept while its minute is current or the one before, or while it has not been written, and forgotten once its
/// minute is older than the retention even if it never was.
struct MinuteTotals: Sendable {
    /// One total: the minute (since the Unix epoch), the figure and the field.
    struct Key: Hashable, Sendable {
        var minute: Int64
        var metric: DashboardMetric
        var field: String
    }

    private(set) var totals: [Key: Int] = [:]
    private var changed: Set<Key> = []

    /// Adds `amount` to a total.
    mutating func add(_ amount: Int, to key: Key) {
        guard amount != 0 else { return }
        self.totals[key, default: 0] += amount
        self.changed.insert(key)
    }

    /// The totals changed since they were last written, to write now.
    var unwritten: [Key: Int] {
        var pending: [Key: Int] = [:]
        for key in self.changed { pending[key] = self.totals[key] }
        return pending
    }

    /// `written` reached Redis. A total that grew meanwhile stays to be written; minutes before the previous one are
    /// forgotten once written, and any older than `oldestKept` in any case.
    mutating func wrote(_ written: [Key: Int], currentMinute: Int64, oldestKept: Int64) {
        for (key, value) in written where self.totals[key] == value {
            self.changed.remove(key)
        }
        let changed = self.changed
        self.forget { key in
            key.minute < oldestKept || (key.minute < currentMinute - 1 && !changed.contains(key))
        }
    }

    /// Forgets minutes older than `oldestKept`, written or not (a long Redis outage must not grow memory).
    mutating func expire(oldestKept: Int64) {
        self.forget { $0.minute < oldestKept }
    }

    private mutating func forget(where condition: (Key) -> Bool) {
        for key in Array(self.totals.keys) where condition(key) {
            self.totals[key] = nil
            self.changed.remove(key)
        }
    }
}
