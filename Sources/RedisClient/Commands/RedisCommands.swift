/// Anything that can run commands: ``RedisClient`` (shared connections) or a leased ``RedisConnection``.
///
/// Every typed helper (`get`, `set`, `hset`, `xadd`, ...) is an extension of this protocol, so the same
/// helpers work on the client and inside ``RedisClient/withConnection(_:)`` (for example after `WATCH`).
public protocol RedisCommands: Sendable {
    /// Sends a command; an error reply is thrown as ``RedisError`` with code `.server`.
    /// - Parameter command: The command.
    /// - Returns: The reply.
    func send(_ command: RedisCommand) async throws -> RESPValue

    /// Sends a command that may block on the server (`BLPOP`, `XREADGROUP ... BLOCK`).
    ///
    /// The client runs it on a dedicated connection so it never stalls other callers; a connection runs it
    /// directly. If the caller is cancelled while it blocks, the dedicated connection is closed so the server
    /// stops the command.
    /// - Parameters:
    ///   - command: The command.
    ///   - blockingFor: How long the server may block; added to the command timeout.
    /// - Returns: The reply.
    func sendBlocking(_ command: RedisCommand, blockingFor: Duration) async throws -> RESPValue
}

extension RedisClient: RedisCommands {
    public func sendBlocking(_ command: RedisCommand, blockingFor: Duration) async throws -> RESPValue {
        let timeout = (self.configuration.commandTimeout ?? .seconds(5)) + blockingFor.clampedToInt64Nanoseconds
        if command.keysSpanSlots, self.cluster != nil { throw RedisError.crossSlot(command) }
        return try await self.withConnection(slot: command.slot) { connection in
            try await connection.send(command, timeout: timeout)
        }
    }
}

extension RedisConnection: RedisCommands {
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        try await self.send(command, timeout: nil)
    }

    public func sendBlocking(_ command: RedisCommand, blockingFor: Duration) async throws -> RESPValue {
        try await self.send(command, timeout: .seconds(5) + blockingFor.clampedToInt64Nanoseconds)
    }
}

/// A key's remaining time to live.
public enum RedisTTL: Sendable, Hashable {
    /// The key does not exist.
    case missing
    /// The key exists and does not expire.
    case noExpiry
    /// The key expires after this long.
    case expires(in: Duration)
}

/// When `SET` should write.
public enum RedisSetCondition: Sendable, Hashable {
    /// Always.
    case always
    /// Only when the key does not exist (`NX`).
    case ifNotExists
    /// Only when the key exists (`XX`).
    case ifExists
}

extension Duration {
    /// `self` limited to what Int64 nanoseconds hold (about ±292 years).
    ///
    /// `.seconds(Int64.max)` is a natural way to say "forever", but adding the command timeout to it gives a
    /// duration whose `components` no longer fit in Int64, and reading them traps. Helpers clamp first.
    var clampedToInt64Nanoseconds: Duration {
        Swift.min(Swift.max(self, .nanoseconds(Int64.min)), .nanoseconds(Int64.max))
    }

    /// Whole milliseconds, rounded up so a positive duration never becomes 0; clamped to about ±292 years.
    var roundedUpMilliseconds: Int {
        let (milliseconds, remainder) = self.clampedToInt64Nanoseconds.nanoseconds
            .quotientAndRemainder(dividingBy: 1_000_000)
        return Int(remainder > 0 ? milliseconds + 1 : milliseconds)
    }
}
