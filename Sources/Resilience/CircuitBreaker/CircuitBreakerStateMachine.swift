/// A state change of a circuit breaker, as passed to its `onStateChange` callback and logged.
public struct CircuitBreakerTransition: Sendable, Hashable {
    /// The breaker's name.
    public var name: String
    /// The state it left.
    public var from: CircuitState
    /// The state it entered.
    public var to: CircuitState
    /// The counts that decided the change: the sliding window when it opened from closed, the trial calls
    /// when it left half-open, none when it went from open to half-open.
    public var counts: CircuitBreakerWindowCounts?
}

/// The circuit breaker's rules as a pure state machine. Time is passed in as the duration since the breaker
/// was created, so the machine does not depend on a clock and tests can drive it directly.
struct CircuitBreakerStateMachine: Sendable {
    enum Phase: Sendable, Equatable {
        case closed
        case open(until: Duration)
        /// `started` trials were let through; `succeeded` of them succeeded, `slow` of those were slow.
        case halfOpen(started: Int, succeeded: Int, slow: Int)
    }

    /// The answer to a caller asking to run.
    enum Decision: Sendable, Equatable {
        /// Run; report the outcome with this generation.
        case permitted(generation: UInt64)
        /// Do not run. `retryAfter` is the time left in the open state (nil while half-open).
        case rejected(retryAfter: Duration?)
    }

    enum Outcome: Sendable, Equatable {
        case success
        case failure
        case ignored
    }

    struct Change: Sendable, Equatable {
        var from: CircuitState
        var to: CircuitState
        var counts: CircuitBreakerWindowCounts?
    }

    private let minimumNumberOfCalls: Int
    private let failureRateThreshold: Double
    private let slowCallDuration: Duration
    private let slowCallRateThreshold: Double
    private let waitDurationInOpenState: Duration
    private let permittedCallsInHalfOpenState: Int

    private(set) var phase: Phase = .closed
    /// Changes on every transition, so outcomes of calls let through in an earlier state are not counted in
    /// the new one.
    private(set) var generation: UInt64 = 0
    private var window: OutcomeWindow

    init(configuration: CircuitBreakerConfiguration) {
        configuration.validate()
        self.window = OutcomeWindow(configuration.slidingWindow)
        self.minimumNumberOfCalls = min(configuration.minimumNumberOfCalls, self.window.capacity ?? .max)
        self.failureRateThreshold = configuration.failureRateThreshold
        self.slowCallDuration = configuration.slowCallDuration
        self.slowCallRateThreshold = configuration.slowCallRateThreshold
        self.waitDurationInOpenState = configuration.waitDurationInOpenState
        self.permittedCallsInHalfOpenState = configuration.permittedCallsInHalfOpenState
    }

    var state: CircuitState {
        switch self.phase {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    /// The counts of the sliding window now.
    func counts(now: Duration) -> CircuitBreakerWindowCounts {
        self.window.counts(elapsed: now)
    }

    /// Moves from open to half-open when the wait is over.
    /// - Returns: The change, if there was one.
    mutating func refresh(now: Duration) -> Change? {
        guard case .open(let until) = self.phase, now >= until else { return nil }
        self.phase = .halfOpen(started: 0, succeeded: 0, slow: 0)
        self.generation &+= 1
        return Change(from: .open, to: .halfOpen, counts: nil)
    }

    /// Decides whether a call may run.
    mutating func acquire(now: Duration) -> (Decision, Change?) {
        let change = self.refresh(now: now)
        switch self.phase {
        case .closed:
            return (.permitted(generation: self.generation), change)
        case .open(let until):
            return (.rejected(retryAfter: until - now), change)
        case .halfOpen(let started, let succeeded, let slow):
            guard started < self.permittedCallsInHalfOpenState else { return (.rejected(retryAfter: nil), change) }
            self.phase = .halfOpen(started: started + 1, succeeded: succeeded, slow: slow)
            return (.permitted(generation: self.generation), change)
        }
    }

    /// Records the outcome of a call that was permitted with `generation`.
    /// - Returns: The change it caused, if any.
    mutating func record(generation: UInt64, outcome: Outcome, duration: Duration, now: Duration) -> Change? {
        guard generation == self.generation else { return nil }  // let through in an earlier state
        let slow = duration >= self.slowCallDuration
        switch self.phase {
        case .closed:
            guard outcome != .ignored else { return nil }
            self.window.record(failed: outcome == .failure, slow: slow, elapsed: now)
            let counts = self.window.counts(elapsed: now)
            guard counts.calls >= self.minimumNumberOfCalls else { return nil }
            if counts.failureRate >= self.failureRateThreshold || counts.slowCallRate >= self.slowCallRateThreshold {
                return self.open(now: now, from: .closed, counts: counts)
            }
            return nil
        case .open:
            return nil
        case .halfOpen(let started, let succeeded, let slowCalls):
            switch outcome {
            case .ignored:
                // The trial told nothing: give its slot to the next caller.
                self.phase = .halfOpen(started: max(0, started - 1), succeeded: succeeded, slow: slowCalls)
                return nil
            case .failure:
                var counts = CircuitBreakerWindowCounts(calls: succeeded, failures: 0, slowCalls: slowCalls)
                counts.add(failed: true, slow: slow)
                return self.open(now: now, from: .halfOpen, counts: counts)
            case .success:
                let counts = CircuitBreakerWindowCounts(
                    calls: succeeded + 1,
                    failures: 0,
                    slowCalls: slowCalls + (slow ? 1 : 0)
                )
                guard counts.calls >= self.permittedCallsInHalfOpenState else {
                    self.phase = .halfOpen(started: started, succeeded: counts.calls, slow: counts.slowCalls)
                    return nil
                }
                if counts.slowCallRate >= self.slowCallRateThreshold {
                    return self.open(now: now, from: .halfOpen, counts: counts)
                }
                self.phase = .closed
                self.window.reset()
                self.generation &+= 1
                return Change(from: .halfOpen, to: .closed, counts: counts)
            }
        }
    }

    private mutating func open(now: Duration, from: CircuitState, counts: CircuitBreakerWindowCounts) -> Change {
        self.phase = .open(until: now + self.waitDurationInOpenState)
        self.window.reset()
        self.generation &+= 1
        return Change(from: from, to: .open, counts: counts)
    }
}
