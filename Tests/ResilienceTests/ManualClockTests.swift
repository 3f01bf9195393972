import Resilience
import Testing

@Suite("ManualClock", .timeLimit(.minutes(1)))
struct ManualClockTests {
    @Test func aSleeperWakesOnlyAtItsDeadline() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(5)) }
        try await clock.waitForSleepers(1)
        #expect(clock.sleeperCount == 1)
        #expect(clock.nextDeadline == ManualClock.Instant(offset: .seconds(5)))
        clock.advance(by: .seconds(4))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await value(of: sleeper)
        #expect(clock.sleeperCount == 0)
        #expect(clock.now == ManualClock.Instant(offset: .seconds(5)))
    }

    @Test func aPastDeadlineReturnsAtOnce() async throws {
        let clock = ManualClock()
        clock.advance(by: .seconds(3))
        try await clock.sleep(until: ManualClock.Instant(offset: .seconds(2)))
        try await clock.sleep(for: .zero)
        #expect(clock.sleeperCount == 0)
    }

    @Test func aCancelledSleeperThrowsAndIsNoLongerCounted() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        try await clock.waitForSleepers(1)
        sleeper.cancel()
        let error = await failure(of: sleeper)
        #expect(error is CancellationError)
        #expect(clock.sleeperCount == 0)
        #expect(clock.now == ManualClock.Instant(offset: .zero))
    }

    @Test func advancingWakesSleepersInDeadlineOrder() async throws {
        let clock = ManualClock()
        let order = Probe()
        let late = Task {
            try await clock.sleep(for: .seconds(3))
            return order.called()
        }
        let early = Task {
            try await clock.sleep(for: .seconds(1))
            return order.called()
        }
        try await clock.waitForSleepers(2)
        #expect(clock.sleeperDeadlines.map(\.offset) == [.seconds(1), .seconds(3)])
        #expect(clock.advanceToNextDeadline() == .seconds(1))
        #expect(try await value(of: early) == 1)
        #expect(clock.advanceToNextDeadline() == .seconds(2))
        #expect(try await value(of: late) == 2)
        #expect(clock.advanceToNextDeadline() == nil)
    }

    @Test func waitingForSleepersCanBeCancelled() async throws {
        let clock = ManualClock()
        let watcher = Task { try await clock.waitForSleepers(1) }
        watcher.cancel()
        #expect(await failure(of: watcher) is CancellationError)
    }
}
