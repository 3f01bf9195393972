import Synchronization

/// The state of the cache's circuit breaker, as shown in statistics.
public enum CacheCircuitState: String, Sendable, Hashable, Codable {
    /// Redis is used normally.
    case closed
    /// Redis failed repeatedly: it is not called until the cool-down ends; reads go to the loader.
    case open
    /// The cool-down ended: one call is trying Redis; the others still bypass it.
    case halfOpen
}

/// A circuit breaker as a pure state machine: the caller passes the time, so tests drive it without sleeping.
///
/// `failureThreshold` consecutive failures open it for `cooldown`; after that the next call is let through as
/// a probe while everyone else is still refused; the probe's success closes it, its failure opens it again.
struct CircuitBreakerStateMachine: Sendable {
    enum Phase: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen
    }

    /// What the caller may do.
    enum Decision: Sendable, Equatable {
        /// Call Redis.
        case allow
        /// Call Redis as the probe; report the outcome with `recordSuccess`, `recordFailure` or `abandonProbe`.
        case probe
        /// Do not call Redis.
        case reject
    }

    let failureThreshold: Int
    let cooldown: Duration
    private(set) var phase: Phase = .closed(consecutiveFailures: 0)
    /// How many times it opened.
    private(set) var openings = 0

    init(failureThreshold: Int, cooldown: Duration) {
        precondition(failureThreshold >= 1, "failureThreshold must be at least 1")
        self.failureThreshold = failureThreshold
        self.cooldown = cooldown
    }

    var state: CacheCircuitState {
        switch self.phase {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    mutating func decide(now: ContinuousClock.Instant) -> Decision {
        switch self.phase {
        case .closed:
            return .allow
        case .open(let until):
            guard now >= until else { return .reject }
            self.phase = .halfOpen
            return .probe
        case .halfOpen:
            return .reject
        }
    }

    mutating func recordSuccess() {
        self.phase = .closed(consecutiveFailures: 0)
    }

    /// - Returns: True when this failure opened the breaker.
    @discardableResult
    mutating func recordFailure(now: ContinuousClock.Instant) -> Bool {
        switch self.phase {
        case .closed(let failures):
            if failures + 1 >= self.failureThreshold {
                self.open(now: now)
                return true
            }
            self.phase = .closed(consecutiveFailures: failures + 1)
            return false
        case .halfOpen:
            self.open(now: now)
            return true
        case .open:
            // A call that started before the breaker opened failed late; the cool-down already runs.
            return false
        }
    }

    /// The probe ended without an answer (its caller was cancelled): let the next caller probe.
    mutating func abandonProbe(now: ContinuousClock.Instant) {
        if case .halfOpen = self.phase {
            self.phase = .open(until: now)
        }
    }

    private mutating func open(now: ContinuousClock.Instant) {
        self.phase = .open(until: now.advanced(by: self.cooldown))
        self.openings += 1
    }
}

/// The thread-safe breaker the cache manager uses.
final class CircuitBreaker: Sendable {
    private let machine: Mutex<CircuitBreakerStateMachine>

    init(failureThreshold: Int, cooldown: Duration) {
        self.machine = Mutex(CircuitBreakerStateMachine(failureThreshold: failureThreshold, cooldown: cooldown))
    }

    func decide() -> CircuitBreakerStateMachine.Decision {
        let now = ContinuousClock.now
        return self.machine.withLock { $0.decide(now: now) }
    }

    func recordSuccess() {
        self.machine.withLock { $0.recordSuccess() }
    }

    @discardableResult
    func recordFailure() -> Bool {
        let now = ContinuousClock.now
        return self.machine.withLock { $0.recordFailure(now: now) }
    }

    func abandonProbe() {
        let now = ContinuousClock.now
        self.machine.withLock { $0.abandonProbe(now: now) }
    }

    var state: CacheCircuitState {
        self.machine.withLock { $0.state }
    }

    var openings: Int {
        self.machine.withLock { $0.openings }
    }
}
