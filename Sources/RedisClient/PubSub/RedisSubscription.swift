public import NIOCore

/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel the message was published to.
    public var channel: String
    /// The pattern that matched, for `psubscribe` subscriptions; nil for channel subscriptions.
    public var pattern: String?
    /// The message as published.
    public var payload: ByteBuffer

    /// The payload decoded as UTF-8.
    public var payloadString: String { String(buffer: self.payload) }
}

/// Why messages may have been missed.
public struct RedisSubscriptionGap: Sendable, Hashable {
    /// What caused the gap.
    public enum Reason: Sendable, Hashable {
        /// The subscriber connection dropped and was re-established; everything published while it was down
        /// was lost. The subscription is active again when this event arrives.
        case reconnected
        /// The consumer fell behind and the subscription's buffer overflowed; this many messages were dropped.
        case bufferOverflow(dropped: Int)
        /// The subscriber connection was replaced but the server refused to subscribe again (for example
        /// `NOPERM` after an ACL change); the message is the server's. Nothing arrives until a retry succeeds,
        /// which is then reported as ``reconnected``. Reported once per run of failures.
        case subscribeFailed(String)
    }

    /// What caused the gap.
    public var reason: Reason
}

/// One event of a subscription: a message, or notice that messages may have been missed.
public enum RedisSubscriptionEvent: Sendable, Hashable {
    /// A published message.
    case message(RedisPubSubMessage)
    /// Messages may have been lost before this point; catch up from a durable source if it matters.
    case gap(RedisSubscriptionGap)
}

/// The events of a subscription, in order, until the scope that created it ends.
///
/// Pub/sub delivers at most once: a message published while the subscriber is disconnected is lost. Each such
/// interruption is reported as a ``RedisSubscriptionEvent/gap(_:)`` event so the consumer can catch up.
/// Iteration throws ``RedisError`` with `.shutdown` when the client shuts down.
public struct RedisSubscription: AsyncSequence, Sendable {
    public typealias Element = RedisSubscriptionEvent
    public typealias Failure = any Error

    let stream: AsyncThrowingStream<RedisSubscriptionEvent, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<RedisSubscriptionEvent, any Error>.AsyncIterator

        public mutating func next() async throws -> RedisSubscriptionEvent? {
            try await self.base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.stream.makeAsyncIterator())
    }

    /// Only the messages, skipping gap notices (for consumers that do not care about gaps).
    public var messages: AsyncCompactMapSequence<RedisSubscription, RedisPubSubMessage> {
        self.compactMap { event in
            if case .message(let message) = event { return message }
            return nil
        }
    }
}
