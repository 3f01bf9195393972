import Synchronization

/// Background refreshes waiting for ``RedisCacheManager/run()``: bounded, one per key at a time.
final class RefreshQueue: Sendable {
    struct Job: Sendable {
        let key: String
        let work: @Sendable () async -> Void
    }

    private struct State: Sendable {
        var isOpen = false
        var keys: Set<String> = []
    }

    let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation
    private let state = Mutex(State())

    init(limit: Int) {
        (self.jobs, self.continuation) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingOldest(limit))
    }

    /// Starts accepting jobs (``RedisCacheManager/run()`` consumes them).
    func open() {
        self.state.withLock { $0.isOpen = true }
    }

    /// Stops accepting jobs.
    func close() {
        self.state.withLock { state in
            state.isOpen = false
            state.keys.removeAll()
        }
    }

    /// Queues `work` for `key` unless a job for it is queued or running.
    /// - Returns: False when the job was not queued because the queue is closed or full; true when it was queued
    ///   or one for the same key already was.
    func schedule(key: String, _ work: @escaping @Sendable () async -> Void) -> Bool {
        let accepted = self.state.withLock { state -> Bool? in
            guard state.isOpen else { return false }
            if state.keys.contains(key) { return true }
            state.keys.insert(key)
            return nil
        }
        if let accepted { return accepted }
        if case .enqueued = self.continuation.yield(Job(key: key, work: work)) {
            return true
        }
        self.finished(key: key)
        return false
    }

    /// Marks the job of `key` done.
    func finished(key: String) {
        _ = self.state.withLock { $0.keys.remove(key) }
    }
}
