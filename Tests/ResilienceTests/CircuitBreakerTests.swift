import Logging
import MetricsTestKit
import Resilience
import Testing

@Suite("CircuitBreaker", .timeLimit(.minutes(1)))
struct CircuitBreakerTests {
    let clock = ManualClock()
    let metrics = TestMetrics()
    let logs = CapturedLogs()
    let transitions = Recorded<CircuitBreakerTransition>()

    func makeBreaker(
        name: String = "provider",
        _ configure: (inout CircuitBreakerConfiguration) -> Void = { _ in }
    ) -> CircuitBreaker<ManualClock> {
        var configuration = CircuitBreakerConfiguration()
        configure(&configuration)
        return CircuitBreaker(
            name: name,
            configuration: configuration,
            clock: self.clock,
            logger: self.logs.logger,
            metricsFactory: self.metrics,
            onStateChange: { [transitions] transition in transitions.append(transition) }
        )
    }

    func fail(_ breaker: CircuitBreaker<ManualClock>, with error: any Error = ProviderError.unavailable) async {
        _ = try? await breaker.run { throw error }
    }

    func succeed(_ breaker: CircuitBreaker<ManualClock>) async throws {
        try await breaker.run {}
    }

    /// A call whose operation sleeps `duration` on the clock, then succeeds.
    func slowCall(_ breaker: CircuitBreaker<ManualClock>, _ duration: Duration) -> Task<Void, any Error> {
        Task { [clock] in try await breaker.run { try await clock.sleep(for: duration) } }
    }

    // MARK: Opening

    @Test func opensAtTheFailureRateThresholdOfACountWindow() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(4)
            $0.minimumNumberOfCalls = 4
            $0.failureRateThreshold = 50
        }
        await self.fail(breaker)
        for _ in 0..<3 { try await self.succeed(breaker) }
        #expect(breaker.windowCounts == CircuitBreakerWindowCounts(calls: 4, failures: 1, slowCalls: 0))
        try await self.succeed(breaker)  // the oldest call (the failure) leaves the window
        #expect(breaker.windowCounts == CircuitBreakerWindowCounts(calls: 4, failures: 0, slowCalls: 0))
        await self.fail(breaker)
        #expect(breaker.state == .closed)  // 25%
        await self.fail(breaker)
        #expect(breaker.state == .open)  // 50%
    }

    @Test func waitsForTheMinimumNumberOfCalls() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(10)
            $0.minimumNumberOfCalls = 3
        }
        await self.fail(breaker)
        await self.fail(breaker)
        #expect(breaker.state == .closed)  // 100% of too few calls
        await self.fail(breaker)
        #expect(breaker.state == .open)
    }

    @Test func opensAtTheFailureRateThresholdOfATimeWindow() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .time(seconds: 10)
            $0.minimumNumberOfCalls = 3
            $0.failureRateThreshold = 60
        }
        await self.fail(breaker)
        await self.fail(breaker)
        #expect(breaker.windowCounts.calls == 2)
        self.clock.advance(by: .seconds(10))  // second 0 leaves the window (10, 0]
        #expect(breaker.windowCounts.calls == 0)
        try await self.succeed(breaker)
        self.clock.advance(by: .milliseconds(9_500))
        await self.fail(breaker)
        #expect(breaker.state == .closed)  // 1 of 2, and too few calls
        await self.fail(breaker)
        #expect(breaker.state == .open)  // 66.7% of 3 calls within 10 s
        let opened = try #require(self.transitions.all.last)
        #expect(opened.counts == CircuitBreakerWindowCounts(calls: 3, failures: 2, slowCalls: 0))
        #expect(breaker.windowCounts == CircuitBreakerWindowCounts())  // a new state starts afresh
    }

    @Test func slowCallsOpenIt() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(4)
            $0.minimumNumberOfCalls = 4
            $0.slowCallDuration = .seconds(2)
            $0.slowCallRateThreshold = 50
        }
        try await self.succeed(breaker)
        try await self.succeed(breaker)
        for _ in 0..<2 {
            let call = self.slowCall(breaker, .seconds(3))
            try await self.clock.advanceWhenSleeping()
            try await value(of: call)
        }
        #expect(breaker.state == .open)
        let opened = try #require(self.transitions.all.last)
        #expect(opened.from == .closed && opened.to == .open)
        #expect(opened.counts == CircuitBreakerWindowCounts(calls: 4, failures: 0, slowCalls: 2))
        #expect(
            try self.metrics.expectCounter("resilience_circuit_slow_calls_total", [("name", "provider")]).totalValue
                == 2
        )
    }

    @Test func errorsClassifiedAsSuccessOrIgnoredDoNotOpenIt() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(4)
            $0.minimumNumberOfCalls = 4
            $0.classifier = { error in
                switch error {
                case let error as ProviderError where error.status == 404: .success  // the provider answered
                case is OpaqueError: .ignored
                default: .failure
                }
            }
        }
        for _ in 0..<10 {
            await self.fail(breaker, with: ProviderError.notFound)
            await self.fail(breaker, with: OpaqueError())
        }
        #expect(breaker.state == .closed)
        #expect(breaker.windowCounts == CircuitBreakerWindowCounts(calls: 4, failures: 0, slowCalls: 0))
        let ignored = try self.metrics.expectCounter(
            "resilience_circuit_calls_total",
            [("name", "provider"), ("outcome", "ignored")]
        )
        #expect(ignored.totalValue == 10)
        await self.fail(breaker)
        await self.fail(breaker)
        #expect(breaker.state == .open)
    }

    // MARK: Open

    @Test func whenOpenTheOperationIsNotRunAndTheCallFailsAtOnce() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(2)
            $0.minimumNumberOfCalls = 2
            $0.waitDurationInOpenState = .seconds(30)
        }
        await self.fail(breaker)
        await self.fail(breaker)
        self.clock.advance(by: .seconds(10))
        let before = self.clock.now
        let probe = Probe()
        let error = await #expect(throws: ResilienceError.self) {
            try await breaker.run { probe.called() }
        }
        #expect(error?.code == .circuitOpen)
        #expect(error?.retryAfter == .seconds(20))
        #expect(error?.name == "provider")
        #expect(probe.calls == 0)
        #expect(self.clock.now == before)
        #expect(self.clock.sleeperCount == 0)
        #expect(
            try self.metrics.expectCounter("resilience_circuit_rejected_total", [("name", "provider")]).totalValue == 1
        )
    }

    // MARK: Half-open

    @Test func halfOpenLetsExactlyTheTrialCallsThroughAndTheirSuccessClosesIt() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(2)
            $0.minimumNumberOfCalls = 2
            $0.waitDurationInOpenState = .seconds(30)
            $0.permittedCallsInHalfOpenState = 2
        }
        await self.fail(breaker)
        await self.fail(breaker)
        self.clock.advance(by: .seconds(30))
        #expect(breaker.state == .halfOpen)

        let trials = [self.slowCall(breaker, .seconds(1)), self.slowCall(breaker, .seconds(1))]
        try await self.clock.waitForSleepers(2)  // both trials are running
        let probe = Probe()
        let extra = await #expect(throws: ResilienceError.self) {
            try await breaker.run { probe.called() }
        }
        #expect(extra?.code == .circuitOpen)
        #expect(extra?.retryAfter == nil)
        #expect(probe.calls == 0)
        #expect(breaker.state == .halfOpen)

        self.clock.advance(by: .seconds(1))
        for trial in trials { try await value(of: trial) }
        #expect(breaker.state == .closed)
        #expect(breaker.windowCounts == CircuitBreakerWindowCounts())
        try await self.succeed(breaker)
    }

    @Test func aFailedTrialOpensItAgainAndALateTrialDoesNotCount() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(2)
            $0.minimumNumberOfCalls = 2
            $0.waitDurationInOpenState = .seconds(30)
            $0.permittedCallsInHalfOpenState = 2
        }
        await self.fail(breaker)
        await self.fail(breaker)
        self.clock.advance(by: .seconds(30))
        let lateTrial = self.slowCall(breaker, .seconds(1))
        try await self.clock.waitForSleepers(1)
        await self.fail(breaker)  // the second trial fails
        #expect(breaker.state == .open)
        self.clock.advance(by: .seconds(1))
        try await value(of: lateTrial)  // succeeds, but it was let through in the earlier half-open period
        #expect(breaker.state == .open)
        let error = await #expect(throws: ResilienceError.self) { try await self.succeed(breaker) }
        #expect(error?.retryAfter == .seconds(29))
    }

    @Test func aCancelledTrialGivesItsSlotBack() async throws {
        let breaker = self.makeBreaker {
            $0.slidingWindow = .count(2)
            $0.minimumNumberOfCalls = 2
            $0.permittedCallsInHalfOpenState = 1
        }
        await self.fail(breaker)
        await self.fail(breaker)
        self.clock.advance(by: breaker.configuration.waitDurationInOpenState)
        let trial = self.slowCall(breaker, .seconds(1))
        try await self.clock.waitForSleepers(1)
        await #expect(throws: ResilienceError.self) { try await self.succeed(breaker) }
        trial.cancel()
        #expect(await failure(of: trial) is CancellationError)
        #expect(breaker.state == .halfOpen)
        try await self.succeed(breaker)  // the freed slot
        #expect(breaker.state == .closed)
    }

    // MARK: Observability

    @Test func eachStateChangeIsLoggedOnceWithItsRatesAndMeasured() async throws {
        let breaker = self.makeBreaker(name: "rates") {
            $0.slidingWindow = .count(4)
            $0.minimumNumberOfCalls = 4
            $0.permittedCallsInHalfOpenState = 1
        }
        let state = try self.metrics.expectGauge("resilience_circuit_state", [("name", "rates")])
        #expect(state.lastValue == 0)
        try await self.succeed(breaker)
        for _ in 0..<3 { await self.fail(breaker) }
        #expect(state.lastValue == 1)
        self.clock.advance(by: breaker.configuration.waitDurationInOpenState)
        #expect(breaker.state == .halfOpen)
        #expect(state.lastValue == 2)
        try await self.succeed(breaker)
        #expect(state.lastValue == 0)

        let lines = self.logs.all
        #expect(
            lines.map(\.message) == [
                "circuit breaker closed -> open",
                "circuit breaker open -> half_open",
                "circuit breaker half_open -> closed",
            ]
        )
        #expect(lines.map(\.level) == [.warning, .info, .info])
        #expect(lines[0].metadata["circuit.failure_rate"] == "75.0%")
        #expect(lines[0].metadata["circuit.slow_call_rate"] == "0.0%")
        #expect(lines[0].metadata["circuit.calls"] == "4")
        #expect(lines[0].metadata["resilience.name"] == "rates")
        #expect(self.transitions.all.map(\.to) == [.open, .halfOpen, .closed])
        for (to, count) in [("open", 1), ("half_open", 1), ("closed", 1)] {
            let counter = try self.metrics.expectCounter(
                "resilience_circuit_transitions_total",
                [("name", "rates"), ("to", to)]
            )
            #expect(counter.totalValue == Int64(count))
        }
    }
}
