public import Logging
public import Metrics
import Synchronization

/// A circuit breaker: after too many failed or slow calls it refuses calls at once for a while, instead of
/// letting every caller wait for a provider that is down; then it lets a few trial calls through and closes
/// again when they succeed.
///
/// - **Closed**: calls run; each outcome is recorded in a sliding window (the last N calls, or the last N
///   seconds in one-second buckets). Once the window holds ``CircuitBreakerConfiguration/minimumNumberOfCalls``,
///   a failure rate or a slow-call rate at or over its threshold opens the breaker.
/// - **Open**: calls fail at once with ``ResilienceError/Code/circuitOpen`` (carrying the time left) without
///   running, for ``CircuitBreakerConfiguration/waitDurationInOpenState``.
/// - **Half-open**: the first ``CircuitBreakerConfiguration/permittedCallsInHalfOpenState`` callers run as
///   trials; others are refused at once. A failed trial opens it again; when every trial succeeded it closes
///   with an empty window.
///
/// Time comes from the injected clock, and moves the state only when the breaker is used: no timer or task
/// runs in the background. Each state change is logged once (warning when it opens, info otherwise) with the
/// rates that caused it, reported to `onStateChange`, and counted in metrics (see `docs/resilience.md`).
///
/// The state is per process: every instance of a service decides from its own calls.
public final class CircuitBreaker<C: Clock>: Sendable where C.Duration == Duration {
    /// Proof that a call was let through; report its outcome exactly once.
    struct Permission: Sendable {
        let generation: UInt64
        let start: C.Instant
    }

    /// The name used in logs, metrics labels and errors.
    public let name: String
    /// The settings.
    public let configuration: CircuitBreakerConfiguration
    let clock: C
    private let origin: C.Instant
    private let machine: Mutex<CircuitBreakerStateMachine>
    private let logger: Logger
    private let metrics: CircuitBreakerMetrics
    private let onStateChange: (@Sendable (CircuitBreakerTransition) -> Void)?

    /// Creates a breaker (closed).
    /// - Parameters:
    ///   - name: The name used in logs, metrics labels and errors (one per provider; keep the set bounded).
    ///   - configuration: Window, thresholds, waits.
    ///   - clock: The clock that measures call durations, the open wait and time windows.
    ///   - logger: Where state changes are logged.
    ///   - metricsFactory: Where metrics go; defaults to the bootstrapped `MetricsSystem`.
    ///   - onStateChange: Called after each state change, outside the breaker's lock.
    public init(
        name: String,
        configuration: CircuitBreakerConfiguration = .init(),
        clock: C,
        logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil,
        onStateChange: (@Sendable (CircuitBreakerTransition) -> Void)? = nil
    ) {
        self.name = name
        self.configuration = configuration
        self.clock = clock
        self.origin = clock.now
        self.machine = Mutex(CircuitBreakerStateMachine(configuration: configuration))
        self.logger = logger
        self.metrics = CircuitBreakerMetrics(name: name, factory: metricsFactory ?? MetricsSystem.factory)
        self.onStateChange = onStateChange
        self.metrics.initialState(.closed)
    }

    /// The current state (an open breaker whose wait is over reports, and becomes, half-open).
    public var state: CircuitState {
        let now = self.elapsed
        let (state, change) = self.machine.withLock { machine in
            let change = machine.refresh(now: now)
            if let change { self.metrics.stateChanged(to: change.to) }
            return (machine.state, change)
        }
        self.announce(change)
        return state
    }

    /// The counts of the sliding window (closed state; empty after each state change).
    public var windowCounts: CircuitBreakerWindowCounts {
        let now = self.elapsed
        return self.machine.withLock { $0.counts(now: now) }
    }

    /// Runs `operation` if the breaker lets it, and records its outcome and duration.
    /// - Parameters:
    ///   - isolation: The caller's isolation, inherited so `operation` need not be `Sendable`.
    ///   - operation: The protected call.
    /// - Returns: The operation's result.
    /// - Throws: ``ResilienceError/Code/circuitOpen`` without running the operation when the breaker refuses;
    ///   otherwise whatever the operation throws.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> T
    ) async throws -> T {
        let permission = try self.acquire()
        do {
            let value = try await operation()
            self.record(permission, outcome: .success)
            return value
        } catch {
            self.record(permission, error: error)
            throw error
        }
    }

    // MARK: Used by the pipeline

    /// Asks to run one call.
    /// - Throws: ``ResilienceError/Code/circuitOpen`` when refused.
    func acquire(attempts: Int = 0, underlying: (any Error)? = nil) throws(ResilienceError) -> Permission {
        let start = self.clock.now
        let now = self.origin.duration(to: start)
        let (decision, change) = self.machine.withLock { machine in
            let (decision, change) = machine.acquire(now: now)
            if let change { self.metrics.stateChanged(to: change.to) }
            return (decision, change)
        }
        self.announce(change)
        switch decision {
        case .permitted(let generation):
            return Permission(generation: generation, start: start)
        case .rejected(let retryAfter):
            self.metrics.rejectedCall()
            throw .circuitOpen(self.name, retryAfter: retryAfter, attempts: attempts, underlying: underlying)
        }
    }

    /// Records a call that threw `error`, counted as the configuration's classifier says (ignored when the
    /// caller's task was cancelled: that says nothing about the provider).
    func record(_ permission: Permission, error: any Error) {
        let outcome: CircuitBreakerStateMachine.Outcome =
            switch Task.isCancelled ? .ignored : self.configuration.classifier(error) {
            case .failure: .failure
            case .success: .success
            case .ignored: .ignored
            }
        self.record(permission, outcome: outcome)
    }

    /// Records a call's outcome; its duration is measured from the permission.
    func record(_ permission: Permission, outcome: CircuitBreakerStateMachine.Outcome) {
        let end = self.clock.now
        let duration = permission.start.duration(to: end)
        let now = self.origin.duration(to: end)
        let change = self.machine.withLock { machine in
            let change = machine.record(
                generation: permission.generation,
                outcome: outcome,
                duration: duration,
                now: now
            )
            if let change { self.metrics.stateChanged(to: change.to) }
            return change
        }
        self.metrics.recorded(outcome, slow: duration >= self.configuration.slowCallDuration)
        self.announce(change)
    }

    private var elapsed: Duration {
        self.origin.duration(to: self.clock.now)
    }

    private func announce(_ change: CircuitBreakerStateMachine.Change?) {
        guard let change else { return }
        var metadata: Logger.Metadata = [
            "resilience.name": "\(self.name)",
            "circuit.from": "\(change.from)",
            "circuit.to": "\(change.to)",
        ]
        if let counts = change.counts {
            metadata["circuit.calls"] = "\(counts.calls)"
            metadata["circuit.failure_rate"] = "\(Self.percent(counts.failureRate))"
            metadata["circuit.slow_call_rate"] = "\(Self.percent(counts.slowCallRate))"
        }
        let message: Logger.Message = "circuit breaker \(change.from) -> \(change.to)"
        if change.to == .open {
            self.logger.warning(message, metadata: metadata)
        } else {
            self.logger.info(message, metadata: metadata)
        }
        self.onStateChange?(
            CircuitBreakerTransition(name: self.name, from: change.from, to: change.to, counts: change.counts)
        )
    }

    /// A rate with one decimal, for logs.
    private static func percent(_ rate: Double) -> String {
        let tenths = Int((rate * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }
}

extension CircuitBreaker where C == ContinuousClock {
    /// Creates a breaker on the continuous clock.
    /// - Parameters:
    ///   - name: The name used in logs, metrics labels and errors.
    ///   - configuration: Window, thresholds, waits.
    ///   - logger: Where state changes are logged.
    ///   - metricsFactory: Where metrics go; defaults to the bootstrapped `MetricsSystem`.
    ///   - onStateChange: Called after each state change, outside the breaker's lock.
    public convenience init(
        name: String,
        configuration: CircuitBreakerConfiguration = .init(),
        logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil,
        onStateChange: (@Sendable (CircuitBreakerTransition) -> Void)? = nil
    ) {
        self.init(
            name: name,
            configuration: configuration,
            clock: ContinuousClock(),
            logger: logger,
            metricsFactory: metricsFactory,
            onStateChange: onStateChange
        )
    }
}
