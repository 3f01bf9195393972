import RedisClient

/// Idempotent handling for handlers whose effects live in Redis: the effects and a "processed" marker for the
/// message id are applied in one Lua script, so a redelivered message changes nothing the second time.
///
/// ```swift
/// let processed = RedisProcessedMessages(queue: queue, consumer: "loyalty-points")
/// let consumer = QueueConsumer(queue: queue, topic: "orders", group: "loyalty-points") { message in
///     let order = try message.decodePayload(as: OrderPlaced.self)
///     try await processed.applyOnce(message, [["HINCRBY", "points:{orders}", order.userID, "10"]])
/// }
/// ```
///
/// The marker key is `<prefix>{<topic>}:processed:<consumer>:<message id>`; on Redis Cluster the effect keys
/// must share the topic's hash tag (`{<topic>}`) to run in the same script. Effects in a database are made
/// idempotent in the database instead: insert `(consumer, message id)` into a `processed_messages` table with a
/// unique key in the same transaction as the effects, and skip the message when the row exists (see
/// `docs/queue.md`).
public struct RedisProcessedMessages: Sendable {
    /// The queue.
    public let queue: StreamQueue
    /// The name the markers are kept under (usually the consumer group).
    public let consumer: String
    /// How long markers are kept; nil keeps them forever. A marker must outlive every way its message can come
    /// back — retries, redeliveries, and dead letters, which are kept until someone replays or deletes them — or a
    /// late copy applies its effects again.
    public let retention: Duration?

    /// The effects first, the marker last, in one script: a command that fails leaves no marker (and the message
    /// fails, to be retried), so a marker always means the effects were applied.
    private static let applyScript = RedisScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        local i = 2
        while i <= #ARGV do
          local n = tonumber(ARGV[i])
          redis.call(unpack(ARGV, i + 1, i + n))
          i = i + n + 1
        end
        if ARGV[1] == '0' then
          redis.call('SET', KEYS[1], '1')
        else
          redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
        end
        return 1
        """
    )

    /// Creates the helper.
    /// - Parameters:
    ///   - queue: The queue.
    ///   - consumer: The name the markers are kept under (usually the consumer group).
    ///   - retention: How long markers are kept (nil: forever); 7 days by default. Keep it longer than any dead
    ///     letter of the topic may wait before it is replayed.
    public init(queue: StreamQueue, consumer: String, retention: Duration? = .seconds(7 * 24 * 3600)) {
        self.queue = queue
        self.consumer = consumer
        self.retention = retention
    }

    /// The marker key of a message.
    /// - Parameter message: The message.
    /// - Returns: `<prefix>{<topic>}:processed:<consumer>:<message id>`.
    public func markerKey(for message: QueueMessage) -> String {
        self.queue.keys(message.topic).processed(self.consumer, message.id)
    }

    /// Whether the message was already processed.
    /// - Parameter message: The message.
    /// - Returns: True when its marker exists.
    public func isProcessed(_ message: QueueMessage) async throws -> Bool {
        try await self.queue.client.exists(self.markerKey(for: message)) > 0
    }

    /// Runs `commands` and records the message as processed, atomically, unless it was already processed.
    /// - Parameters:
    ///   - message: The message.
    ///   - commands: The effects, each a single-key command: its name, its key, then its other arguments (for
    ///     example `["HINCRBY", "points:{orders}", "user-1", "10"]`); an empty list only records the marker. The
    ///     keys (each command's second element) are declared to Redis with the marker's, so on Redis Cluster they
    ///     must share the topic's hash tag (refused with `RedisError.crossSlot` before anything is sent otherwise),
    ///     and a slot migration keeps the effects with their marker: while the slot moves, Redis answers `TRYAGAIN`
    ///     until every key is on one side (the client retries within its deadline) instead of creating a second
    ///     copy of an effect key on the importing node.
    /// - Returns: True when the effects were applied now, false when the message had been processed before.
    /// - Throws: `RedisError` when the script fails: a command error aborts the remaining commands and records no
    ///   marker (the ones before it stay applied, as with any Lua script, so give it commands that cannot fail
    ///   for a well-formed message: increments of keys of one type).
    @discardableResult
    public func applyOnce(_ message: QueueMessage, _ commands: [[String]]) async throws -> Bool {
        var arguments: [any RESPArgument] = [self.retention.map { max(1, Int($0.milliseconds)) } ?? 0]
        for command in commands where !command.isEmpty {
            arguments.append(command.count)
            arguments += command.map { $0 as any RESPArgument }
        }
        // Every key the script writes is declared: undeclared keys made a live reshard create the effect key on
        // the importing node while the source still held it, which stopped the migration ("Target key exists").
        var keys = [self.markerKey(for: message)]
        for command in commands where command.count > 1 && !keys.contains(command[1]) {
            keys.append(command[1])
        }
        let reply = try await self.queue.client.eval(Self.applyScript, keys: keys, arguments: arguments)
        return try reply.decode(as: Int.self) == 1
    }
}
