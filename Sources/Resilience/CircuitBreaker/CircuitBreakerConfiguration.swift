/// The state of a circuit breaker.
public enum CircuitState: String, Sendable, Hashable, CustomStringConvertible {
    /// Calls run; their outcomes fill the sliding window.
    case closed
    /// Calls fail at once with ``ResilienceError/Code/circuitOpen`` until the open wait ends.
    case open
    /// A limited number of trial calls run; the others fail at once. The trials decide between closed and open.
    case halfOpen = "half_open"

    /// The value of the `resilience_circuit_state` gauge: 0 closed, 1 open, 2 half-open.
    public var gaugeValue: Int {
        switch self {
        case .closed: 0
        case .open: 1
        case .halfOpen: 2
        }
    }

    public var description: String { self.rawValue }
}

/// How the circuit breaker counts an error of the protected operation.
public enum CircuitBreakerErrorOutcome: Sendable, Hashable {
    /// The provider failed: counts towards the failure rate.
    case failure
    /// The provider answered correctly, only not what the caller hoped for (a 404): counts as a success.
    case success
    /// Says nothing about the provider (the caller was cancelled): not counted at all; a half-open trial that
    /// ends this way gives its slot to the next caller.
    case ignored
}

/// Settings of a ``CircuitBreaker``; every field has a default.
public struct CircuitBreakerConfiguration: Sendable {
    /// Which calls the rates are computed over.
    public struct SlidingWindow: Sendable, Hashable {
        enum Kind: Sendable, Hashable {
            case count(Int)
            case time(seconds: Int)
        }

        let kind: Kind

        /// The last `calls` recorded calls.
        /// - Parameter calls: The window's size (at least 1).
        public static func count(_ calls: Int) -> Self {
            precondition(calls >= 1, "a count window holds at least one call")
            return Self(kind: .count(calls))
        }

        /// The calls recorded in the last `seconds` seconds (the current second included), kept in one bucket
        /// per second of the breaker's clock.
        /// - Parameter seconds: The window's length (at least 1).
        public static func time(seconds: Int) -> Self {
            precondition(seconds >= 1, "a time window lasts at least one second")
            return Self(kind: .time(seconds: seconds))
        }
    }

    /// Which calls the rates are computed over. Default: the last 20 calls.
    public var slidingWindow: SlidingWindow = .count(20)
    /// How many calls the window must hold before the rates can open the breaker (capped at a count window's
    /// size). Default 10.
    public var minimumNumberOfCalls: Int = 10
    /// The failure rate, in percent of the window's calls, at or above which the breaker opens. Default 50.
    public var failureRateThreshold: Double = 50
    /// A call that takes at least this long counts as slow, whatever its outcome. Default 5 s.
    public var slowCallDuration: Duration = .seconds(5)
    /// The slow-call rate, in percent, at or above which the breaker opens (above 100 disables it).
    /// Default 100: it opens only when every call in the window was slow.
    public var slowCallRateThreshold: Double = 100
    /// How long the breaker stays open before letting trial calls through. Default 30 s.
    public var waitDurationInOpenState: Duration = .seconds(30)
    /// How many trial calls run while half-open; extra callers are refused at once. Any failed trial opens the
    /// breaker again; when all succeed (and their slow-call rate is under the threshold) it closes. Default 3.
    public var permittedCallsInHalfOpenState: Int = 3
    /// How an error of the operation counts. Default ``standardClassifier(_:)``: cancellation is ignored,
    /// every other error is a failure.
    public var classifier: @Sendable (any Error) -> CircuitBreakerErrorOutcome = Self.standardClassifier

    /// Creates a configuration with the defaults.
    public init() {}

    /// Cancellation is ignored, as are refusals by this library (an inner bulkhead or breaker); every other
    /// error is a failure.
    /// - Parameter error: The operation's error.
    /// - Returns: How the breaker counts it.
    @Sendable
    public static func standardClassifier(_ error: any Error) -> CircuitBreakerErrorOutcome {
        if error is CancellationError { return .ignored }
        if let error = error as? ResilienceError, error.code == .circuitOpen || error.code == .bulkheadFull {
            return .ignored
        }
        return .failure
    }

    func validate() {
        precondition(self.minimumNumberOfCalls >= 1, "minimumNumberOfCalls must be at least 1")
        precondition(self.permittedCallsInHalfOpenState >= 1, "permittedCallsInHalfOpenState must be at least 1")
        precondition(self.waitDurationInOpenState >= .zero, "waitDurationInOpenState must not be negative")
        precondition(self.failureRateThreshold > 0, "failureRateThreshold must be above 0")
        precondition(self.slowCallRateThreshold > 0, "slowCallRateThreshold must be above 0")
    }
}
