import NIOCore

/// The bookkeeping of one connection: bytes waiting to be written, and the requests waiting for replies, in the
/// order their bytes were written.
///
/// A pure state machine (no I/O, no locks): the connection holds it under a lock and acts on what it returns.
/// Generic over the waiter so tests can drive it with plain values.
struct RequestQueue<Waiter: Sendable>: Sendable {
    /// How the replies of a request arrive.
    enum ReplyKind: Equatable, Sendable {
        /// Ordinary replies, one per command.
        case regular
        /// `SUBSCRIBE`-family confirmations, which RESP3 sends as push frames, one per channel.
        case pushConfirmations
    }

    struct Pending: Sendable {
        let id: UInt64
        /// Nil once the caller stopped waiting (cancelled or timed out): replies are then discarded.
        var waiter: Waiter?
        /// How many replies complete the request.
        let expected: Int
        let deadline: UInt64
        /// The request's own timeout (`deadline` minus the time it was enqueued); `.max` for none.
        let timeout: UInt64
        let kind: ReplyKind
        /// Whether the caller wants every reply (a pipeline) or only one.
        let collectsAll: Bool
        /// The bytes the request's commands took in the outbound stream.
        let bytes: Int
    }

    /// Caps on one connection's backlog, so a server that stops reading cannot make the client buffer without
    /// bound.
    struct Limits: Sendable, Hashable {
        /// The most requests waiting for replies.
        var maxPendingRequests: Int
        /// The most bytes of commands written or buffered whose replies have not all arrived. A single request
        /// larger than this is still accepted when nothing else is pending.
        var maxPendingBytes: Int

        static var unlimited: Limits { Limits(maxPendingRequests: .max, maxPendingBytes: .max) }
    }

    /// A request that finished, with what its waiter gets.
    enum Completion: Sendable {
        case value(Waiter, RESPValue)
        case values(Waiter, [RESPValue])
        case failure(Waiter, RedisError)
    }

    enum EnqueueResult {
        /// Bytes are buffered and a flush must be scheduled on the event loop.
        case scheduleFlush
        /// Bytes are buffered and a flush is already scheduled.
        case flushAlreadyScheduled
        /// The request was refused; its waiter gets this error.
        case refused(RedisError)
        /// The caller had already been cancelled.
        case cancelled
    }

    enum ReceiveResult {
        case completed(Completion)
        /// A reply was consumed for a request nobody waits for any more, or a partial pipeline reply.
        case consumed
        /// An out-of-band push frame (pub/sub message, invalidation) for the push handler.
        case push([RESPValue])
        /// A reply arrived with no request waiting for it: the stream is out of step and must be closed.
        case unexpected
    }

    let limits: Limits
    private(set) var pending = CircularBuffer<Pending>(initialCapacity: 16)
    /// Progress of the oldest request, kept outside the buffer so appending never copies an array.
    private var headReceived = 0
    private var headValues: [RESPValue] = []
    /// For a `.pushConfirmations` head: the command being answered and the replies it got so far.
    private var headCommand = 0
    private var headCommandReceived = 0
    /// For `.pushConfirmations` requests, by id: how many confirmations each command expects, in order. An error
    /// reply answers a whole command, so it ends that command's share, not the request. Kept out of `Pending`
    /// so ordinary requests stay small to copy.
    private var confirmationsPerCommand: [UInt64: [Int]] = [:]
    /// For `.pushConfirmations` requests, by id: the push kind that confirms each command (`ssubscribe` for
    /// `SSUBSCRIBE`), so a push of another kind in the middle — a `sunsubscribe` the server sends on its own when a
    /// slot moves — goes to the push handler instead of being counted as a confirmation.
    private var confirmationKinds: [UInt64: [String]] = [:]
    private(set) var outbound = ByteBuffer()
    private(set) var flushScheduled = false
    private(set) var closedError: RedisError?
    /// Bytes of the pending requests.
    private(set) var pendingBytes = 0
    /// Whether the timeout sweeper is running; it runs only while requests are pending.
    private(set) var sweeperArmed = false

    init(limits: Limits = .unlimited) {
        self.limits = limits
    }

    var isClosed: Bool { self.closedError != nil }
    var inFlightCount: Int { self.pending.count }

    /// Buffers the commands' bytes and records one pending request for them.
    ///
    /// - Parameter callerCancelled: Whether the calling task was already cancelled, read under the same lock
    ///   its cancellation handler takes: a cancellation that ran before this enqueue finds nothing to cancel,
    ///   so the enqueue itself must refuse.
    mutating func enqueue(
        id: UInt64,
        commands: some Collection<RedisCommand>,
        waiter: Waiter,
        deadline: UInt64,
        timeout: UInt64 = .max,
        kind: ReplyKind = .regular,
        expectedReplies: Int? = nil,
        collectsAll: Bool,
        callerCancelled: Bool = false
    ) -> EnqueueResult {
        if let closedError {
            // Nothing of this request was written: unlike the requests the close failed, it is safe to send again.
            return .refused(
                RedisError(
                    .connectionUnavailable,
                    "the connection had closed; nothing was sent",
                    underlying: closedError
                )
            )
        }
        if callerCancelled { return .cancelled }
        if !self.pending.isEmpty && self.pending.count >= self.limits.maxPendingRequests {
            return .refused(
                RedisError(
                    .overloaded,
                    "\(self.pending.count) requests are already waiting for replies on this connection (maxPendingRequests)"
                )
            )
        }
        let start = self.outbound.writerIndex
        for command in commands {
            command.write(into: &self.outbound)
        }
        let bytes = self.outbound.writerIndex - start
        if !self.pending.isEmpty && self.pendingBytes + bytes > self.limits.maxPendingBytes {
            self.outbound.moveWriterIndex(to: start)
            return .refused(
                RedisError(
                    .overloaded,
                    "\(self.pendingBytes) bytes of commands are already waiting for replies on this connection (maxPendingBytes)"
                )
            )
        }
        if kind == .pushConfirmations {
            self.confirmationsPerCommand[id] = commands.map { max(1, $0.count - 1) }
            self.confirmationKinds[id] = commands.map { $0.name.lowercased() }
        }
        self.pendingBytes += bytes
        self.pending.append(
            Pending(
                id: id,
                waiter: waiter,
                expected: expectedReplies ?? commands.count,
                deadline: deadline,
                timeout: timeout,
                kind: kind,
                collectsAll: collectsAll,
                bytes: bytes
            )
        )
        if self.flushScheduled { return .flushAlreadyScheduled }
        self.flushScheduled = true
        return .scheduleFlush
    }

    /// Claims the job of starting the timeout sweeper: true once while requests are pending and none runs.
    mutating func armSweeperIfNeeded() -> Bool {
        guard !self.sweeperArmed, !self.pending.isEmpty, !self.isClosed else { return false }
        self.sweeperArmed = true
        return true
    }

    /// Takes the buffered bytes for writing; nil when there are none.
    mutating func takeOutbound() -> ByteBuffer? {
        self.flushScheduled = false
        guard self.outbound.readableBytes > 0 else { return nil }
        let bytes = self.outbound
        self.outbound = ByteBuffer()
        return bytes
    }

    /// Routes one decoded top-level value.
    mutating func receive(_ value: RESPValue) -> ReceiveResult {
        if case .push(let elements) = value {
            guard let head = self.pending.first, head.kind == .pushConfirmations,
                self.isConfirmation(elements, for: head)
            else { return .push(elements) }
        }
        guard let head = self.pending.first else { return .unexpected }
        if head.collectsAll, head.waiter != nil {
            if self.headValues.isEmpty { self.headValues.reserveCapacity(head.expected) }
            self.headValues.append(value)
        }
        let finished: Bool
        if head.kind == .pushConfirmations {
            finished = self.receiveConfirmation(value, for: head)
        } else {
            self.headReceived += 1
            finished = self.headReceived >= head.expected
        }
        guard finished else { return .consumed }
        if head.kind == .pushConfirmations {
            self.confirmationsPerCommand[head.id] = nil
            self.confirmationKinds[head.id] = nil
        }
        self.pending.removeFirst()
        self.pendingBytes -= head.bytes
        self.headReceived = 0
        self.headCommand = 0
        self.headCommandReceived = 0
        let values = self.headValues
        self.headValues = []
        guard let waiter = head.waiter else { return .consumed }
        return .completed(head.collectsAll ? .values(waiter, values) : .value(waiter, value))
    }

    /// Counts one reply to a subscribe-family request; true when every command of it has been answered. A
    /// confirmation answers one channel; an ordinary reply (an error) answers the whole command.
    private mutating func receiveConfirmation(_ value: RESPValue, for head: Pending) -> Bool {
        let perCommand = self.confirmationsPerCommand[head.id] ?? []
        guard self.headCommand < perCommand.count else { return true }
        self.headCommandReceived += 1
        if !value.isPush || self.headCommandReceived >= perCommand[self.headCommand] {
            self.headCommand += 1
            self.headCommandReceived = 0
        }
        return self.headCommand >= perCommand.count
    }

    /// Stops waiting for a request's replies; they will be discarded when they arrive. A request that is not
    /// pending (already answered, or not enqueued yet) needs nothing: the enqueue of a cancelled caller is
    /// refused through `callerCancelled`.
    mutating func cancel(id: UInt64, error: RedisError) -> Completion? {
        guard let index = self.pending.firstIndex(where: { $0.id == id }),
            let waiter = self.pending[index].waiter
        else { return nil }
        self.pending[index].waiter = nil
        if index == self.pending.startIndex { self.headValues = [] }
        return .failure(waiter, error)
    }

    /// Fails every waiter whose deadline passed. Also reports whether the connection looks dead: its oldest
    /// request is overdue by `deadAfter` nanoseconds beyond its deadline (by its own timeout when `deadAfter` is
    /// nil). When nothing is pending the sweeper is disarmed (`keepSweeping` false) until the next enqueue arms
    /// it again.
    mutating func expire(
        now: UInt64,
        deadAfter: UInt64?
    ) -> (completions: [Completion], connectionLooksDead: Bool, keepSweeping: Bool) {
        if self.pending.isEmpty || self.isClosed {
            self.sweeperArmed = false
            return ([], false, false)
        }
        var completions: [Completion] = []
        var index = self.pending.startIndex
        while index != self.pending.endIndex {
            if self.pending[index].deadline <= now, let waiter = self.pending[index].waiter {
                self.pending[index].waiter = nil
                if index == self.pending.startIndex { self.headValues = [] }
                completions.append(.failure(waiter, RedisError(.commandTimeout, "no reply within the command timeout")))
            }
            index = self.pending.index(after: index)
        }
        var looksDead = false
        if let head = self.pending.first, head.deadline != .max {
            let (limit, overflow) = head.deadline.addingReportingOverflow(deadAfter ?? head.timeout)
            looksDead = !overflow && now >= limit
        }
        return (completions, looksDead, true)
    }

    /// Marks the queue closed and fails everything still waiting.
    mutating func close(error: RedisError) -> [Completion] {
        if self.closedError == nil { self.closedError = error }
        var completions: [Completion] = []
        while let request = self.pending.popFirst() {
            if let waiter = request.waiter { completions.append(.failure(waiter, error)) }
        }
        self.headReceived = 0
        self.headCommand = 0
        self.headCommandReceived = 0
        self.headValues = []
        self.pendingBytes = 0
        self.confirmationsPerCommand = [:]
        self.confirmationKinds = [:]
        self.sweeperArmed = false
        self.outbound.clear()
        return completions
    }

    /// Whether a push confirms the command of `head` being answered: a subscribe-family push of that command's own
    /// kind (when the command's kind is not known, any subscribe-family push).
    private func isConfirmation(_ elements: [RESPValue], for head: Pending) -> Bool {
        guard elements.count >= 3, let kind = elements.first?.asciiLowercasedString else { return false }
        switch kind {
        case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe":
            guard let kinds = self.confirmationKinds[head.id], self.headCommand < kinds.count else { return true }
            return kinds[self.headCommand] == kind
        default:
            return false
        }
    }
}

extension RESPValue {
    var isPush: Bool {
        if case .push = self { return true }
        return false
    }

    /// A simple or blob string as a lowercased String, for matching keywords in replies.
    var asciiLowercasedString: String? {
        switch self {
        case .simpleString(let bytes), .blobString(let bytes): String(buffer: bytes).lowercased()
        default: nil
        }
    }
}
