import NIOConcurrencyHelpers

/// Local waiters for locks, woken when a release notice for their lock arrives.
///
/// A waiter registers *before* it tries to acquire, so a release that happens between its failed attempt and
/// its wait is not lost: the notice marks it woken and its wait returns at once. The table itself is
/// ``LockWaitersStateMachine``; this class adds the lock, the continuations and the timers.
final class LockWaiters<Timer: LockWaitTimer>: Sendable {
    private typealias Table = LockWaitersStateMachine<CheckedContinuation<Void, Never>, Timer.Handle>

    private let state = NIOLockedValueBox(Table())
    private let timer: Timer

    /// Creates an empty table whose waits time out with `timer`.
    init(timer: Timer) {
        self.timer = timer
    }

    /// Registers a waiter for `name`; call ``unregister(_:name:passingWake:)`` when done.
    func register(_ name: String) -> UInt64 {
        self.state.withLockedValue { $0.register(name) }
    }

    /// Removes a waiter.
    ///
    /// A waiter that leaves without the lock (its wait ended, it was cancelled, an attempt failed) passes
    /// `passingWake` so the next waiter tries in its place: the wake it may have taken is not lost.
    func unregister(_ id: UInt64, name: String, passingWake: Bool = false) {
        self.resume(self.state.withLockedValue { $0.unregister(id, name: name) })
        if passingWake { self.wake(name) }
    }

    /// Suspends until a release notice for `name` arrives, `timeout` passes, or the task is cancelled.
    /// Returns at once if a notice arrived since the waiter registered or last waited, or if the task is
    /// already cancelled.
    func wait(_ id: UInt64, name: String, timeout: Duration) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let action = self.state.withLockedValue {
                    $0.startWait(id, name: name, continuation: continuation, isCancelled: Task.isCancelled)
                }
                switch action {
                case .resume(let continuation):
                    continuation.resume()
                case .scheduleTimer(let wait):
                    // The wait is stored before its timer exists: however soon the timer fires, it finds it.
                    let handle = self.timer.schedule(after: timeout) {
                        self.resume(self.state.withLockedValue { $0.timerFired(id: id, name: name, wait: wait) })
                    }
                    let over = self.state.withLockedValue {
                        $0.timerScheduled(handle, id: id, name: name, wait: wait)
                    }
                    if let over { self.timer.cancel(over) }
                }
            }
        } onCancel: {
            self.resume(self.state.withLockedValue { $0.cancel(id: id, name: name) })
        }
    }

    /// Wakes the longest-waiting waiter of `name` (a release notice arrived).
    ///
    /// One waiter per instance competes for a released lock instead of all of them: the others would only
    /// find it taken again, and their attempts would slow the holder down. A waiter that was woken but
    /// leaves without the lock passes the wake on (``unregister(_:name:passingWake:)``), so none is lost.
    func wake(_ name: String) {
        self.resume(self.state.withLockedValue { $0.wake(name) })
    }

    /// Wakes every waiter of every lock (notices may have been missed).
    func wakeAll() {
        let resumptions = self.state.withLockedValue { table in
            var resumptions: [Table.Resumption] = []
            for name in table.names { resumptions += table.wakeEvery(name) }
            return resumptions
        }
        for resumption in resumptions { self.resume(resumption) }
    }

    /// How many waiters of each lock are suspended in ``wait(_:name:timeout:)`` now (none: left out).
    func waitingCounts() -> [String: Int] {
        self.state.withLockedValue { table in
            var counts: [String: Int] = [:]
            for name in table.names {
                let count = table.waitingCount(name)
                if count > 0 { counts[name] = count }
            }
            return counts
        }
    }

    /// How many waiters of `name` are suspended in ``wait(_:name:timeout:)`` now.
    func waitingCount(_ name: String) -> Int {
        self.state.withLockedValue { $0.waitingCount(name) }
    }

    private func resume(_ resumption: Table.Resumption?) {
        guard let resumption else { return }
        if let timer = resumption.timer { self.timer.cancel(timer) }
        resumption.continuation.resume()
    }
}
