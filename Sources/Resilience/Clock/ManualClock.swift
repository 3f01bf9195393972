import Synchronization

/// A clock that only moves when told to: a **test clock** for code that is generic over `Clock`.
///
/// `sleep(until:)` suspends until ``advance(by:)`` (or ``advance(to:)``, ``advanceToNextDeadline()``) moves
/// the time to the sleeper's deadline or past it. Tests never wait on wall time: they wait until the code
/// under test is asleep (``waitForSleepers(_:dueBy:)``), check where it sleeps to (``sleeperDeadlines``), and
/// move the time on. A cancelled sleeper throws `CancellationError` at once and is no longer counted.
///
/// ```swift
/// let clock = ManualClock()
/// let call = Task { try await pipeline.run(idempotent: true) { _ in try await flaky() } }
/// try await clock.waitForSleepers(1)        // the pipeline waits before its retry
/// #expect(clock.nextDeadline == clock.now.advanced(by: .milliseconds(100)))
/// clock.advanceToNextDeadline()
/// ```
///
/// It lives in the library (not only in its tests) so that services using `Resilience` can test their own
/// timeouts and retries the same way; it has no other use in production code.
public final class ManualClock: Clock, Sendable {
    /// A point in the manual clock's time: an offset from its zero.
    public struct Instant: InstantProtocol, Sendable, Hashable, Comparable, CustomStringConvertible {
        /// The time since the clock's zero.
        public var offset: Duration

        /// Creates an instant.
        /// - Parameter offset: The time since the clock's zero.
        public init(offset: Duration) {
            self.offset = offset
        }

        /// The instant `duration` later.
        /// - Parameter duration: How far to move (may be negative).
        public func advanced(by duration: Duration) -> Self {
            Self(offset: self.offset + duration)
        }

        /// The time from this instant to another.
        /// - Parameter other: The other instant.
        public func duration(to other: Self) -> Duration {
            other.offset - self.offset
        }

        /// Orders instants by offset.
        /// - Parameters:
        ///   - lhs: One instant.
        ///   - rhs: Another.
        public static func < (lhs: Self, rhs: Self) -> Bool {
            lhs.offset < rhs.offset
        }

        public var description: String { "ManualClock.Instant(\(self.offset))" }
    }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Watcher {
        var count: Int
        var dueBy: Instant?
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Instant
        var nextID: UInt64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var watchers: [UInt64: Watcher] = [:]

        mutating func makeID() -> UInt64 {
            self.nextID += 1
            return self.nextID
        }

        /// How many sleepers there are (with a deadline no later than `dueBy`, if given).
        func sleeperCount(dueBy: Instant?) -> Int {
            guard let dueBy else { return self.sleepers.count }
            return self.sleepers.values.count(where: { $0.deadline <= dueBy })
        }

        /// Removes and returns the watchers whose count of sleepers is reached.
        mutating func satisfiedWatchers() -> [CheckedContinuation<Void, any Error>] {
            let ready = self.watchers.filter { $0.value.count <= self.sleeperCount(dueBy: $0.value.dueBy) }
            for id in ready.keys { self.watchers[id] = nil }
            return ready.values.map(\.continuation)
        }
    }

    private let state: Mutex<State>

    /// Creates a clock.
    /// - Parameter now: The starting time (the clock's zero by default).
    public init(now: Instant = Instant(offset: .zero)) {
        self.state = Mutex(State(now: now))
    }

    /// The current time.
    public var now: Instant {
        self.state.withLock { $0.now }
    }

    /// Zero: sleepers wake exactly at their deadline.
    public var minimumResolution: Duration { .zero }

    /// How many tasks are suspended in ``sleep(until:tolerance:)``.
    public var sleeperCount: Int {
        self.state.withLock { $0.sleepers.count }
    }

    /// The deadlines of the suspended sleepers, earliest first.
    public var sleeperDeadlines: [Instant] {
        self.state.withLock { $0.sleepers.values.map(\.deadline) }.sorted()
    }

    /// The earliest deadline of a suspended sleeper, if any.
    public var nextDeadline: Instant? {
        self.state.withLock { $0.sleepers.values.map(\.deadline).min() }
    }

    /// Suspends until the clock is advanced to `deadline` or past it; returns at once when it already is.
    /// - Parameters:
    ///   - deadline: When to wake.
    ///   - tolerance: Ignored: a manual clock is exact.
    /// - Throws: `CancellationError` when the task is (or gets) cancelled.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let id = self.state.withLock { $0.makeID() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Action {
                    case resume
                    case cancel
                    case wait([CheckedContinuation<Void, any Error>])
                }
                let action = self.state.withLock { state -> Action in
                    if deadline <= state.now { return .resume }
                    // A cancellation that happened before this point found nothing to remove: honour it here.
                    if Task.isCancelled { return .cancel }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return .wait(state.satisfiedWatchers())
                }
                switch action {
                case .resume: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                case .wait(let watchers): for watcher in watchers { watcher.resume() }
                }
            }
        } onCancel: {
            let sleeper = self.state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the time forward and wakes every sleeper whose deadline is reached, earliest first.
    /// - Parameter duration: How far to move (not negative).
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "a manual clock does not go backwards")
        let due = self.state.withLock { state in
            state.now = state.now.advanced(by: duration)
            return Self.takeDue(&state)
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves the time forward to `instant` (nothing happens if it is not in the future) and wakes every
    /// sleeper whose deadline is reached, earliest first.
    /// - Parameter instant: The new time.
    public func advance(to instant: Instant) {
        let due = self.state.withLock { state in
            state.now = max(state.now, instant)
            return Self.takeDue(&state)
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves the time to the earliest sleeper's deadline and wakes the sleepers due then.
    /// - Returns: How far the time moved, or nil when nobody sleeps.
    @discardableResult
    public func advanceToNextDeadline() -> Duration? {
        let (moved, due) = self.state.withLock { state -> (Duration?, [CheckedContinuation<Void, any Error>]) in
            guard let next = state.sleepers.values.map(\.deadline).min() else { return (nil, []) }
            let moved = max(.zero, state.now.duration(to: next))
            state.now = max(state.now, next)
            return (moved, Self.takeDue(&state))
        }
        for continuation in due { continuation.resume() }
        return moved
    }

    /// Returns once at least `count` tasks are suspended in ``sleep(until:tolerance:)``: the deterministic
    /// way for a test to know that the code under test has reached its wait.
    /// - Parameters:
    ///   - count: How many sleepers to wait for.
    ///   - dueBy: Count only sleepers whose deadline is no later than this (to tell, say, a retry's backoff
    ///     from a timeout's timer that sleeps beside it); nil counts every sleeper.
    /// - Throws: `CancellationError` when the waiting task is cancelled.
    public func waitForSleepers(_ count: Int = 1, dueBy: Instant? = nil) async throws {
        try Task.checkCancellation()
        let id = self.state.withLock { $0.makeID() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Action {
                    case resume
                    case cancel
                    case wait
                }
                let action = self.state.withLock { state -> Action in
                    if state.sleeperCount(dueBy: dueBy) >= count { return .resume }
                    if Task.isCancelled { return .cancel }
                    state.watchers[id] = Watcher(count: count, dueBy: dueBy, continuation: continuation)
                    return .wait
                }
                switch action {
                case .resume: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let watcher = self.state.withLock { $0.watchers.removeValue(forKey: id) }
            watcher?.continuation.resume(throwing: CancellationError())
        }
    }

    private static func takeDue(_ state: inout State) -> [CheckedContinuation<Void, any Error>] {
        let now = state.now
        let due = state.sleepers.filter { $0.value.deadline <= now }
            .sorted { ($0.value.deadline, $0.key) < ($1.value.deadline, $1.key) }
        for (id, _) in due { state.sleepers[id] = nil }
        return due.map(\.value.continuation)
    }
}
