import NIOConcurrencyHelpers
public import NIOCore
import Synchronization

/// One connection to Redis, safe to share between tasks.
///
/// Commands sent concurrently are written together: each caller's bytes go into one outbound buffer, and the
/// event loop writes and flushes everything that accumulated in a single system call (auto-pipelining). Replies
/// come back in order and resume their callers.
///
/// Cancelling a waiting caller, or its command timeout passing, fails only that caller; its reply is read and
/// discarded when it arrives, and the connection stays usable for everyone else.
public final class RedisConnection: Sendable {
    enum Waiter: Sendable {
        case one(UnsafeContinuation<RESPValue, any Error>)
        case many(UnsafeContinuation<[RESPValue], any Error>)
        case promise(EventLoopPromise<[RESPValue]>)
    }

    typealias Queue = RequestQueue<Waiter>
    typealias PushHandler = @Sendable ([RESPValue]) -> Void

    /// The NIO channel this connection writes to.
    public let channel: any Channel
    /// A number identifying this connection in logs.
    public let id: Int
    let state: NIOLockedValueBox<Queue>
    private let nextRequestID = Atomic<UInt64>(0)
    private let commandTimeoutNanoseconds: UInt64?
    private let sweepInterval: TimeAmount
    private let pushHandler: PushHandler?
    /// The timeout sweeper, while one runs: it is started when a request is enqueued on an idle connection and
    /// stops itself once nothing is pending, so an idle connection schedules nothing.
    private let sweeper = NIOLockedValueBox<RepeatedTask?>(nil)
    private let closeCallbacks = NIOLockedValueBox<[@Sendable () -> Void]>([])
    private let tracking = Atomic<Bool>(false)
    private let changedSessionState = Atomic<Bool>(false)

    /// Whether sends watch for commands that change the connection's session state (set on dedicated
    /// connections, which are handed from one lessee to the next; shared connections pay nothing).
    var tracksSessionState: Bool {
        get { self.tracking.load(ordering: .relaxed) }
        set { self.tracking.store(newValue, ordering: .relaxed) }
    }

    /// True once a command that changes session state (`SELECT`, `WATCH`, `MULTI`, `CLIENT`, `READONLY`, ...)
    /// was sent on a connection that tracks it; the pool resets such a connection before reusing it.
    var sessionStateChanged: Bool {
        get { self.changedSessionState.load(ordering: .relaxed) }
        set { self.changedSessionState.store(newValue, ordering: .relaxed) }
    }

    /// Commands after which the next lessee of the connection could inherit something.
    private static let sessionCommands: Set<String> = [
        "SELECT", "WATCH", "MULTI", "CLIENT", "READONLY", "READWRITE", "ASKING", "HELLO", "AUTH", "RESET",
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "SWAPDB",
    ]

    private func noteSessionState<C: Collection<RedisCommand>>(_ commands: C) {
        guard self.tracksSessionState, !self.sessionStateChanged else { return }
        if commands.contains(where: { Self.sessionCommands.contains($0.name.uppercased()) }) {
            self.sessionStateChanged = true
        }
    }

    init(
        channel: any Channel,
        id: Int,
        state: NIOLockedValueBox<Queue>,
        commandTimeout: Duration?,
        pushHandler: PushHandler?
    ) {
        self.channel = channel
        self.id = id
        self.state = state
        self.commandTimeoutNanoseconds = commandTimeout.map { UInt64(max(0, $0.nanoseconds)) }
        // A tenth of the command timeout, between 5 and 100 ms: how late past its deadline a caller may learn
        // that it timed out. Without a configured timeout, per-call timeouts are still checked every 100 ms.
        let granularity = (self.commandTimeoutNanoseconds ?? 1_000_000_000) / 10
        self.sweepInterval = .nanoseconds(Int64(min(max(granularity, 5_000_000), 100_000_000)))
        self.pushHandler = pushHandler
    }

    /// True once the connection has closed; every command then fails with ``RedisError/Code/connectionClosed``.
    public var isClosed: Bool { self.state.withLockedValue { $0.isClosed } }

    /// The number of requests written or buffered whose replies have not all arrived.
    public var inFlightCount: Int { self.state.withLockedValue { $0.inFlightCount } }

    /// Sends one command and returns its reply. An error reply is thrown as ``RedisError`` with code `.server`.
    /// - Parameters:
    ///   - command: The command.
    ///   - timeout: Overrides the configured command timeout; `nil` uses the configured one.
    /// - Returns: The reply.
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RESPValue {
        let value = try await self.sendRaw(command, timeout: timeout)
        if let error = RedisError.fromReply(value) { throw error }
        return value
    }

    /// Sends several commands in one write and returns every reply, error replies included, in order.
    /// - Parameters:
    ///   - commands: The commands, written back to back.
    ///   - timeout: Overrides the configured command timeout for the whole batch.
    /// - Returns: One value per command.
    public func pipeline(_ commands: [RedisCommand], timeout: Duration? = nil) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        return try await self.sendBatch(commands, expectedReplies: commands.count, kind: .regular, timeout: timeout)
    }

    /// Closes the connection; waiting callers fail with ``RedisError/Code/connectionClosed``.
    public func close() async {
        try? await self.channel.close()
    }

    // MARK: - Internals

    func sendRaw(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        self.noteSessionState(CollectionOfOne(command))
        let id = self.nextRequestID.wrappingAdd(1, ordering: .relaxed).newValue
        let (deadline, timeoutNanoseconds) = self.deadline(for: timeout)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<RESPValue, any Error>) in
                self.submit(.one(continuation)) { queue, waiter in
                    queue.enqueue(
                        id: id,
                        commands: CollectionOfOne(command),
                        waiter: waiter,
                        deadline: deadline,
                        timeout: timeoutNanoseconds,
                        collectsAll: false,
                        callerCancelled: Task.isCancelled
                    )
                }
            }
        } onCancel: {
            self.cancel(id: id)
        }
    }

    func sendBatch(
        _ commands: [RedisCommand],
        expectedReplies: Int,
        kind: Queue.ReplyKind,
        timeout: Duration?
    ) async throws -> [RESPValue] {
        self.noteSessionState(commands)
        let id = self.nextRequestID.wrappingAdd(1, ordering: .relaxed).newValue
        let (deadline, timeoutNanoseconds) = self.deadline(for: timeout)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<[RESPValue], any Error>) in
                self.submit(.many(continuation)) { queue, waiter in
                    queue.enqueue(
                        id: id,
                        commands: commands,
                        waiter: waiter,
                        deadline: deadline,
                        timeout: timeoutNanoseconds,
                        kind: kind,
                        expectedReplies: expectedReplies,
                        collectsAll: true,
                        callerCancelled: Task.isCancelled
                    )
                }
            }
        } onCancel: {
            self.cancel(id: id)
        }
    }

    /// Buffers commands synchronously and returns a future of their replies. Callers that must order their
    /// writes with their own state (the subscriber) enqueue while holding their lock.
    func enqueue(
        _ commands: [RedisCommand],
        expectedReplies: Int,
        kind: Queue.ReplyKind,
        timeout: Duration? = nil
    ) -> EventLoopFuture<[RESPValue]> {
        let promise = self.channel.eventLoop.makePromise(of: [RESPValue].self)
        let id = self.nextRequestID.wrappingAdd(1, ordering: .relaxed).newValue
        let (deadline, timeoutNanoseconds) = self.deadline(for: timeout)
        self.submit(.promise(promise)) { queue, waiter in
            queue.enqueue(
                id: id,
                commands: commands,
                waiter: waiter,
                deadline: deadline,
                timeout: timeoutNanoseconds,
                kind: kind,
                expectedReplies: expectedReplies,
                collectsAll: true
            )
        }
        return promise.futureResult
    }

    /// Enqueues under the lock, starts the timeout sweeper if this request found the connection idle, and
    /// schedules the flush or resumes the waiter with a refusal.
    @inline(__always)
    private func submit(_ waiter: Waiter, _ enqueue: (inout Queue, Waiter) -> Queue.EnqueueResult) {
        let (result, armSweeper) = self.state.withLockedValue { queue in
            (enqueue(&queue, waiter), queue.armSweeperIfNeeded())
        }
        if armSweeper { self.startSweeper() }
        switch result {
        case .scheduleFlush:
            self.channel.eventLoop.execute { self.flush() }
        case .flushAlreadyScheduled:
            break
        case .refused(let error):
            waiter.resume(throwing: error)
        case .cancelled:
            waiter.resume(throwing: CancellationError())
        }
    }

    /// The deadline (uptime nanoseconds) and the timeout it came from; `.max` for both when there is none.
    private func deadline(for timeout: Duration?) -> (deadline: UInt64, timeout: UInt64) {
        let nanoseconds = timeout.map { UInt64(max(0, $0.nanoseconds)) } ?? self.commandTimeoutNanoseconds
        guard let nanoseconds else { return (.max, .max) }
        let (deadline, overflow) = NIODeadline.now().uptimeNanoseconds.addingReportingOverflow(nanoseconds)
        return (overflow ? .max : deadline, nanoseconds)
    }

    private func flush() {
        guard let bytes = self.state.withLockedValue({ $0.takeOutbound() }) else { return }
        self.channel.writeAndFlush(bytes, promise: nil)
    }

    private func cancel(id: UInt64) {
        let completion = self.state.withLockedValue {
            $0.cancel(id: id, error: RedisError(.connectionClosed, "cancelled"))
        }
        if case .failure(let waiter, _) = completion {
            waiter.resume(throwing: CancellationError())
        }
    }

    /// Registers a callback run once when the connection closes.
    func onClose(_ callback: @escaping @Sendable () -> Void) {
        let alreadyClosed = self.closeCallbacks.withLockedValue { callbacks -> Bool in
            if self.isClosed { return true }
            callbacks.append(callback)
            return false
        }
        if alreadyClosed { callback() }
    }

    /// Starts the timeout sweeper; called by whoever armed it in the queue (once per busy period).
    private func startSweeper() {
        let interval = self.sweepInterval
        let task = self.channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            if !self.sweepTimeouts() { task.cancel() }
        }
        self.sweeper.withLockedValue { $0 = task }
    }

    /// Fails overdue callers and closes a connection that looks dead. Returns false once nothing is pending
    /// (the queue disarmed the sweeper under its lock; the next enqueue starts a new one).
    private func sweepTimeouts() -> Bool {
        let (completions, looksDead, keepSweeping) = self.state.withLockedValue {
            $0.expire(now: NIODeadline.now().uptimeNanoseconds, deadAfter: self.commandTimeoutNanoseconds)
        }
        for completion in completions { completion.resume() }
        if looksDead {
            self.channel.close(promise: nil)
        }
        return keepSweeping
    }
}

extension RedisConnection: RedisReplySink {
    func received(_ values: [RESPValue]) {
        var completions: [Queue.Completion] = []
        completions.reserveCapacity(values.count)
        var pushes: [[RESPValue]] = []
        var outOfStep = false
        self.state.withLockedValue { queue in
            for value in values {
                switch queue.receive(value) {
                case .completed(let completion): completions.append(completion)
                case .consumed: break
                case .push(let elements): pushes.append(elements)
                case .unexpected: outOfStep = true
                }
            }
        }
        for completion in completions { completion.resume() }
        if let pushHandler {
            for push in pushes { pushHandler(push) }
        }
        if outOfStep {
            self.fail(RedisError(.protocolViolation, "received a reply no request was waiting for"))
            self.channel.close(promise: nil)
        }
    }

    func protocolViolation(_ error: RESPDecodingError) {
        self.fail(RedisError(.protocolViolation, error.message, underlying: error))
    }

    func closed(error: (any Error)?) {
        let message = error.map { "connection closed: \($0)" } ?? "connection closed"
        self.fail(RedisError(.connectionClosed, message, underlying: error))
    }

    private func fail(_ error: RedisError) {
        let completions = self.state.withLockedValue { $0.close(error: error) }
        for completion in completions { completion.resume() }
        self.sweeper.withLockedValue { task in
            task?.cancel()
            task = nil
        }
        let callbacks = self.closeCallbacks.withLockedValue { callbacks in
            defer { callbacks = [] }
            return callbacks
        }
        for callback in callbacks { callback() }
    }
}

extension RedisConnection.Waiter {
    func resume(throwing error: any Error) {
        switch self {
        case .one(let continuation): continuation.resume(throwing: error)
        case .many(let continuation): continuation.resume(throwing: error)
        case .promise(let promise): promise.fail(error)
        }
    }
}

extension RequestQueue<RedisConnection.Waiter>.Completion {
    func resume() {
        switch self {
        case .value(.one(let continuation), let value): continuation.resume(returning: value)
        case .value(.many(let continuation), let value): continuation.resume(returning: [value])
        case .values(.many(let continuation), let values): continuation.resume(returning: values)
        case .values(.one(let continuation), let values):
            continuation.resume(returning: values.last ?? .null)
        case .value(.promise(let promise), let value): promise.succeed([value])
        case .values(.promise(let promise), let values): promise.succeed(values)
        case .failure(let waiter, let error): waiter.resume(throwing: error)
        }
    }
}

extension Duration {
    /// The duration in nanoseconds, clamped to the range of Int64 (about ±292 years).
    var nanoseconds: Int64 {
        if self >= .nanoseconds(Int64.max) { return .max }
        if self <= .nanoseconds(Int64.min) { return .min }
        let (seconds, attoseconds) = self.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}
