import Testing

@testable import RedisClient

/// The pool's decisions without sockets: shared slots, leases, waiters, keep-alive and backoff.
@Suite struct ConnectionPoolStateMachineTests {
    final class FakeConnection: Sendable, CustomStringConvertible {
        let id: Int
        init(_ id: Int) { self.id = id }
        var description: String { "c\(self.id)" }
    }

    typealias Machine = ConnectionPoolStateMachine<FakeConnection, String>

    private func machine(shared: Int = 1, dedicated: Int = 2) -> Machine {
        Machine(
            sharedSlots: shared,
            maxDedicated: dedicated,
            backoff: ReconnectBackoff(initialDelay: .milliseconds(100), maxDelay: .seconds(1))
        )
    }

    private func describe(_ decision: Machine.LeaseDecision) -> String {
        switch decision {
        case .granted(.connection(let connection)): "connection \(connection)"
        case .granted(.open): "open"
        case .fail(let error): "fail \(error.code)"
        case .waiting: "waiting"
        }
    }

    private func describe(_ decision: Machine.ReturnDecision) -> String {
        switch decision {
        case .handOver(let waiter, .connection(let connection), let close):
            "hand \(connection) to \(waiter)\(close.map { " closing \($0)" } ?? "")"
        case .handOver(let waiter, .open, let close): "place to \(waiter)\(close.map { " closing \($0)" } ?? "")"
        case .close(let connection): "close \(connection)"
        case .keep: "keep"
        }
    }

    @Test func sharedSlotsAreOpenedOnceAndUsedInTurn() {
        var machine = self.machine(shared: 2)
        guard case .open(slot: 0, _) = machine.leaseShared(now: 0), case .open(slot: 1, _) = machine.leaseShared(now: 0)
        else {
            Issue.record("each empty slot is opened once")
            return
        }
        guard case .wait(slot: 0) = machine.leaseShared(now: 0) else {
            Issue.record("a slot being opened is waited for")
            return
        }
        guard case .waiting = machine.waitForShared(slot: 0, id: 1, waiter: "a") else {
            Issue.record("the waiter queues")
            return
        }
        _ = machine.waitForShared(slot: 0, id: 2, waiter: "cancelled")
        #expect(machine.abandonShared(id: 2) == "cancelled", "a cancelled waiter leaves")
        #expect(machine.abandonShared(id: 2) == nil)
        let first = FakeConnection(1)
        #expect(machine.sharedOpened(slot: 0, first) == ["a"])
        guard case .wait(slot: 1) = machine.leaseShared(now: 0) else {
            Issue.record("turns alternate: slot 1 is still being opened")
            return
        }
        guard case .ready(let ready) = machine.leaseShared(now: 0), ready === first else {
            Issue.record("slot 0 is ready")
            return
        }
        machine.sharedClosed(first)
        _ = machine.leaseShared(now: 0)  // slot 1
        guard case .open(slot: 0, _) = machine.leaseShared(now: 0) else {
            Issue.record("a closed slot is opened again")
            return
        }
    }

    @Test func whileBackingOffACallerLandingOnAnEmptySlotUsesAConnectedOne() {
        var machine = self.machine(shared: 2)
        _ = machine.leaseShared(now: 0)
        let first = FakeConnection(1)
        _ = machine.sharedOpened(slot: 0, first)
        _ = machine.leaseShared(now: 0)
        _ = machine.sharedOpenFailed(slot: 1, RedisError(.connectTimeout, "slow"), now: 0)
        for _ in 0..<4 {
            guard case .ready(let connection) = machine.leaseShared(now: 1_000), connection === first else {
                Issue.record("the connected slot serves every caller during the backoff")
                return
            }
        }
    }

    @Test func aFailedConnectFailsTheWaitersAndRefusesAtOnceUntilTheBackoffPasses() {
        var machine = self.machine()
        _ = machine.leaseShared(now: 0)
        _ = machine.waitForShared(slot: 0, id: 1, waiter: "a")
        #expect(machine.sharedOpenFailed(slot: 0, RedisError(.connectionUnavailable, "down"), now: 0) == ["a"])
        guard case .fail(let error) = machine.leaseShared(now: 1_000) else {
            Issue.record("refused during the backoff")
            return
        }
        #expect(error.code == .connectionUnavailable)
        #expect(self.describe(machine.leaseDedicated(id: 2, waiter: "b", now: 1_000)) == "fail connectionUnavailable")
        guard case .open = machine.leaseShared(now: 10_000_000_000) else {
            Issue.record("tried again after the backoff")
            return
        }
    }

    @Test func leasesAreBoundedWaitersServedInOrderAndAbandonedWaitersSkipped() {
        var machine = self.machine(dedicated: 2)
        #expect(self.describe(machine.leaseDedicated(id: 1, waiter: "a", now: 0)) == "open")
        #expect(self.describe(machine.leaseDedicated(id: 2, waiter: "b", now: 0)) == "open")
        machine.dedicatedOpened()
        #expect(self.describe(machine.leaseDedicated(id: 3, waiter: "c", now: 0)) == "waiting")
        #expect(self.describe(machine.leaseDedicated(id: 4, waiter: "d", now: 0)) == "waiting")
        #expect(self.describe(machine.leaseDedicated(id: 5, waiter: "e", now: 0)) == "waiting")
        #expect(machine.abandonLease(id: 4) == "d", "a waiter whose lease timeout passed leaves the queue")
        let one = FakeConnection(1)
        let two = FakeConnection(2)
        #expect(self.describe(machine.release(one, reusable: true, now: 0)) == "hand c1 to c")
        // A connection that cannot be reused is closed; its place goes to the next waiter, who opens one.
        #expect(self.describe(machine.release(two, reusable: false, now: 0)) == "place to e closing c2")
        #expect(machine.dedicatedCount == 2)
        #expect(self.describe(machine.release(one, reusable: true, now: 5)) == "keep")
        #expect(self.describe(machine.release(two, reusable: false, now: 5)) == "close c2")
        #expect(machine.dedicatedCount == 1)
        #expect(self.describe(machine.leaseDedicated(id: 6, waiter: "f", now: 6)) == "connection c1")
    }

    @Test func aFailedOpenPassesItsPlaceToTheNextWaiter() {
        var machine = self.machine(dedicated: 1)
        #expect(self.describe(machine.leaseDedicated(id: 1, waiter: "a", now: 0)) == "open")
        #expect(self.describe(machine.leaseDedicated(id: 2, waiter: "b", now: 0)) == "waiting")
        guard case .some((let waiter, .open)) = machine.dedicatedOpenFailed(RedisError(.connectTimeout, "slow"), now: 0)
        else {
            Issue.record("the waiter gets the place")
            return
        }
        #expect(waiter == "b")
        #expect(machine.dedicatedCount == 1)
        #expect(machine.dedicatedOpenFailed(RedisError(.connectTimeout, "slow"), now: 0) == nil)
        #expect(machine.dedicatedCount == 0)
    }

    /// Defect: the keep-alive pinged idle connections a caller had leased meanwhile.
    @Test func aConnectionBeingCheckedCannotBeLeasedAndComesBackAfterTheCheck() {
        var machine = self.machine(dedicated: 2)
        _ = machine.leaseDedicated(id: 1, waiter: "a", now: 0)
        let one = FakeConnection(1)
        _ = machine.release(one, reusable: true, now: 0)
        let (expired, _, checked) = machine.beginKeepAlive(now: 10, idleLimit: 1_000, isClosed: { _ in false })
        #expect(expired.isEmpty)
        #expect(checked.map(\.id) == [1])
        #expect(
            self.describe(machine.leaseDedicated(id: 2, waiter: "b", now: 10)) == "open",
            "not the one being checked"
        )
        #expect(self.describe(machine.leaseDedicated(id: 3, waiter: "c", now: 10)) == "waiting")
        #expect(self.describe(machine.finishCheck(one, healthy: true)) == "hand c1 to c")
        _ = machine.release(one, reusable: true, now: 20)
        // A failed check closes the connection and frees its place.
        _ = machine.beginKeepAlive(now: 30, idleLimit: 1_000, isClosed: { _ in false })
        #expect(self.describe(machine.finishCheck(one, healthy: false)) == "close c1")
        #expect(machine.dedicatedCount == 1)
    }

    @Test func idleConnectionsPastTheIdleTimeoutAreReaped() {
        var machine = self.machine(dedicated: 3)
        _ = machine.leaseDedicated(id: 1, waiter: "a", now: 0)
        _ = machine.leaseDedicated(id: 2, waiter: "b", now: 0)
        let old = FakeConnection(1)
        let recent = FakeConnection(2)
        _ = machine.release(old, reusable: true, now: 0)
        _ = machine.release(recent, reusable: true, now: 900)
        let (expired, _, checked) = machine.beginKeepAlive(now: 1_000, idleLimit: 500, isClosed: { _ in false })
        #expect(expired.map(\.id) == [1])
        #expect(checked.map(\.id) == [2])
        #expect(machine.dedicatedCount == 1)
        #expect(self.describe(machine.finishCheck(recent, healthy: true)) == "keep")
        // The check did not make it young again: it expires on schedule.
        let (later, _, _) = machine.beginKeepAlive(now: 1_500, idleLimit: 500, isClosed: { _ in false })
        #expect(later.map(\.id) == [2])
        #expect(machine.dedicatedCount == 0)
    }

    @Test func shutdownHandsOverEverythingAndRefusesNewWork() {
        var machine = self.machine(dedicated: 1)
        _ = machine.leaseShared(now: 0)
        _ = machine.waitForShared(slot: 0, id: 1, waiter: "shared")
        _ = machine.leaseDedicated(id: 2, waiter: "a", now: 0)
        _ = machine.leaseDedicated(id: 3, waiter: "lease", now: 0)
        let (connections, waiters) = machine.shutdown()
        #expect(connections.isEmpty)
        #expect(Set(waiters) == ["shared", "lease"])
        #expect(self.describe(machine.leaseDedicated(id: 4, waiter: "b", now: 0)) == "fail shutdown")
        #expect(machine.sharedOpened(slot: 0, FakeConnection(9)) == nil, "a connection opened after shutdown is closed")
        #expect(self.describe(machine.release(FakeConnection(1), reusable: true, now: 0)) == "close c1")
    }
}
