import NIOCore

extension RedisClient {
    /// Subscribes to channels for the duration of `body`.
    ///
    /// All subscriptions share one subscriber connection. When `body` returns or throws, channels no other
    /// subscription uses are unsubscribed. After the subscriber connection drops, the client reconnects with
    /// backoff, subscribes again, and the subscription yields ``RedisSubscriptionEvent/gap(_:)``.
    ///
    /// ```swift
    /// try await redis.subscribe(to: ["orders"]) { subscription in
    ///     for try await event in subscription {
    ///         switch event {
    ///         case .message(let message): print(message.payloadString)
    ///         case .gap: await catchUpFromTheDatabase()
    ///         }
    ///     }
    /// }
    /// ```
    /// - Parameters:
    ///   - channels: The channels.
    ///   - bufferSize: Events buffered for a slow consumer before messages are dropped (and reported as a gap).
    ///   - body: Consumes the subscription.
    /// - Returns: What `body` returns.
    public func subscribe<Result>(
        to channels: [String],
        bufferSize: Int = 1024,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisSubscription) async throws -> Result
    ) async throws -> Result {
        try await self.withSubscription(channels: channels, patterns: [], bufferSize: bufferSize, body)
    }

    /// Subscribes to glob-style patterns (`PSUBSCRIBE`) for the duration of `body`; see ``subscribe(to:bufferSize:isolation:_:)``.
    /// - Parameters:
    ///   - patterns: The patterns, for example `news.*`.
    ///   - bufferSize: Events buffered for a slow consumer before messages are dropped.
    ///   - body: Consumes the subscription.
    /// - Returns: What `body` returns.
    public func subscribe<Result>(
        toPatterns patterns: [String],
        bufferSize: Int = 1024,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisSubscription) async throws -> Result
    ) async throws -> Result {
        try await self.withSubscription(channels: [], patterns: patterns, bufferSize: bufferSize, body)
    }

    private func withSubscription<Result>(
        channels: [String],
        patterns: [String],
        bufferSize: Int,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisSubscription) async throws -> Result
    ) async throws -> Result {
        precondition(!channels.isEmpty || !patterns.isEmpty, "subscribe needs at least one channel or pattern")
        let (id, stream) = try await self.subscriber.subscribe(
            channels: channels,
            patterns: patterns,
            bufferSize: bufferSize
        )
        return try await Self.consume(stream, body) { await self.subscriber.unsubscribe(id: id) }
    }

    /// Subscribes to sharded channels (`SSUBSCRIBE`, Redis 7) for the duration of `body`.
    ///
    /// On a cluster a sharded channel lives in the hash slot of its name (a `{hash tag}` counts, as for keys): a
    /// message published with ``spublish(_:to:)`` reaches only the nodes of that slot's shard, and the subscription
    /// listens on the primary that owns the slot, over one subscriber connection per primary. Channels in several
    /// slots are fine: they are subscribed one slot per command (one `SSUBSCRIBE` may name one slot only) on each
    /// slot's owner. When a slot moves (a reshard, or a replica promoted after its primary failed), the subscription
    /// follows it to the new owner and then yields ``RedisSubscriptionEvent/gap(_:)`` with
    /// ``RedisSubscriptionGap/Reason/reconnected``: messages published during the move are lost (pub/sub is
    /// at-most-once). On a single server all channels share the client's one subscriber connection.
    ///
    /// ```swift
    /// try await redis.ssubscribe(to: ["{orders}:events"]) { subscription in
    ///     for try await event in subscription {
    ///         switch event {
    ///         case .message(let message): print(message.payloadString)
    ///         case .gap: await catchUpFromTheDatabase()
    ///         }
    ///     }
    /// }
    /// ```
    /// - Parameters:
    ///   - channels: The sharded channels.
    ///   - bufferSize: Events buffered for a slow consumer before messages are dropped (and reported as a gap).
    ///   - body: Consumes the subscription.
    /// - Returns: What `body` returns.
    /// - Throws: ``RedisError``; on a cluster `.clusterUnavailable` when a channel's slot has no owner within the
    ///   command timeout.
    public func ssubscribe<Result>(
        to channels: [String],
        bufferSize: Int = 1024,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisSubscription) async throws -> Result
    ) async throws -> Result {
        precondition(!channels.isEmpty, "ssubscribe needs at least one channel")
        guard let sharded = self.shardedSubscriber else {
            let (id, stream) = try await self.subscriber.subscribe(
                channels: [],
                patterns: [],
                shardChannels: channels,
                bufferSize: bufferSize
            )
            return try await Self.consume(stream, body) { await self.subscriber.unsubscribe(id: id) }
        }
        let (id, stream) = try await sharded.subscribe(channels: channels, bufferSize: bufferSize)
        return try await Self.consume(stream, body) { await sharded.unsubscribe(id: id) }
    }

    /// Runs `body` on the subscription of `stream`, then ends the subscription with `unsubscribe`, whether `body`
    /// returned or threw.
    private static func consume<Result>(
        _ stream: AsyncThrowingStream<RedisSubscriptionEvent, any Error>,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisSubscription) async throws -> Result,
        unsubscribe: () async -> Void
    ) async throws -> Result {
        do {
            let result = try await body(RedisSubscription(stream: stream))
            await unsubscribe()
            return result
        } catch {
            await unsubscribe()
            throw error
        }
    }

    /// Publishes a message to a sharded channel (`SPUBLISH`, Redis 7), sent to the node that owns the channel's
    /// hash slot on a cluster.
    /// - Parameters:
    ///   - message: The payload.
    ///   - channel: The sharded channel.
    /// - Returns: How many subscribers received it (on the node that took it: sharded subscribers listen on the
    ///   slot's primary, so on a cluster that is all of them).
    @discardableResult
    public func spublish(_ message: some RESPArgument, to channel: String) async throws -> Int {
        var command = RedisCommand("SPUBLISH")
        command.appendKey(channel)
        command.append(message)
        return try await self.send(command).decode(as: Int.self)
    }

    /// Publishes a message.
    /// - Parameters:
    ///   - message: The payload.
    ///   - channel: The channel.
    /// - Returns: How many subscribers received it (on this server).
    @discardableResult
    public func publish(_ message: some RESPArgument, to channel: String) async throws -> Int {
        var command = RedisCommand("PUBLISH")
        command.append(channel)
        command.append(message)
        return try await self.send(command).decode(as: Int.self)
    }
}
