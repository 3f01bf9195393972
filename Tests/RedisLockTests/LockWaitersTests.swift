import Foundation
import Testing

@testable import RedisLock

/// The local waiter table, with timers the test fires itself: every ordering of "timer fires", "task is
/// cancelled" and "the wait is stored" is reproduced on purpose instead of hoped for.
@Suite struct LockWaitersTests {
    @Test func aTimerThatFiresBeforeTheWaitIsStoredStillEndsTheWait() async {
        // The earliest a timer can fire is inside `schedule` itself, before `wait` has stored its waiter.
        let waiters = LockWaiters(timer: ImmediateTimer())
        let id = waiters.register("job")
        #expect(await returns(waiters, id: id, name: "job") { await waiters.wait(id, name: "job", timeout: .zero) })
        waiters.unregister(id, name: "job")
    }

    @Test func aWaitInATaskCancelledBeforeItStartedReturnsAtOnce() async {
        // The timer never fires: only the cancellation can end this wait.
        let timer = ManualTimer()
        let waiters = LockWaiters(timer: timer)
        let id = waiters.register("job")
        let ended = await returns(waiters, id: id, name: "job") {
            withUnsafeCurrentTask { $0?.cancel() }
            await waiters.wait(id, name: "job", timeout: .seconds(3600))
        }
        #expect(ended)
        waiters.unregister(id, name: "job")
    }

    @Test func aWaitIsEndedByItsTimerOrByCancellation() async {
        let timer = ManualTimer()
        let waiters = LockWaiters(timer: timer)
        let id = waiters.register("job")
        let firstWait = Task { await waiters.wait(id, name: "job", timeout: .seconds(3600)) }
        #expect(await waitsUntil { waiters.waitingCount("job") == 1 })
        timer.fire(0)
        #expect(await returns(waiters, id: id, name: "job") { await firstWait.value })
        let secondWait = Task { await waiters.wait(id, name: "job", timeout: .seconds(3600)) }
        #expect(await waitsUntil { waiters.waitingCount("job") == 1 })
        secondWait.cancel()
        #expect(await returns(waiters, id: id, name: "job") { await secondWait.value })
        waiters.unregister(id, name: "job")
    }

    @Test func aTimerLeftOverFromAnEarlierWaitDoesNotEndALaterOne() async {
        // A release notice ends the first wait; cancelling its timer comes too late and the timer still fires,
        // during the second wait. Only the second wait's own timer may end it.
        let timer = ManualTimer()
        let waiters = LockWaiters(timer: timer)
        let id = waiters.register("job")
        let firstWait = Task { await waiters.wait(id, name: "job", timeout: .seconds(3600)) }
        #expect(await waitsUntil { waiters.waitingCount("job") == 1 })
        waiters.wake("job")
        #expect(await returns(waiters, id: id, name: "job") { await firstWait.value })
        let secondWait = Task { await waiters.wait(id, name: "job", timeout: .seconds(3600)) }
        #expect(await waitsUntil { timer.scheduledCount == 2 && waiters.waitingCount("job") == 1 })
        timer.fire(0)
        #expect(waiters.waitingCount("job") == 1, "the first wait's timer ended the second wait")
        timer.fire(1)
        #expect(await returns(waiters, id: id, name: "job") { await secondWait.value })
        waiters.unregister(id, name: "job")
    }

    @Test func aReleaseNoticeBeforeTheWaitIsKeptForIt() async {
        let waiters = LockWaiters(timer: ManualTimer())
        let id = waiters.register("job")
        waiters.wake("job")
        #expect(
            await returns(waiters, id: id, name: "job") {
                await waiters.wait(id, name: "job", timeout: .seconds(3600))
            }
        )
        waiters.unregister(id, name: "job")
    }

    @Test func aNoticeWakesTheLongestWaitingWaiterAndOneLeavingPassesItOn() async {
        let waiters = LockWaiters(timer: ManualTimer())
        let first = waiters.register("job")
        let second = waiters.register("job")
        let firstWait = Task { await waiters.wait(first, name: "job", timeout: .seconds(3600)) }
        let secondWait = Task { await waiters.wait(second, name: "job", timeout: .seconds(3600)) }
        #expect(await waitsUntil { waiters.waitingCount("job") == 2 })
        waiters.wake("job")
        #expect(await returns(waiters, id: first, name: "job") { await firstWait.value })
        #expect(waiters.waitingCount("job") == 1)
        // The first waiter gives up without the lock: its wake goes to the second.
        waiters.unregister(first, name: "job", passingWake: true)
        #expect(await returns(waiters, id: second, name: "job") { await secondWait.value })
        waiters.unregister(second, name: "job")
    }
}

/// Runs `operation` (which waits on `waiters`) and tells whether it returned within a generous limit: "it did
/// not hang", not a measurement. A wait that hangs is ended through `unregister` so the test can finish.
private func returns<Timer: LockWaitTimer>(
    _ waiters: LockWaiters<Timer>,
    id: UInt64,
    name: String,
    _ operation: @escaping @Sendable () async -> Void
) async -> Bool {
    let task = Task { await operation() }
    let finished = await withTaskGroup(of: Bool.self) { group in
        group.addTask {
            await task.value
            return true
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(10))
            return false
        }
        let first = await group.next() ?? false
        if !first { waiters.unregister(id, name: name) }
        group.cancelAll()
        return first
    }
    return finished
}

/// Polls `condition` until it holds, up to a generous limit.
private func waitsUntil(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<1000 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Fires every timer inside `schedule`, before it returns: the earliest a timer can possibly fire.
private struct ImmediateTimer: LockWaitTimer {
    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> Int {
        fire()
        return 0
    }

    func cancel(_ handle: Int) {}
}

/// Fires a timer only when the test says so, and ignores cancellation, like a timer whose cancellation came
/// after it had started to fire.
private final class ManualTimer: LockWaitTimer, @unchecked Sendable {
    private let lock = NSLock()
    private var scheduled: [@Sendable () -> Void] = []

    var scheduledCount: Int { self.lock.withLock { self.scheduled.count } }

    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> Int {
        self.lock.withLock {
            self.scheduled.append(fire)
            return self.scheduled.count - 1
        }
    }

    func cancel(_ handle: Int) {}

    /// Fires the `index`th timer scheduled so far.
    func fire(_ index: Int) {
        let fire = self.lock.withLock { self.scheduled[index] }
        fire()
    }
}
