public import Metrics
import Synchronization

/// Settings of a ``Bulkhead``.
public struct BulkheadConfiguration: Sendable {
    /// How many calls may run at once. Default 25.
    public var maxConcurrentCalls: Int = 25
    /// How many calls may wait for a free slot; more are refused at once. Default 0: a call that finds every
    /// slot taken is refused without waiting.
    public var maxWaitingCalls: Int = 0
    /// How long a call waits for a slot before it is refused; nil waits until the caller is cancelled (or a
    /// pipeline's deadline passes). Default 1 s.
    public var maxWait: Duration? = .seconds(1)

    /// Creates a configuration with the defaults.
    public init() {}

    /// Creates a configuration.
    /// - Parameters:
    ///   - maxConcurrentCalls: How many calls may run at once (at least 1).
    ///   - maxWaitingCalls: How many calls may wait for a slot.
    ///   - maxWait: How long a call waits for a slot; nil for no limit.
    public init(maxConcurrentCalls: Int, maxWaitingCalls: Int = 0, maxWait: Duration? = .seconds(1)) {
        self.maxConcurrentCalls = maxConcurrentCalls
        self.maxWaitingCalls = maxWaitingCalls
        self.maxWait = maxWait
    }
}

/// A concurrency limit: at most ``BulkheadConfiguration/maxConcurrentCalls`` calls run at once; others wait in
/// a bounded first-in-first-out queue for a bounded time, then fail with ``ResilienceError/Code/bulkheadFull``.
///
/// A slow provider then ties up a fixed number of tasks and connections instead of all of them. A slot freed
/// by a finishing call is handed straight to the longest waiter. A waiter that is cancelled or gives up
/// leaves the queue without taking a slot, so it never releases one either.
public final class Bulkhead<C: Clock>: Sendable where C.Duration == Duration {
    enum Admission: Sendable, Equatable {
        case acquired
        /// Refused: every slot and the queue were taken, or the bulkhead's own wait ran out.
        case full
        /// The caller's deadline passed first.
        case deadlinePassed
    }

    private enum Waiter {
        /// Queued; its task has not suspended yet.
        case pending
        case waiting(CheckedContinuation<Void, any Error>)
        /// Decided before its task suspended.
        case resolved(Result<Void, any Error>)
    }

    private struct State {
        var inUse = 0
        var queue: [UInt64] = []
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0

        mutating func dequeue(_ id: UInt64) {
            if let index = self.queue.firstIndex(of: id) { self.queue.remove(at: index) }
        }
    }

    private enum Entry {
        case acquired
        case refused
        case queued(UInt64)
    }

    /// Thrown inside the wait when the bulkhead's own or the caller's deadline passes.
    private struct WaitExpired: Error {}

    /// The name used in metrics labels and errors.
    public let name: String
    /// The settings.
    public let configuration: BulkheadConfiguration
    let clock: C
    private let state = Mutex(State())
    private let metrics: BulkheadMetrics

    /// Creates a bulkhead.
    /// - Parameters:
    ///   - name: The name used in metrics labels and errors.
    ///   - configuration: Limits.
    ///   - clock: The clock that measures the wait.
    ///   - metricsFactory: Where metrics go; defaults to the bootstrapped `MetricsSystem`.
    public init(
        name: String,
        configuration: BulkheadConfiguration = .init(),
        clock: C,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        precondition(configuration.maxConcurrentCalls >= 1, "maxConcurrentCalls must be at least 1")
        precondition(configuration.maxWaitingCalls >= 0, "maxWaitingCalls must not be negative")
        self.name = name
        self.configuration = configuration
        self.clock = clock
        self.metrics = BulkheadMetrics(name: name, factory: metricsFactory ?? MetricsSystem.factory)
    }

    /// Calls running now.
    public var inUse: Int { self.state.withLock { $0.inUse } }
    /// Calls waiting for a slot now.
    public var waiting: Int { self.state.withLock { $0.queue.count } }

    /// Runs `operation` in a slot, waiting for one as configured.
    /// - Parameters:
    ///   - isolation: The caller's isolation, inherited so `operation` need not be `Sendable`.
    ///   - operation: The limited call.
    /// - Returns: The operation's result.
    /// - Throws: ``ResilienceError/Code/bulkheadFull`` without running the operation when no slot was had;
    ///   `CancellationError` when cancelled while waiting; otherwise whatever the operation throws.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> T
    ) async throws -> T {
        switch try await self.acquire(deadline: nil) {
        case .acquired: break
        case .full, .deadlinePassed: throw ResilienceError.bulkheadFull(self.name)
        }
        defer { self.release() }
        return try await operation()
    }

    // MARK: Slots

    /// Takes a slot, waiting as configured but not past `deadline`. On `.acquired` the caller must call
    /// ``release()`` exactly once.
    /// - Throws: `CancellationError` when cancelled while waiting (no slot is held then).
    func acquire(deadline callerDeadline: C.Instant?) async throws -> Admission {
        let now = self.clock.now
        let ownDeadline = self.configuration.maxWait.map { now.advanced(by: $0) }
        let deadline: C.Instant?
        let callerFirst: Bool
        switch (ownDeadline, callerDeadline) {
        case (let own?, let caller?):
            deadline = min(own, caller)
            callerFirst = caller < own
        case (let own?, nil):
            deadline = own
            callerFirst = false
        case (nil, let caller?):
            deadline = caller
            callerFirst = true
        case (nil, nil):
            deadline = nil
            callerFirst = false
        }
        let canWait = deadline.map { $0 > now } ?? true
        let entry = self.state.withLock { state -> Entry in
            if state.inUse < self.configuration.maxConcurrentCalls && state.queue.isEmpty {
                state.inUse += 1
                self.metrics.occupancy(inUse: state.inUse, waiting: state.queue.count)
                return .acquired
            }
            guard canWait, state.queue.count < self.configuration.maxWaitingCalls else { return .refused }
            state.nextID += 1
            let id = state.nextID
            state.queue.append(id)
            state.waiters[id] = .pending
            self.metrics.occupancy(inUse: state.inUse, waiting: state.queue.count)
            return .queued(id)
        }
        switch entry {
        case .acquired:
            return .acquired
        case .refused:
            if callerFirst && !canWait { return .deadlinePassed }
            self.metrics.rejectedCall()
            return .full
        case .queued(let id):
            do {
                try await self.wait(id, until: deadline)
                return .acquired
            } catch is WaitExpired {
                if callerFirst { return .deadlinePassed }
                self.metrics.rejectedCall()
                return .full
            }
        }
    }

    /// Frees a slot taken with ``acquire(deadline:)``, handing it to the longest waiter if there is one.
    func release() {
        let continuation = self.state.withLock { state -> CheckedContinuation<Void, any Error>? in
            defer { self.metrics.occupancy(inUse: state.inUse, waiting: state.queue.count) }
            guard !state.queue.isEmpty else {
                precondition(state.inUse > 0, "bulkhead released more slots than it gave")
                state.inUse -= 1
                return nil
            }
            // Hand the slot over: inUse stays the same.
            let id = state.queue.removeFirst()
            switch state.waiters[id] {
            case .waiting(let continuation):
                state.waiters[id] = nil
                return continuation
            case .pending:
                state.waiters[id] = .resolved(.success(()))
                return nil
            case .resolved, nil:
                preconditionFailure("a queued waiter is always pending or waiting")
            }
        }
        continuation?.resume()
    }

    private func wait(_ id: UInt64, until deadline: C.Instant?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let deadline {
                group.addTask {
                    do {
                        try await self.clock.sleep(until: deadline, tolerance: nil)
                    } catch {
                        return  // the slot came first (or the caller was cancelled)
                    }
                    self.resolve(id, with: .failure(WaitExpired()))
                }
            }
            try await self.suspend(id)
            group.cancelAll()
        }
    }

    private func suspend(_ id: UInt64) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let decided = self.state.withLock { state -> Result<Void, any Error>? in
                    switch state.waiters[id] {
                    case .resolved(let result):
                        state.waiters[id] = nil
                        return result
                    case .pending:
                        // A cancellation before this point found the waiter pending and resolved it; one that
                        // raced with it is seen here.
                        if Task.isCancelled {
                            state.waiters[id] = nil
                            state.dequeue(id)
                            self.metrics.occupancy(inUse: state.inUse, waiting: state.queue.count)
                            return .failure(CancellationError())
                        }
                        state.waiters[id] = .waiting(continuation)
                        return nil
                    case .waiting, nil:
                        preconditionFailure("a waiter suspends once")
                    }
                }
                if let decided { continuation.resume(with: decided) }
            }
        } onCancel: {
            self.resolve(id, with: .failure(CancellationError()))
        }
    }

    /// Takes a still-queued waiter out of the queue with a failure (cancelled or expired). A waiter that was
    /// already given a slot keeps it.
    private func resolve(_ id: UInt64, with result: Result<Void, any Error>) {
        let continuation = self.state.withLock { state -> CheckedContinuation<Void, any Error>? in
            switch state.waiters[id] {
            case .pending:
                state.dequeue(id)
                state.waiters[id] = .resolved(result)
                self.metrics.occupancy(inUse: state.inUse, waiting: state.queue.count)
                return nil
            case .waiting(let continuation):
                state.dequeue(id)
                state.waiters[id] = nil
                self.metrics.occupancy(inUse: state.inUse, waiting: state.queue.count)
                return continuation
            case .resolved, nil:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}

extension Bulkhead where C == ContinuousClock {
    /// Creates a bulkhead on the continuous clock.
    /// - Parameters:
    ///   - name: The name used in metrics labels and errors.
    ///   - configuration: Limits.
    ///   - metricsFactory: Where metrics go; defaults to the bootstrapped `MetricsSystem`.
    public convenience init(
        name: String,
        configuration: BulkheadConfiguration = .init(),
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.init(name: name, configuration: configuration, clock: ContinuousClock(), metricsFactory: metricsFactory)
    }
}
