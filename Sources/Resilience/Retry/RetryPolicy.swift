/// When and how long to wait before trying a failed call again: exponential backoff with jitter, bounded
/// attempts, and the server's `Retry-After` honoured.
///
/// The wait before retry *n* (1 for the first retry) is drawn from `0...cap(n)` ("full jitter"), where
/// `cap(n) = min(maxDelay, baseDelay × multiplier^(n-1))`. Full jitter spreads the retries of many callers
/// that failed together, so a recovering provider is not hit by synchronised waves. When the failure carries
/// a `Retry-After` longer than the drawn delay, the retry waits that long instead, as long as it is at most
/// ``maxRetryAfter``; a longer request ends the retries (trying earlier than the server asked would only fail
/// again).
///
/// Which failures are retried is decided by ``classifier`` (by default ``RetryClassification/standard(_:)``:
/// errors conforming to ``RetryableError`` say so themselves, others are not retried). Whether the *call* may
/// be repeated at all is the caller's word, given with each call (``ResiliencePipeline/run(idempotent:timeout:_:)``).
public struct RetryPolicy: Sendable {
    /// How the delay is randomised.
    public struct Jitter: Sendable, Hashable {
        private enum Base: Sendable, Hashable { case full, none }
        private let base: Base

        /// A uniformly random delay in `0...cap` (the default).
        public static let full = Self(base: .full)
        /// Exactly the cap: deterministic, but callers that failed together retry together.
        public static let none = Self(base: .none)

        var isFull: Bool { self.base == .full }
    }

    /// How many attempts a call may make in total, the first included (1 disables retries). Default 3.
    public var maxAttempts: Int
    /// The cap of the first retry's delay. Default 100 ms.
    public var baseDelay: Duration
    /// How much the cap grows with each retry (at least 1). Default 2.
    public var multiplier: Double
    /// The largest cap, whatever the retry number. Default 5 s.
    public var maxDelay: Duration
    /// How the delay is randomised. Default ``Jitter/full``.
    public var jitter: Jitter
    /// The longest `Retry-After` that is waited for; a failure asking for more is not retried. Default 30 s.
    public var maxRetryAfter: Duration
    /// Decides which failures may be retried, and reads `Retry-After`.
    public var classifier: @Sendable (any Error) -> RetryClassification

    /// Creates a policy.
    /// - Parameters:
    ///   - maxAttempts: Attempts in total, the first included (1 disables retries).
    ///   - baseDelay: The cap of the first retry's delay.
    ///   - multiplier: How much the cap grows with each retry (at least 1).
    ///   - maxDelay: The largest cap.
    ///   - jitter: How the delay is randomised.
    ///   - maxRetryAfter: The longest `Retry-After` that is waited for.
    ///   - classifier: Decides which failures may be retried.
    public init(
        maxAttempts: Int = 3,
        baseDelay: Duration = .milliseconds(100),
        multiplier: Double = 2,
        maxDelay: Duration = .seconds(5),
        jitter: Jitter = .full,
        maxRetryAfter: Duration = .seconds(30),
        classifier: @escaping @Sendable (any Error) -> RetryClassification = RetryClassification.standard
    ) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        precondition(multiplier >= 1, "multiplier must be at least 1")
        precondition(baseDelay >= .zero && maxDelay >= .zero, "delays must not be negative")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.maxRetryAfter = maxRetryAfter
        self.classifier = classifier
    }

    /// A single attempt: no retries.
    public static var never: Self { Self(maxAttempts: 1) }

    /// The upper bound of the delay before a retry: `min(maxDelay, baseDelay × multiplier^(retry-1))`.
    /// - Parameter retry: The retry's number, 1 for the first retry (the second attempt).
    /// - Returns: The cap, at nanosecond resolution.
    public func backoffCap(forRetry retry: Int) -> Duration {
        let limit = Double(self.maxDelay.nanosecondsClamped)
        var cap = Double(self.baseDelay.nanosecondsClamped)
        var step = 1
        while step < retry && cap < limit {
            cap *= self.multiplier
            step += 1
        }
        return .nanoseconds(Int64(min(cap, limit).rounded()))
    }

    /// The delay before a retry, jittered as configured (without `Retry-After`).
    /// - Parameters:
    ///   - retry: The retry's number, 1 for the first retry.
    ///   - generator: The source of randomness.
    /// - Returns: A delay in `0...backoffCap(forRetry: retry)` (exactly the cap with ``Jitter/none``).
    public func delay(forRetry retry: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let cap = self.backoffCap(forRetry: retry)
        guard self.jitter.isFull else { return cap }
        let nanoseconds = UInt64(cap.nanosecondsClamped)
        return .nanoseconds(Int64(UInt64.random(in: 0...nanoseconds, using: &generator)))
    }
}
