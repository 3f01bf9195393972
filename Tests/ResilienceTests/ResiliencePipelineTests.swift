import Logging
import MetricsTestKit
import Resilience
import Synchronization
import Testing

@Suite("ResiliencePipeline", .timeLimit(.minutes(1)))
struct ResiliencePipelineTests {
    let clock = ManualClock()
    let metrics = TestMetrics()

    func makePipeline(
        retry: RetryPolicy = .init(),
        attemptTimeout: Duration? = nil,
        timeout: Duration? = nil,
        circuitBreaker: CircuitBreaker<ManualClock>? = nil,
        bulkhead: Bulkhead<ManualClock>? = nil,
        seed: UInt64 = 1
    ) -> ResiliencePipeline<ManualClock> {
        ResiliencePipeline(
            name: "provider",
            retry: retry,
            attemptTimeout: attemptTimeout,
            timeout: timeout,
            circuitBreaker: circuitBreaker,
            bulkhead: bulkhead,
            clock: self.clock,
            random: RandomSource(SeededGenerator(seed: seed)),
            logger: silentLogger,
            metricsFactory: self.metrics
        )
    }

    func makeBreaker(_ configure: (inout CircuitBreakerConfiguration) -> Void) -> CircuitBreaker<ManualClock> {
        var configuration = CircuitBreakerConfiguration()
        configure(&configuration)
        return CircuitBreaker(
            name: "provider",
            configuration: configuration,
            clock: self.clock,
            logger: silentLogger,
            metricsFactory: self.metrics
        )
    }

    func calls(_ outcome: String) throws -> Int64 {
        try self.metrics.expectCounter("resilience_calls_total", [("name", "provider"), ("outcome", outcome)])
            .totalValue
    }

    // MARK: Retries

    @Test func retriesAreBoundedAndWaitTheJitteredBackoff() async throws {
        let retry = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), multiplier: 2, maxDelay: .seconds(1))
        let pipeline = self.makePipeline(retry: retry, seed: 9)
        let attempts = Mutex<[Int]>([])
        let call = Task {
            try await pipeline.run(idempotent: true) { attempt in
                attempts.withLock { $0.append(attempt) }
                throw ProviderError.unavailable
            }
        }
        var waits: [Duration] = []
        for _ in 0..<3 { waits.append(try await self.clock.advanceWhenSleeping()) }
        #expect(await failure(of: call) as? ProviderError == .unavailable)
        #expect(attempts.withLock { $0 } == [1, 2, 3, 4])

        var generator = SeededGenerator(seed: 9)
        #expect(waits == (1...3).map { retry.delay(forRetry: $0, using: &generator) })
        for (index, wait) in waits.enumerated() {
            #expect(wait >= .zero && wait <= retry.backoffCap(forRetry: index + 1))
        }
        #expect(Set(waits).count == 3)
        #expect(self.clock.now.offset == waits.reduce(.zero, +))
        #expect(self.clock.sleeperCount == 0)
        #expect(try self.metrics.expectCounter("resilience_retries_total", [("name", "provider")]).totalValue == 3)
        #expect(try self.calls("failure") == 1)
    }

    @Test func aCallThatRecoversReturnsItsValue() async throws {
        let pipeline = self.makePipeline()
        let call = Task {
            try await pipeline.run(idempotent: true) { attempt in
                if attempt < 3 { throw ProviderError.unavailable }
                return "rates"
            }
        }
        try await self.clock.advanceWhenSleeping()
        try await self.clock.advanceWhenSleeping()
        #expect(try await value(of: call) == "rates")
        #expect(try self.calls("success") == 1)
    }

    @Test(arguments: [ProviderError.notFound as any Error, OpaqueError()])
    func anErrorThatIsNotRetryableIsNotRetried(error: any Error) async throws {
        let pipeline = self.makePipeline()
        let probe = Probe()
        await #expect(throws: (any Error).self) {
            try await pipeline.run(idempotent: true) { _ in
                probe.called()
                throw error
            }
        }
        #expect(probe.calls == 1)
        #expect(self.clock.now.offset == .zero)
    }

    @Test func aNonIdempotentCallIsRetriedOnlyWhenTheRequestCertainlyHadNoEffect() async throws {
        let pipeline = self.makePipeline(retry: RetryPolicy(maxAttempts: 2))
        let probe = Probe()
        let error = await #expect(throws: ProviderError.self) {
            try await pipeline.run(idempotent: false) { _ in
                probe.called()
                throw ProviderError.unavailable
            }
        }
        #expect(error == .unavailable)
        #expect(probe.calls == 1)
        #expect(self.clock.sleeperCount == 0)

        let refused = ProviderError(status: 503, wasNotProcessed: true)
        let call = Task {
            try await pipeline.run(idempotent: false) { attempt in
                probe.called()
                if attempt == 1 { throw refused }
                return attempt
            }
        }
        try await self.clock.advanceWhenSleeping()
        #expect(try await value(of: call) == 2)
        #expect(probe.calls == 3)
    }

    @Test func retryAfterIsHonouredWhenLongerThanTheBackoff() async throws {
        let pipeline = self.makePipeline(retry: RetryPolicy(baseDelay: .milliseconds(100)))
        let call = Task {
            try await pipeline.run(idempotent: true) { attempt in
                if attempt == 1 { throw ProviderError(status: 429, retryAfter: .seconds(3)) }
                return attempt
            }
        }
        try await self.clock.waitForSleepers(1)
        #expect(self.clock.nextDeadline?.offset == .seconds(3))
        self.clock.advance(by: .seconds(3))
        #expect(try await value(of: call) == 2)
    }

    @Test func aRetryAfterOverTheLimitEndsTheRetriesWithoutWaiting() async throws {
        let pipeline = self.makePipeline(retry: RetryPolicy(maxRetryAfter: .seconds(10)))
        let probe = Probe()
        let error = await #expect(throws: ProviderError.self) {
            try await pipeline.run(idempotent: true) { _ in
                probe.called()
                throw ProviderError(status: 503, retryAfter: .seconds(60))
            }
        }
        #expect(error?.retryAfter == .seconds(60))
        #expect(probe.calls == 1)
        #expect(self.clock.now.offset == .zero)
        #expect(self.clock.sleeperCount == 0)
    }

    // MARK: Deadline and timeouts

    @Test func theDeadlineStopsRetriesWithoutSleepingPastIt() async throws {
        let retry = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(400), jitter: .none)
        let pipeline = self.makePipeline(retry: retry, timeout: .seconds(1))
        let probe = Probe()
        let call = Task {
            try await pipeline.run(idempotent: true) { _ in
                probe.called()
                throw ProviderError.unavailable
            }
        }
        // Each attempt runs beside a timer for the deadline (1 s); the backoff is the sleeper due earlier.
        try await self.clock.waitForSleepers(1, dueBy: ManualClock.Instant(offset: .milliseconds(999)))
        #expect(self.clock.nextDeadline == ManualClock.Instant(offset: .milliseconds(400)))
        self.clock.advance(by: .milliseconds(400))
        // Attempt 2 fails at 400 ms; the next wait (800 ms) would end after the 1 s deadline.
        let error = await failure(of: call) as? ResilienceError
        #expect(error?.code == .deadlineExceeded)
        #expect(error?.attempts == 2)
        #expect(error?.underlying as? ProviderError == .unavailable)
        #expect(probe.calls == 2)
        #expect(self.clock.now.offset == .milliseconds(400))
        #expect(self.clock.sleeperCount == 0)
        #expect(try self.calls("deadline_exceeded") == 1)
    }

    @Test func aRetryAfterPastTheDeadlineFailsAtOnce() async throws {
        let pipeline = self.makePipeline(timeout: .seconds(5))
        let error = await #expect(throws: ResilienceError.self) {
            try await pipeline.run(idempotent: true) { _ in throw ProviderError(status: 503, retryAfter: .seconds(6)) }
        }
        #expect(error?.code == .deadlineExceeded)
        #expect(self.clock.now.offset == .zero)
    }

    @Test func theAttemptTimeoutCancelsASlowAttemptAndTheRetrySucceeds() async throws {
        let retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(100), jitter: .none)
        let pipeline = self.makePipeline(retry: retry, attemptTimeout: .seconds(2))
        let probe = Probe()
        let call = Task {
            try await pipeline.run(idempotent: true) { attempt in
                probe.called()
                if attempt == 1 { try await hangUntilCancelled(probe) }
                return "answer"
            }
        }
        try await self.clock.waitForSleepers(1)
        #expect(self.clock.nextDeadline?.offset == .seconds(2))
        self.clock.advanceToNextDeadline()
        #expect(try await self.clock.advanceWhenSleeping() == .milliseconds(100))
        #expect(try await value(of: call) == "answer")
        #expect(probe.cancellations == 1)
        #expect(probe.calls == 2)
    }

    @Test func aTimedOutAttemptOfANonIdempotentCallIsNotRetried() async throws {
        let pipeline = self.makePipeline(attemptTimeout: .seconds(2))
        let probe = Probe()
        let call = Task {
            try await pipeline.run(idempotent: false) { _ in
                probe.called()
                try await hangUntilCancelled(probe)
            }
        }
        try await self.clock.advanceWhenSleeping()
        let error = await failure(of: call) as? ResilienceError
        #expect(error?.code == .attemptTimedOut)
        #expect(error?.attempts == 1)
        #expect(probe.calls == 1)
        #expect(probe.cancellations == 1)
        #expect(try self.calls("attempt_timed_out") == 1)
    }

    @Test func theDeadlineCutsAnAttemptShorterThanItsTimeout() async throws {
        let pipeline = self.makePipeline(attemptTimeout: .seconds(5), timeout: .seconds(1))
        let probe = Probe()
        let call = Task {
            try await pipeline.run(idempotent: true) { _ in
                probe.called()
                try await hangUntilCancelled(probe)
            }
        }
        #expect(try await self.clock.advanceWhenSleeping() == .seconds(1))
        #expect(code(await failure(of: call)) == .deadlineExceeded)
        #expect(probe.calls == 1)
        #expect(probe.cancellations == 1)
    }

    @Test func aCallCanBringItsOwnDeadline() async throws {
        let pipeline = self.makePipeline(timeout: .seconds(60))
        let probe = Probe()
        let call = Task {
            try await pipeline.run(idempotent: true, timeout: .milliseconds(250)) { _ -> Int in
                try await hangUntilCancelled(probe)
            }
        }
        #expect(try await self.clock.advanceWhenSleeping() == .milliseconds(250))
        let error = await failure(of: call) as? ResilienceError
        #expect(error?.code == .deadlineExceeded)
        #expect(error?.timeout == .milliseconds(250))
        #expect(probe.cancellations == 1)
    }

    @Test func cancellingTheCallerDuringABackoffEndsTheCall() async throws {
        let pipeline = self.makePipeline()
        let probe = Probe()
        let call = Task {
            try await pipeline.run(idempotent: true) { _ in
                probe.called()
                throw ProviderError.unavailable
            }
        }
        try await self.clock.waitForSleepers(1)
        call.cancel()
        #expect(await failure(of: call) is CancellationError)
        #expect(probe.calls == 1)
        #expect(self.clock.sleeperCount == 0)
        #expect(try self.calls("cancelled") == 1)
    }

    // MARK: With a circuit breaker

    /// The scenario: the provider is down (it never answers).
    @Test func whenTheProviderIsDownTheBreakerOpensCallsFailFastAndATrialClosesItAfterRecovery() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(4)
            $0.minimumNumberOfCalls = 4
            $0.waitDurationInOpenState = .seconds(30)
            $0.permittedCallsInHalfOpenState = 1
        }
        let bulkhead = Bulkhead(name: "provider", configuration: .init(maxConcurrentCalls: 5), clock: self.clock)
        let pipeline = self.makePipeline(
            retry: .never,
            attemptTimeout: .seconds(2),
            circuitBreaker: breaker,
            bulkhead: bulkhead
        )
        let probe = Probe()
        let recovered = Atomic<Bool>(false)
        let provider: @Sendable (Int) async throws -> String = { _ in
            probe.called()
            if !recovered.load(ordering: .acquiring) { try await hangUntilCancelled(probe) }
            return "rates"
        }

        // Four calls wait for their timeout: the breaker opens.
        for _ in 0..<4 {
            let call = Task { try await pipeline.run(idempotent: true, provider) }
            #expect(try await self.clock.advanceWhenSleeping() == .seconds(2))
            #expect(code(await failure(of: call)) == .attemptTimedOut)
        }
        #expect(breaker.state == .open)
        #expect(probe.calls == 4)

        // Fail fast: no call to the provider, no time spent waiting for a timeout.
        let before = self.clock.now
        for _ in 0..<3 {
            let error = await #expect(throws: ResilienceError.self) {
                try await pipeline.run(idempotent: true, provider)
            }
            #expect(error?.code == .circuitOpen)
            #expect(error?.retryAfter == .seconds(30))
        }
        #expect(probe.calls == 4)
        #expect(self.clock.now == before)
        #expect(self.clock.sleeperCount == 0)
        #expect(bulkhead.inUse == 0)

        // The provider recovers; after the open wait one trial call closes the breaker.
        recovered.store(true, ordering: .releasing)
        self.clock.advance(by: .seconds(30))
        #expect(try await pipeline.run(idempotent: true, provider) == "rates")
        #expect(breaker.state == .closed)
        #expect(try await pipeline.run(idempotent: true, provider) == "rates")
        #expect(try self.calls("attempt_timed_out") == 4)
        #expect(try self.calls("circuit_open") == 3)
        #expect(try self.calls("success") == 2)
    }

    @Test func aBreakerThatOpensDuringRetriesStopsThem() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(2)
            $0.minimumNumberOfCalls = 2
        }
        let pipeline = self.makePipeline(retry: RetryPolicy(maxAttempts: 5), circuitBreaker: breaker)
        let probe = Probe()
        let call = Task {
            try await pipeline.run(idempotent: true) { _ in
                probe.called()
                throw ProviderError.unavailable
            }
        }
        try await self.clock.advanceWhenSleeping()  // after attempt 1
        try await self.clock.advanceWhenSleeping()  // after attempt 2, which opened the breaker
        let error = await failure(of: call) as? ResilienceError
        #expect(error?.code == .circuitOpen)
        #expect(error?.attempts == 2)
        #expect(error?.underlying as? ProviderError == .unavailable)
        #expect(probe.calls == 2)
    }

    @Test func theBulkheadComesFirstAndHoldsItsSlotAcrossRetriesWhileEachAttemptGoesThroughTheBreaker() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(10)
            $0.minimumNumberOfCalls = 10
        }
        let bulkhead = Bulkhead(name: "provider", configuration: .init(maxConcurrentCalls: 1), clock: self.clock)
        let retry = RetryPolicy(maxAttempts: 3, baseDelay: .seconds(1), jitter: .none)
        let pipeline = self.makePipeline(retry: retry, circuitBreaker: breaker, bulkhead: bulkhead)
        let call = Task {
            try await pipeline.run(idempotent: true) { attempt in
                if attempt < 3 { throw ProviderError.unavailable }
                return attempt
            }
        }
        try await self.clock.waitForSleepers(1)  // backing off after attempt 1
        #expect(bulkhead.inUse == 1)

        // A second call is refused by the bulkhead before it reaches the breaker.
        let probe = Probe()
        let refused = await #expect(throws: ResilienceError.self) {
            try await pipeline.run(idempotent: true) { _ in probe.called() }
        }
        #expect(refused?.code == .bulkheadFull)
        #expect(probe.calls == 0)
        #expect(breaker.windowCounts.calls == 1)

        self.clock.advanceToNextDeadline()
        try await self.clock.advanceWhenSleeping()
        #expect(try await value(of: call) == 3)
        #expect(breaker.windowCounts == CircuitBreakerWindowCounts(calls: 3, failures: 2, slowCalls: 0))
        #expect(bulkhead.inUse == 0)
        #expect(try self.calls("bulkhead_full") == 1)
    }

    @Test func aFullBulkheadWaitsNoLongerThanTheDeadline() async throws {
        let bulkhead = Bulkhead(
            name: "provider",
            configuration: .init(maxConcurrentCalls: 1, maxWaitingCalls: 1, maxWait: .seconds(10)),
            clock: self.clock
        )
        let pipeline = self.makePipeline(timeout: .seconds(3), bulkhead: bulkhead)
        let workClock = ManualClock()
        let holder = Task { try await bulkhead.run { try await workClock.sleep(for: .seconds(100)) } }
        try await workClock.waitForSleepers(1)
        let probe = Probe()
        let call = Task { try await pipeline.run(idempotent: true) { _ in probe.called() } }
        #expect(try await self.clock.advanceWhenSleeping() == .seconds(3))
        let error = await failure(of: call) as? ResilienceError
        #expect(error?.code == .deadlineExceeded)
        #expect(error?.attempts == 0)
        #expect(probe.calls == 0)
        holder.cancel()
        _ = await failure(of: holder)
        #expect(bulkhead.inUse == 0)
        #expect(bulkhead.waiting == 0)
    }
}
