/// How a time-limited operation ended.
enum RaceResult<T: Sendable>: Sendable {
    case finished(T)
    case timedOut
}

extension Clock where Duration == Swift.Duration {
    /// Runs `operation` in a child task and a timer beside it. When the timer fires first the operation's task
    /// is cancelled and this returns `.timedOut` once the operation has ended (structured concurrency: an
    /// operation that ignores cancellation delays it).
    /// - Throws: What the operation throws, if it ends first; `CancellationError` when the caller is cancelled.
    func race<T: Sendable>(
        until deadline: Instant,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> RaceResult<T> {
        try await withThrowingTaskGroup(of: RaceResult<T>.self) { group in
            group.addTask { .finished(try await operation()) }
            group.addTask {
                try await self.sleep(until: deadline, tolerance: nil)
                return .timedOut
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { preconditionFailure("two tasks were added") }
            return first
        }
    }
}
