/// When a failed message is tried again: exponential backoff with full jitter above a floor, capped.
///
/// After attempt `n` fails (attempts count from 1), the next attempt waits a random duration between
/// ``minimumDelay`` and `min(maximumDelay, initialDelay × 2^(n-1))`. After ``maxAttempts`` failed attempts the
/// message goes to the dead letters.
public struct RetryPolicy: Sendable, Hashable {
    /// Handler runs before a message is dead-lettered (1 = no retries).
    public var maxAttempts: Int
    /// The upper bound of the first delay; it doubles with every attempt.
    public var initialDelay: Duration
    /// The cap on the upper bound.
    public var maximumDelay: Duration
    /// No retry comes sooner than this after a failure.
    public var minimumDelay: Duration

    /// Creates a policy.
    /// - Parameters:
    ///   - maxAttempts: Handler runs before a message is dead-lettered; at least 1.
    ///   - initialDelay: The upper bound of the first delay.
    ///   - maximumDelay: The cap on any delay.
    ///   - minimumDelay: The floor of every delay.
    public init(
        maxAttempts: Int = 5,
        initialDelay: Duration = .milliseconds(500),
        maximumDelay: Duration = .seconds(60),
        minimumDelay: Duration = .milliseconds(100)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = max(.zero, initialDelay)
        self.maximumDelay = max(.zero, maximumDelay)
        self.minimumDelay = max(.zero, minimumDelay)
    }

    /// Whether a message whose attempt `attempt` failed may be tried again.
    /// - Parameter attempt: The attempt that failed (1 for the first).
    /// - Returns: True when another attempt is allowed.
    public func allowsRetry(after attempt: Int) -> Bool { attempt < self.maxAttempts }

    /// The largest delay before the attempt after `attempt`.
    /// - Parameter attempt: The attempt that failed (1 for the first).
    /// - Returns: `min(maximumDelay, initialDelay × 2^(attempt-1))`, never below ``minimumDelay``.
    public func ceiling(after attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let initial = self.initialDelay.milliseconds
        let grown = initial > 0 && initial > Int64.max >> Int64(exponent) ? Int64.max : initial << Int64(exponent)
        return .milliseconds(max(min(grown, self.maximumDelay.milliseconds), self.minimumDelay.milliseconds))
    }

    /// A random delay before the attempt after `attempt`.
    /// - Parameters:
    ///   - attempt: The attempt that failed (1 for the first).
    ///   - generator: The source of randomness.
    /// - Returns: A duration between ``minimumDelay`` and ``ceiling(after:)``.
    public func delay(after attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let floor = self.minimumDelay.milliseconds
        let ceiling = self.ceiling(after: attempt).milliseconds
        return .milliseconds(Int64.random(in: floor...max(floor, ceiling), using: &generator))
    }

    /// A random delay before the attempt after `attempt`, from the system's generator.
    /// - Parameter attempt: The attempt that failed (1 for the first).
    /// - Returns: A duration between ``minimumDelay`` and ``ceiling(after:)``.
    public func delay(after attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return self.delay(after: attempt, using: &generator)
    }
}

extension Duration {
    /// Whole milliseconds, rounded up (a positive duration never becomes 0), clamped to Int64.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        let fraction = attoseconds / 1_000_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000_000
        return ms + fraction + (remainder > 0 ? 1 : 0)
    }
}
