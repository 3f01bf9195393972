/// Exponential backoff with jitter between connection attempts, and the "fail fast while down" window.
///
/// After a failed attempt, new attempts are refused until the delay passes, so callers fail at once instead of
/// each paying a connect timeout while the server is down.
struct ReconnectBackoff: Sendable {
    let initialDelay: UInt64
    let maxDelay: UInt64
    private(set) var consecutiveFailures = 0
    private(set) var retryAt: UInt64 = 0
    private(set) var lastError: RedisError?

    init(initialDelay: Duration, maxDelay: Duration) {
        self.initialDelay = UInt64(max(1, initialDelay.nanoseconds))
        self.maxDelay = UInt64(max(1, maxDelay.nanoseconds))
    }

    /// The error to fail with now, or nil when an attempt may be made.
    func refusal(now: UInt64) -> RedisError? {
        guard self.consecutiveFailures > 0, now < self.retryAt else { return nil }
        let reason = self.lastError.map { ": \($0.message)" } ?? ""
        return RedisError(
            .connectionUnavailable,
            "Redis is unreachable, retrying shortly\(reason)",
            underlying: self.lastError
        )
    }

    /// Records a failed attempt; returns the delay before the next one.
    @discardableResult
    mutating func recordFailure(_ error: RedisError, now: UInt64, jitter: Double = Double.random(in: 0...1))
        -> UInt64
    {
        self.consecutiveFailures += 1
        self.lastError = error
        let delay = Self.delay(
            failures: self.consecutiveFailures,
            initial: self.initialDelay,
            max: self.maxDelay,
            jitter: jitter
        )
        self.retryAt = now &+ delay
        return delay
    }

    mutating func recordSuccess() {
        self.consecutiveFailures = 0
        self.retryAt = 0
        self.lastError = nil
    }

    /// `min(max, initial × 2^(failures−1))`, of which the upper half is jittered ("equal jitter").
    static func delay(failures: Int, initial: UInt64, max: UInt64, jitter: Double) -> UInt64 {
        let exponent = UInt64(Swift.min(Swift.max(failures - 1, 0), 32))
        let (scaled, overflow) = initial.multipliedReportingOverflow(by: 1 << exponent)
        let capped = overflow ? max : Swift.min(scaled, max)
        let half = capped / 2
        return half + UInt64(Double(capped - half) * Swift.min(Swift.max(jitter, 0), 1))
    }
}
