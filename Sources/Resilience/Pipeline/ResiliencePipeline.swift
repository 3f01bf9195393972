public import Logging
public import Metrics
import Tracing

/// Retries, timeouts, a circuit breaker and a bulkhead around one kind of outbound call, applied in a fixed
/// order:
///
/// 1. **Deadline**: the call's overall ``timeout`` starts when ``run(idempotent:timeout:_:)`` is called and
///    spans everything below: the bulkhead wait, every attempt and every backoff.
/// 2. **Bulkhead**: one slot per call, held across its retries and backoffs (so retries never multiply the
///    concurrency the bulkhead allows).
/// 3. **Per attempt**: the circuit breaker is asked first; a refusal ends the call at once with
///    ``ResilienceError/Code/circuitOpen`` and stops the retries. Then the operation runs under the
///    per-attempt timeout (cut to the time left before the deadline) and its outcome and duration are
///    recorded by the breaker.
/// 4. **Retry**: a failed attempt is retried when attempts remain, the ``retry`` policy's classifier calls the
///    error retryable, and the call is idempotent (or the error says the request certainly had no effect).
///    The wait is the policy's jittered backoff, or the server's `Retry-After` when longer (up to
///    ``RetryPolicy/maxRetryAfter``). A wait that would end at or after the deadline is not started: the call
///    fails with ``ResilienceError/Code/deadlineExceeded`` at once.
///
/// When retries run out, the last attempt's error is thrown unchanged. Errors raised by the pipeline itself
/// are ``ResilienceError``s.
///
/// ```swift
/// let pipeline = ResiliencePipeline(
///     name: "rates-provider",
///     retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(200)),
///     attemptTimeout: .seconds(2),
///     timeout: .seconds(5),
///     circuitBreaker: CircuitBreaker(name: "rates-provider", logger: logger),
///     bulkhead: Bulkhead(name: "rates-provider", configuration: .init(maxConcurrentCalls: 10)),
///     logger: logger
/// )
/// let rates = try await pipeline.run(idempotent: true) { attempt in try await provider.fetchRates() }
/// ```
public struct ResiliencePipeline<C: Clock>: Sendable where C.Duration == Duration {
    /// The name used in logs, metrics labels and errors.
    public let name: String
    /// When and how failed attempts are retried.
    public let retry: RetryPolicy
    /// The longest one attempt may run; nil for no per-attempt limit.
    public let attemptTimeout: Duration?
    /// The longest a whole call may take, waits and retries included; nil for no deadline.
    public let timeout: Duration?
    /// The breaker every attempt goes through, if any.
    public let circuitBreaker: CircuitBreaker<C>?
    /// The concurrency limit every call goes through, if any.
    public let bulkhead: Bulkhead<C>?
    let clock: C
    private let random: RandomSource
    private let logger: Logger
    private let metrics: PipelineMetrics

    /// Creates a pipeline. The breaker and bulkhead are shared objects: give several pipelines the same ones to
    /// make them count together (for example one breaker per provider host).
    /// - Parameters:
    ///   - name: The name used in logs, metrics labels and errors (keep the set of names bounded).
    ///   - retry: When and how failed attempts are retried; ``RetryPolicy/never`` for no retries.
    ///   - attemptTimeout: The longest one attempt may run.
    ///   - timeout: The longest a whole call may take, waits and retries included.
    ///   - circuitBreaker: The breaker every attempt goes through.
    ///   - bulkhead: The concurrency limit every call goes through.
    ///   - clock: The clock for timeouts, deadlines and backoff waits (the breaker's and bulkhead's too).
    ///   - random: Where the jitter comes from.
    ///   - logger: Where retries are logged (at debug level).
    ///   - metricsFactory: Where metrics go; defaults to the bootstrapped `MetricsSystem`.
    public init(
        name: String,
        retry: RetryPolicy = .init(),
        attemptTimeout: Duration? = nil,
        timeout: Duration? = nil,
        circuitBreaker: CircuitBreaker<C>? = nil,
        bulkhead: Bulkhead<C>? = nil,
        clock: C,
        random: RandomSource = .system,
        logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        precondition(attemptTimeout.map { $0 > .zero } ?? true, "attemptTimeout must be positive")
        precondition(timeout.map { $0 > .zero } ?? true, "timeout must be positive")
        self.name = name
        self.retry = retry
        self.attemptTimeout = attemptTimeout
        self.timeout = timeout
        self.circuitBreaker = circuitBreaker
        self.bulkhead = bulkhead
        self.clock = clock
        self.random = random
        self.logger = logger
        self.metrics = PipelineMetrics(name: name, factory: metricsFactory ?? MetricsSystem.factory)
    }

    /// Runs `operation` through the pipeline.
    /// - Parameters:
    ///   - idempotent: Whether running the operation twice has the same effect as once (a GET, a PUT, a POST
    ///     with an idempotency key). A non-idempotent call is retried only after errors that say the request
    ///     certainly had no effect (``RetryableError/wasNotProcessed``).
    ///   - timeout: This call's overall timeout, instead of the pipeline's ``timeout``.
    ///   - operation: The call; it receives the attempt's number (1 for the first). It runs in a child task
    ///     when a timeout applies, and must end promptly when cancelled.
    /// - Returns: The operation's result.
    /// - Throws: A ``ResilienceError`` when the pipeline refused or cut the call; the last attempt's error when
    ///   it was not retried (any more); `CancellationError` when the caller was cancelled.
    public func run<T: Sendable>(
        idempotent: Bool,
        timeout: Duration? = nil,
        _ operation: @escaping @Sendable (_ attempt: Int) async throws -> T
    ) async throws -> T {
        let start = self.clock.now
        let timeout = timeout ?? self.timeout
        let deadline = timeout.map { start.advanced(by: $0) }
        let span = startSpan(self.name, ofKind: .internal)
        defer { span.end() }
        do {
            let value = try await ServiceContext.withValue(span.context) {
                try await self.admit(deadline: deadline, timeout: timeout) {
                    try await self.attempts(
                        idempotent: idempotent,
                        deadline: deadline,
                        timeout: timeout,
                        span: span,
                        operation
                    )
                }
            }
            self.metrics.finished(.success, duration: start.duration(to: self.clock.now))
            return value
        } catch {
            let outcome = Task.isCancelled ? .cancelled : PipelineOutcome(error: error)
            self.metrics.finished(outcome, duration: start.duration(to: self.clock.now))
            if span.isRecording, let error = error as? ResilienceError {
                // Decisions of the pipeline itself (breaker open, bulkhead full, deadline) as an event too.
                span.addEvent(SpanEvent(name: "resilience.\(error.code)"))
            }
            span.recordError(error)
            throw error
        }
    }

    /// Runs `body` holding a bulkhead slot, if there is a bulkhead.
    private func admit<T: Sendable>(
        deadline: C.Instant?,
        timeout: Duration?,
        _ body: () async throws -> T
    ) async throws -> T {
        guard let bulkhead = self.bulkhead else { return try await body() }
        switch try await bulkhead.acquire(deadline: deadline) {
        case .acquired:
            break
        case .full:
            throw ResilienceError.bulkheadFull(bulkhead.name)
        case .deadlinePassed:
            throw ResilienceError.deadlineExceeded(self.name, timeout: timeout ?? .zero, attempts: 0)
        }
        defer { bulkhead.release() }
        return try await body()
    }

    private func attempts<T: Sendable>(
        idempotent: Bool,
        deadline: C.Instant?,
        timeout: Duration?,
        span: any Span,
        _ operation: @escaping @Sendable (_ attempt: Int) async throws -> T
    ) async throws -> T {
        var generator = self.random.generator
        var lastError: (any Error)?
        var attempt = 0
        defer { if span.isRecording { span.attributes["resilience.attempts"] = attempt } }
        while true {
            attempt += 1
            if let deadline, self.clock.now >= deadline {
                // Only the first attempt can get here (a retry's wait never ends past the deadline): the
                // bulkhead let it in just as the deadline passed.
                throw ResilienceError.deadlineExceeded(
                    self.name,
                    timeout: timeout ?? .zero,
                    attempts: attempt - 1,
                    underlying: lastError
                )
            }
            let permission = try self.circuitBreaker?.acquire(attempts: attempt - 1, underlying: lastError)
            let error: any Error
            do {
                let value = try await self.attempt(attempt, deadline: deadline, timeout: timeout, operation)
                if let permission { self.circuitBreaker?.record(permission, outcome: .success) }
                return value
            } catch let caught {
                error = caught
            }
            if let permission { self.circuitBreaker?.record(permission, error: error) }
            if Task.isCancelled { throw error }
            lastError = error

            // Should it be retried?
            guard attempt < self.retry.maxAttempts else { throw error }
            if let error = error as? ResilienceError, error.code == .deadlineExceeded { throw error }
            let classification = self.retry.classifier(error)
            guard classification.isRetryable, idempotent || classification.wasNotProcessed else { throw error }
            var delay = self.retry.delay(forRetry: attempt, using: &generator)
            if let retryAfter = classification.retryAfter {
                // Trying earlier than the server asked would fail again; asking for too long ends the retries.
                guard retryAfter <= self.retry.maxRetryAfter else { throw error }
                delay = max(delay, retryAfter)
            }
            if let deadline, self.clock.now.advanced(by: delay) >= deadline {
                throw ResilienceError.deadlineExceeded(
                    self.name,
                    timeout: timeout ?? .zero,
                    attempts: attempt,
                    underlying: error
                )
            }
            self.logger.debug(
                "retrying after a failed attempt",
                metadata: [
                    "resilience.name": "\(self.name)",
                    "resilience.attempt": "\(attempt)",
                    "resilience.delay": "\(delay.formatted)",
                    "resilience.error_type": "\(String(reflecting: type(of: error)))",
                ]
            )
            self.metrics.retried()
            if span.isRecording {
                var attributes = SpanAttributes()
                attributes["resilience.attempt"] = attempt
                attributes["resilience.delay_ms"] =
                    Int(delay.components.seconds * 1000) + Int(delay.components.attoseconds / 1_000_000_000_000_000)
                attributes["error.type"] = String(reflecting: type(of: error))
                span.addEvent(SpanEvent(name: "resilience.retry", attributes: attributes))
            }
            try await self.clock.sleep(for: delay)
        }
    }

    /// One attempt, under the per-attempt timeout and the deadline, whichever ends first.
    private func attempt<T: Sendable>(
        _ attempt: Int,
        deadline: C.Instant?,
        timeout: Duration?,
        _ operation: @escaping @Sendable (_ attempt: Int) async throws -> T
    ) async throws -> T {
        let start = self.clock.now
        let attemptDeadline = self.attemptTimeout.map { start.advanced(by: $0) }
        let limit: C.Instant
        let deadlineFirst: Bool
        switch (attemptDeadline, deadline) {
        case (nil, nil):
            return try await operation(attempt)
        case (let own?, nil):
            limit = own
            deadlineFirst = false
        case (nil, let overall?):
            limit = overall
            deadlineFirst = true
        case (let own?, let overall?):
            deadlineFirst = overall < own
            limit = deadlineFirst ? overall : own
        }
        switch try await self.clock.race(until: limit, { try await operation(attempt) }) {
        case .finished(let value):
            return value
        case .timedOut where deadlineFirst:
            throw ResilienceError.deadlineExceeded(self.name, timeout: timeout ?? .zero, attempts: attempt)
        case .timedOut:
            throw ResilienceError.attemptTimedOut(self.name, timeout: self.attemptTimeout ?? .zero, attempt: attempt)
        }
    }
}

extension ResiliencePipeline where C == ContinuousClock {
    /// Creates a pipeline on the continuous clock.
    /// - Parameters:
    ///   - name: The name used in logs, metrics labels and errors.
    ///   - retry: When and how failed attempts are retried.
    ///   - attemptTimeout: The longest one attempt may run.
    ///   - timeout: The longest a whole call may take, waits and retries included.
    ///   - circuitBreaker: The breaker every attempt goes through.
    ///   - bulkhead: The concurrency limit every call goes through.
    ///   - random: Where the jitter comes from.
    ///   - logger: Where retries are logged (at debug level).
    ///   - metricsFactory: Where metrics go; defaults to the bootstrapped `MetricsSystem`.
    public init(
        name: String,
        retry: RetryPolicy = .init(),
        attemptTimeout: Duration? = nil,
        timeout: Duration? = nil,
        circuitBreaker: CircuitBreaker<ContinuousClock>? = nil,
        bulkhead: Bulkhead<ContinuousClock>? = nil,
        random: RandomSource = .system,
        logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.init(
            name: name,
            retry: retry,
            attemptTimeout: attemptTimeout,
            timeout: timeout,
            circuitBreaker: circuitBreaker,
            bulkhead: bulkhead,
            clock: ContinuousClock(),
            random: random,
            logger: logger,
            metricsFactory: metricsFactory
        )
    }
}
