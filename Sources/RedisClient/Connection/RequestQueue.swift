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
        let kind: ReplyKind
        /// Whether the caller wants every reply (a pipeline) or only one.
        let collectsAll: Bool
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

    private(set) var pending = CircularBuffer<Pending>(initialCapacity: 16)
    /// Progress of the oldest request, kept outside the buffer so appending never copies an array.
    private var headReceived = 0
    private var headValues: [RESPValue] = []
    private(set) var outbound = ByteBuffer()
    private(set) var flushScheduled = false
    private(set) var closedError: RedisError?
    private var cancelledBeforeEnqueue: Set<UInt64> = []

    var isClosed: Bool { self.closedError != nil }
    var inFlightCount: Int { self.pending.count }

    /// Buffers the commands' bytes and records one pending request for them.
    mutating func enqueue(
        id: UInt64,
        commands: some Collection<RedisCommand>,
        waiter: Waiter,
        deadline: UInt64,
        kind: ReplyKind = .regular,
        expectedReplies: Int? = nil,
        collectsAll: Bool
    ) -> EnqueueResult {
        if let closedError { return .refused(closedError) }
        if !self.cancelledBeforeEnqueue.isEmpty, self.cancelledBeforeEnqueue.remove(id) != nil {
            return .cancelled
        }
        for command in commands {
            command.write(into: &self.outbound)
        }
        self.pending.append(
            Pending(
                id: id,
                waiter: waiter,
                expected: expectedReplies ?? commands.count,
                deadline: deadline,
                kind: kind,
                collectsAll: collectsAll
            )
        )
        if self.flushScheduled { return .flushAlreadyScheduled }
        self.flushScheduled = true
        return .scheduleFlush
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
                Self.isSubscriptionConfirmation(elements)
            else { return .push(elements) }
        }
        guard let head = self.pending.first else { return .unexpected }
        self.headReceived += 1
        if head.collectsAll, head.waiter != nil {
            if self.headValues.isEmpty { self.headValues.reserveCapacity(head.expected) }
            self.headValues.append(value)
        }
        // An ordinary reply to a SUBSCRIBE-family command is an error; it ends the whole request.
        let endsEarly = head.kind == .pushConfirmations && !value.isPush
        guard self.headReceived >= head.expected || endsEarly else { return .consumed }
        self.pending.removeFirst()
        self.headReceived = 0
        let values = self.headValues
        self.headValues = []
        guard let waiter = head.waiter else { return .consumed }
        return .completed(head.collectsAll ? .values(waiter, values) : .value(waiter, value))
    }

    /// Stops waiting for a request's replies; they will be discarded when they arrive.
    mutating func cancel(id: UInt64, error: RedisError) -> Completion? {
        if let index = self.pending.firstIndex(where: { $0.id == id }) {
            guard let waiter = self.pending[index].waiter else { return nil }
            self.pending[index].waiter = nil
            if index == self.pending.startIndex { self.headValues = [] }
            return .failure(waiter, error)
        }
        if !self.isClosed { self.cancelledBeforeEnqueue.insert(id) }
        return nil
    }

    /// Fails every waiter whose deadline passed. Also reports whether the connection looks dead: its oldest
    /// request is overdue by `deadAfter` nanoseconds beyond its deadline.
    mutating func expire(now: UInt64, deadAfter: UInt64) -> (completions: [Completion], connectionLooksDead: Bool) {
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
            let (limit, overflow) = head.deadline.addingReportingOverflow(deadAfter)
            looksDead = !overflow && now >= limit
        }
        return (completions, looksDead)
    }

    /// Marks the queue closed and fails everything still waiting.
    mutating func close(error: RedisError) -> [Completion] {
        if self.closedError == nil { self.closedError = error }
        var completions: [Completion] = []
        while let request = self.pending.popFirst() {
            if let waiter = request.waiter { completions.append(.failure(waiter, error)) }
        }
        self.headReceived = 0
        self.headValues = []
        self.outbound.clear()
        self.cancelledBeforeEnqueue.removeAll()
        return completions
    }

    private static func isSubscriptionConfirmation(_ elements: [RESPValue]) -> Bool {
        guard elements.count >= 3, let kind = elements.first?.asciiLowercasedString else { return false }
        switch kind {
        case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe": return true
        default: return false
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
