import CoreMetrics

/// A circuit breaker's metrics, labelled with its name.
///
/// - `resilience_circuit_state{name}`: gauge, 0 closed, 1 open, 2 half-open
/// - `resilience_circuit_calls_total{name,outcome}`: recorded outcomes, `success|failure|ignored`
/// - `resilience_circuit_slow_calls_total{name}`: recorded calls at or over the slow-call duration
/// - `resilience_circuit_rejected_total{name}`: calls refused without running
/// - `resilience_circuit_transitions_total{name,to}`: state changes, by the state entered
struct CircuitBreakerMetrics: Sendable {
    private let state: Gauge
    private let successes: Counter
    private let failures: Counter
    private let ignored: Counter
    private let slow: Counter
    private let rejected: Counter
    private let toClosed: Counter
    private let toOpen: Counter
    private let toHalfOpen: Counter

    init(name: String, factory: any MetricsFactory) {
        let label = [("name", name)]
        self.state = Gauge(label: "resilience_circuit_state", dimensions: label, factory: factory)
        let calls = "resilience_circuit_calls_total"
        self.successes = Counter(label: calls, dimensions: label + [("outcome", "success")], factory: factory)
        self.failures = Counter(label: calls, dimensions: label + [("outcome", "failure")], factory: factory)
        self.ignored = Counter(label: calls, dimensions: label + [("outcome", "ignored")], factory: factory)
        self.slow = Counter(label: "resilience_circuit_slow_calls_total", dimensions: label, factory: factory)
        self.rejected = Counter(label: "resilience_circuit_rejected_total", dimensions: label, factory: factory)
        let transitions = "resilience_circuit_transitions_total"
        self.toClosed = Counter(label: transitions, dimensions: label + [("to", "closed")], factory: factory)
        self.toOpen = Counter(label: transitions, dimensions: label + [("to", "open")], factory: factory)
        self.toHalfOpen = Counter(label: transitions, dimensions: label + [("to", "half_open")], factory: factory)
    }

    func stateChanged(to state: CircuitState) {
        self.state.record(state.gaugeValue)
        switch state {
        case .closed: self.toClosed.increment()
        case .open: self.toOpen.increment()
        case .halfOpen: self.toHalfOpen.increment()
        }
    }

    func initialState(_ state: CircuitState) {
        self.state.record(state.gaugeValue)
    }

    func recorded(_ outcome: CircuitBreakerStateMachine.Outcome, slow: Bool) {
        switch outcome {
        case .success: self.successes.increment()
        case .failure: self.failures.increment()
        case .ignored: self.ignored.increment()
        }
        if slow && outcome != .ignored { self.slow.increment() }
    }

    func rejectedCall() { self.rejected.increment() }
}

/// A bulkhead's metrics, labelled with its name.
///
/// - `resilience_bulkhead_in_use{name}`, `resilience_bulkhead_waiting{name}`: gauges
/// - `resilience_bulkhead_rejected_total{name}`: calls refused (queue full or waited too long)
struct BulkheadMetrics: Sendable {
    private let inUse: Gauge
    private let waiting: Gauge
    private let rejected: Counter

    init(name: String, factory: any MetricsFactory) {
        let label = [("name", name)]
        self.inUse = Gauge(label: "resilience_bulkhead_in_use", dimensions: label, factory: factory)
        self.waiting = Gauge(label: "resilience_bulkhead_waiting", dimensions: label, factory: factory)
        self.rejected = Counter(label: "resilience_bulkhead_rejected_total", dimensions: label, factory: factory)
    }

    func occupancy(inUse: Int, waiting: Int) {
        self.inUse.record(inUse)
        self.waiting.record(waiting)
    }

    func rejectedCall() { self.rejected.increment() }
}

/// A pipeline's metrics, labelled with its name.
///
/// - `resilience_calls_total{name,outcome}`: whole calls, by how they ended (see ``PipelineOutcome``)
/// - `resilience_retries_total{name}`: retries started (after the backoff wait)
/// - `resilience_call_duration_seconds{name}`: timer over whole calls, retries and waits included
struct PipelineMetrics: Sendable {
    private let calls: [PipelineOutcome: Counter]
    private let retries: Counter
    private let duration: Timer

    init(name: String, factory: any MetricsFactory) {
        var calls: [PipelineOutcome: Counter] = [:]
        for outcome in PipelineOutcome.allCases {
            calls[outcome] = Counter(
                label: "resilience_calls_total",
                dimensions: [("name", name), ("outcome", outcome.rawValue)],
                factory: factory
            )
        }
        self.calls = calls
        self.retries = Counter(label: "resilience_retries_total", dimensions: [("name", name)], factory: factory)
        self.duration = Timer(label: "resilience_call_duration_seconds", dimensions: [("name", name)], factory: factory)
    }

    func finished(_ outcome: PipelineOutcome, duration: Duration) {
        self.calls[outcome]?.increment()
        self.duration.record(duration: duration)
    }

    func retried() { self.retries.increment() }
}

/// How a pipeline call ended: the `outcome` label of `resilience_calls_total`.
enum PipelineOutcome: String, Sendable, Hashable, CaseIterable {
    case success
    /// The operation's own error (after any retries).
    case failure
    case attemptTimedOut = "attempt_timed_out"
    case deadlineExceeded = "deadline_exceeded"
    case circuitOpen = "circuit_open"
    case bulkheadFull = "bulkhead_full"
    case cancelled

    init(error: any Error) {
        if let error = error as? ResilienceError {
            switch error.code {
            case .attemptTimedOut: self = .attemptTimedOut
            case .deadlineExceeded: self = .deadlineExceeded
            case .circuitOpen: self = .circuitOpen
            case .bulkheadFull: self = .bulkheadFull
            default: self = .failure
            }
        } else if error is CancellationError {
            self = .cancelled
        } else {
            self = .failure
        }
    }
}
