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
        do {
            let result = try await body(RedisSubscription(stream: stream))
            await self.subscriber.unsubscribe(id: id)
            return result
        } catch {
            await self.subscriber.unsubscribe(id: id)
            throw error
        }
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
