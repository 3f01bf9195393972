/// Counts over a circuit breaker's sliding window.
public struct CircuitBreakerWindowCounts: Sendable, Hashable {
    /// Recorded calls in the window.
    public var calls: Int
    /// Calls that failed.
    public var failures: Int
    /// Calls that took at least the slow-call duration.
    public var slowCalls: Int

    /// Failures in percent of the calls (0 when there are none).
    public var failureRate: Double {
        self.calls == 0 ? 0 : Double(self.failures) * 100 / Double(self.calls)
    }

    /// Creates counts.
    /// - Parameters:
    ///   - calls: Recorded calls.
    ///   - failures: Calls that failed.
    ///   - slowCalls: Calls that were slow.
    public init(calls: Int = 0, failures: Int = 0, slowCalls: Int = 0) {
        self.calls = calls
        self.failures = failures
        self.slowCalls = slowCalls
    }

    /// Slow calls in percent of the calls (0 when there are none).
    public var slowCallRate: Double {
        self.calls == 0 ? 0 : Double(self.slowCalls) * 100 / Double(self.calls)
    }

    mutating func add(failed: Bool, slow: Bool) {
        self.calls += 1
        if failed { self.failures += 1 }
        if slow { self.slowCalls += 1 }
    }

    mutating func remove(failed: Bool, slow: Bool) {
        self.calls -= 1
        if failed { self.failures -= 1 }
        if slow { self.slowCalls -= 1 }
    }
}

/// The outcomes of the last N calls, in a ring, with running totals.
struct CountWindow: Sendable {
    private struct Slot: Sendable {
        var failed: Bool
        var slow: Bool
    }

    private var slots: [Slot] = []
    private var next = 0
    private(set) var counts = CircuitBreakerWindowCounts()
    let size: Int

    init(size: Int) {
        self.size = size
        self.slots.reserveCapacity(size)
    }

    mutating func record(failed: Bool, slow: Bool) {
        let slot = Slot(failed: failed, slow: slow)
        if self.slots.count < self.size {
            self.slots.append(slot)
        } else {
            let old = self.slots[self.next]
            self.counts.remove(failed: old.failed, slow: old.slow)
            self.slots[self.next] = slot
        }
        self.counts.add(failed: failed, slow: slow)
        self.next = (self.next + 1) % self.size
    }

    mutating func reset() {
        self = CountWindow(size: self.size)
    }
}

/// The outcomes of the last N seconds, one bucket per second.
struct TimeWindow: Sendable {
    private struct Bucket: Sendable {
        var second: Int64
        var counts = CircuitBreakerWindowCounts()
    }

    private var buckets: [Bucket]
    let seconds: Int

    init(seconds: Int) {
        self.seconds = seconds
        self.buckets = Array(repeating: Bucket(second: Int64.min), count: seconds)
    }

    mutating func record(failed: Bool, slow: Bool, second: Int64) {
        let index = Int(((second % Int64(self.seconds)) + Int64(self.seconds)) % Int64(self.seconds))
        if self.buckets[index].second != second {
            self.buckets[index] = Bucket(second: second)
        }
        self.buckets[index].counts.add(failed: failed, slow: slow)
    }

    /// The totals of the buckets within `(second - seconds, second]`.
    func counts(second: Int64) -> CircuitBreakerWindowCounts {
        var total = CircuitBreakerWindowCounts()
        let oldest = second - Int64(self.seconds)
        for bucket in self.buckets where bucket.second > oldest && bucket.second <= second {
            total.calls += bucket.counts.calls
            total.failures += bucket.counts.failures
            total.slowCalls += bucket.counts.slowCalls
        }
        return total
    }

    mutating func reset() {
        self = TimeWindow(seconds: self.seconds)
    }
}

/// Either kind of window, behind one interface (two optionals rather than an enum with payloads, so that
/// recording mutates the window in place instead of copying it).
struct OutcomeWindow: Sendable {
    private var countWindow: CountWindow?
    private var timeWindow: TimeWindow?

    init(_ window: CircuitBreakerConfiguration.SlidingWindow) {
        switch window.kind {
        case .count(let size): self.countWindow = CountWindow(size: size)
        case .time(let seconds): self.timeWindow = TimeWindow(seconds: seconds)
        }
    }

    /// The most calls the window can hold, if it is count-based.
    var capacity: Int? { self.countWindow?.size }

    mutating func record(failed: Bool, slow: Bool, elapsed: Duration) {
        self.countWindow?.record(failed: failed, slow: slow)
        self.timeWindow?.record(failed: failed, slow: slow, second: Self.second(elapsed))
    }

    func counts(elapsed: Duration) -> CircuitBreakerWindowCounts {
        if let countWindow { return countWindow.counts }
        return self.timeWindow?.counts(second: Self.second(elapsed)) ?? CircuitBreakerWindowCounts()
    }

    mutating func reset() {
        self.countWindow?.reset()
        self.timeWindow?.reset()
    }

    /// The whole second of the breaker's clock that `elapsed` (time since the breaker was made) falls in.
    private static func second(_ elapsed: Duration) -> Int64 {
        let (seconds, attoseconds) = elapsed.components
        return attoseconds < 0 ? seconds - 1 : seconds
    }
}
