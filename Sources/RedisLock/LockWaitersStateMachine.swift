/// The table behind ``LockWaiters`` as a pure state machine: it stores what it is given and says what to
/// resume, and never locks, schedules or resumes anything itself, so every order of events can be tested.
///
/// A wait can be ended by its timer, by its task's cancellation, or by a release notice, and each of these can
/// come before the wait is stored or after it is over:
/// - a release notice that arrives between waits is kept (`woken`) and ends the next wait at once;
/// - a cancellation that came first is seen when the wait starts (``startWait(_:name:continuation:isCancelled:)``);
/// - a timer is scheduled only after its wait is stored, so it always finds it, and a timer that fires late,
///   for a wait that is already over, is recognised by the wait's number and ignored.
struct LockWaitersStateMachine<Continuation: Sendable, TimerHandle: Sendable>: Sendable {
    /// A suspended wait to resume, and its timer to cancel (nil while it is being scheduled).
    struct Resumption: Sendable {
        var continuation: Continuation
        var timer: TimerHandle?
    }

    /// What ``startWait(_:name:continuation:isCancelled:)`` asks of its caller.
    enum StartAction: Sendable {
        /// End the wait at once: a release notice came since the last wait, the task is cancelled, or the waiter
        /// is not registered.
        case resume(Continuation)
        /// The wait is stored under this number: schedule its timer, then report it with
        /// ``timerScheduled(_:id:name:wait:)``.
        case scheduleTimer(wait: UInt64)
    }

    private enum Waiter: Sendable {
        /// Not suspended; `woken` when a release notice arrived meanwhile.
        case idle(woken: Bool)
        /// Suspended in wait number `wait`.
        case waiting(wait: UInt64, continuation: Continuation, timer: TimerHandle?)
    }

    private var waiters: [String: [UInt64: Waiter]] = [:]
    private var lastNumber: UInt64 = 0

    /// The locks that have waiters.
    var names: [String] { Array(self.waiters.keys) }

    /// How many waiters of `name` are suspended.
    func waitingCount(_ name: String) -> Int {
        self.waiters[name]?.values.count { if case .waiting = $0 { true } else { false } } ?? 0
    }

    /// Adds a waiter for `name` and returns its id.
    mutating func register(_ name: String) -> UInt64 {
        let id = self.nextNumber()
        self.waiters[name, default: [:]][id] = .idle(woken: false)
        return id
    }

    /// Removes a waiter; returns its wait if it was suspended.
    mutating func unregister(_ id: UInt64, name: String) -> Resumption? {
        let waiter = self.waiters[name]?.removeValue(forKey: id)
        if self.waiters[name]?.isEmpty == true { self.waiters[name] = nil }
        guard case .waiting(_, let continuation, let timer) = waiter else { return nil }
        return Resumption(continuation: continuation, timer: timer)
    }

    /// A wait begins; `isCancelled` is whether its task is already cancelled.
    mutating func startWait(
        _ id: UInt64,
        name: String,
        continuation: Continuation,
        isCancelled: Bool
    ) -> StartAction {
        guard case .idle(let woken) = self.waiters[name]?[id] else { return .resume(continuation) }
        if woken || isCancelled {
            self.waiters[name]?[id] = .idle(woken: false)
            return .resume(continuation)
        }
        let wait = self.nextNumber()
        self.waiters[name]?[id] = .waiting(wait: wait, continuation: continuation, timer: nil)
        return .scheduleTimer(wait: wait)
    }

    /// The timer of wait number `wait` was scheduled. Returns it when that wait is already over: cancel it.
    mutating func timerScheduled(_ timer: TimerHandle, id: UInt64, name: String, wait: UInt64) -> TimerHandle? {
        guard case .waiting(wait, let continuation, _) = self.waiters[name]?[id] else { return timer }
        self.waiters[name]?[id] = .waiting(wait: wait, continuation: continuation, timer: timer)
        return nil
    }

    /// The timer of wait number `wait` fired; returns the wait to resume if it is still that one.
    mutating func timerFired(id: UInt64, name: String, wait: UInt64) -> Resumption? {
        guard case .waiting(wait, let continuation, _) = self.waiters[name]?[id] else { return nil }
        self.waiters[name]?[id] = .idle(woken: false)
        // The timer has fired: nothing to cancel.
        return Resumption(continuation: continuation, timer: nil)
    }

    /// The waiter's task was cancelled; returns its wait to resume if it is suspended.
    mutating func cancel(id: UInt64, name: String) -> Resumption? {
        self.endWait(id, name: name, woken: false)
    }

    /// A release notice for `name`: the longest-waiting waiter is resumed, or woken for its next wait.
    mutating func wake(_ name: String) -> Resumption? {
        guard let oldest = self.waiters[name]?.keys.min() else { return nil }
        return self.endWait(oldest, name: name, woken: true)
    }

    /// Notices may have been missed: every waiter of `name` is resumed, or woken for its next wait.
    mutating func wakeEvery(_ name: String) -> [Resumption] {
        guard let ids = self.waiters[name]?.keys else { return [] }
        return ids.compactMap { self.endWait($0, name: name, woken: true) }
    }

    /// Ends a suspended wait (returned), or marks an idle waiter `woken` if asked.
    private mutating func endWait(_ id: UInt64, name: String, woken: Bool) -> Resumption? {
        switch self.waiters[name]?[id] {
        case .waiting(_, let continuation, let timer):
            self.waiters[name]?[id] = .idle(woken: false)
            return Resumption(continuation: continuation, timer: timer)
        case .idle:
            if woken { self.waiters[name]?[id] = .idle(woken: true) }
            return nil
        case nil:
            return nil
        }
    }

    private mutating func nextNumber() -> UInt64 {
        self.lastNumber += 1
        return self.lastNumber
    }
}
