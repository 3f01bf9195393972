import MetricsTestKit
import Resilience
import Testing

/// The bulkhead measures its waits on `waitClock`; the operations sleep on `workClock`, so a test can tell
/// "a caller is queued" (a sleeper on the first) from "a call is running" (a sleeper on the second).
@Suite("Bulkhead", .timeLimit(.minutes(1)))
struct BulkheadTests {
    let waitClock = ManualClock()
    let workClock = ManualClock()
    let metrics = TestMetrics()

    func makeBulkhead(_ configuration: BulkheadConfiguration) -> Bulkhead<ManualClock> {
        Bulkhead(name: "provider", configuration: configuration, clock: self.waitClock, metricsFactory: self.metrics)
    }

    /// A call that runs for `duration` of the work clock.
    func call(_ bulkhead: Bulkhead<ManualClock>, _ duration: Duration, probe: Probe) -> Task<Void, any Error> {
        Task { [workClock] in
            try await bulkhead.run { try await probe.running { try await workClock.sleep(for: duration) } }
        }
    }

    @Test func noMoreThanTheLimitRunAtOnce() async throws {
        let bulkhead = self.makeBulkhead(.init(maxConcurrentCalls: 2, maxWaitingCalls: 10, maxWait: .seconds(60)))
        let probe = Probe()
        let calls = (0..<6).map { _ in self.call(bulkhead, .seconds(1), probe: probe) }
        for _ in 0..<3 {
            try await self.workClock.waitForSleepers(2)
            #expect(bulkhead.inUse == 2)
            #expect(probe.running == 2)
            self.workClock.advance(by: .seconds(1))
        }
        for call in calls { try await value(of: call) }
        #expect(probe.calls == 6)
        #expect(probe.maxRunning == 2)
        #expect(bulkhead.inUse == 0)
        #expect(bulkhead.waiting == 0)
    }

    @Test func withoutAQueueAFullBulkheadRefusesAtOnce() async throws {
        let bulkhead = self.makeBulkhead(.init(maxConcurrentCalls: 1))
        let probe = Probe()
        let holder = self.call(bulkhead, .seconds(1), probe: probe)
        try await self.workClock.waitForSleepers(1)
        let error = await #expect(throws: ResilienceError.self) { try await bulkhead.run { probe.called() } }
        #expect(error?.code == .bulkheadFull)
        #expect(probe.calls == 1)
        #expect(self.waitClock.now == ManualClock.Instant(offset: .zero))
        self.workClock.advance(by: .seconds(1))
        try await value(of: holder)
        _ = try await bulkhead.run { probe.called() }
        #expect(probe.calls == 2)
    }

    @Test func aWaiterIsRefusedAfterTheMaximumWaitAndAFullQueueRefusesAtOnce() async throws {
        let bulkhead = self.makeBulkhead(.init(maxConcurrentCalls: 1, maxWaitingCalls: 1, maxWait: .seconds(5)))
        let holderProbe = Probe()
        let probe = Probe()
        let holder = self.call(bulkhead, .seconds(100), probe: holderProbe)
        try await self.workClock.waitForSleepers(1)
        let waiter = Task { try await bulkhead.run { probe.called() } }
        try await self.waitClock.waitForSleepers(1)
        #expect(bulkhead.waiting == 1)
        #expect(self.waitClock.nextDeadline == ManualClock.Instant(offset: .seconds(5)))

        let refused = await #expect(throws: ResilienceError.self) { try await bulkhead.run { probe.called() } }
        #expect(refused?.code == .bulkheadFull)

        self.waitClock.advance(by: .seconds(5))
        #expect(code(await failure(of: waiter)) == .bulkheadFull)
        #expect(probe.calls == 0)
        #expect(bulkhead.waiting == 0)
        #expect(bulkhead.inUse == 1)
        #expect(
            try self.metrics.expectCounter("resilience_bulkhead_rejected_total", [("name", "provider")]).totalValue == 2
        )
        holder.cancel()
        #expect(await failure(of: holder) is CancellationError)
        #expect(bulkhead.inUse == 0)
    }

    @Test func aCancelledWaiterReleasesNothingItDidNotTake() async throws {
        let bulkhead = self.makeBulkhead(.init(maxConcurrentCalls: 1, maxWaitingCalls: 5, maxWait: .seconds(3_600)))
        let probe = Probe()
        let holder = self.call(bulkhead, .seconds(10), probe: probe)
        try await self.workClock.waitForSleepers(1)
        let waiter = self.call(bulkhead, .seconds(1), probe: probe)
        try await self.waitClock.waitForSleepers(1)
        waiter.cancel()
        #expect(await failure(of: waiter) is CancellationError)
        #expect(bulkhead.waiting == 0)
        #expect(bulkhead.inUse == 1)
        #expect(self.waitClock.sleeperCount == 0)

        self.workClock.advance(by: .seconds(10))
        try await value(of: holder)
        #expect(bulkhead.inUse == 0)

        // Still exactly one slot: a second caller queues behind the first.
        let first = self.call(bulkhead, .seconds(1), probe: probe)
        try await self.workClock.waitForSleepers(1)
        let second = self.call(bulkhead, .seconds(1), probe: probe)
        try await self.waitClock.waitForSleepers(1)
        #expect(bulkhead.inUse == 1)
        #expect(bulkhead.waiting == 1)
        self.workClock.advance(by: .seconds(1))
        try await value(of: first)
        try await self.workClock.advanceWhenSleeping()
        try await value(of: second)
        #expect(probe.calls == 3)
        #expect(probe.maxRunning == 1)
        #expect(bulkhead.inUse == 0)
    }

    @Test func aWaiterCancelledBeforeItSuspendsLeavesTheQueue() async throws {
        let bulkhead = self.makeBulkhead(.init(maxConcurrentCalls: 1, maxWaitingCalls: 5, maxWait: nil))
        let probe = Probe()
        let holder = self.call(bulkhead, .seconds(1), probe: probe)
        try await self.workClock.waitForSleepers(1)
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            _ = try await bulkhead.run { probe.called() }
        }
        #expect(await failure(of: waiter) is CancellationError)
        #expect(bulkhead.waiting == 0)
        self.workClock.advance(by: .seconds(1))
        try await value(of: holder)
        #expect(bulkhead.inUse == 0)
        #expect(probe.calls == 1)
    }
}
