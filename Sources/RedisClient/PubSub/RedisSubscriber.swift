import Logging
import NIOConcurrencyHelpers
public import NIOCore

/// The client's single subscriber connection, shared by every subscription.
///
/// Subscriptions are reference-counted per channel and pattern: Redis is asked to `SUBSCRIBE` when the first
/// subscription for a channel starts and to `UNSUBSCRIBE` when the last one ends. Every change of the server's
/// subscriptions is decided and written while holding one lock, so concurrent subscribe and unsubscribe calls
/// reach the server in the order they were decided. When the connection drops, a reconnect task restores every
/// live channel and pattern, then tells each subscription that a gap happened.
final class RedisSubscriber: Sendable {
    private enum Target: Hashable, Sendable {
        case channel(String)
        case pattern(String)
    }

    private struct Sink: Sendable {
        let continuation: AsyncThrowingStream<RedisSubscriptionEvent, any Error>.Continuation
        let targets: [Target]
        var dropped = 0
        var missedWhileDisconnected = false
    }

    private enum ConnectionState: Sendable {
        case idle
        case connecting(EventLoopFuture<Void>)
        case connected(RedisConnection)
    }

    private struct State: Sendable {
        var connection: ConnectionState = .idle
        var sinks: [UInt64: Sink] = [:]
        var subscribers: [Target: Set<UInt64>] = [:]
        var nextID: UInt64 = 0
        var isShutdown = false
    }

    private let pool: RedisConnectionPool
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(pool: RedisConnectionPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Registers a subscription and waits until the server confirmed it.
    func subscribe(
        channels: [String],
        patterns: [String],
        bufferSize: Int
    ) async throws -> (id: UInt64, stream: AsyncThrowingStream<RedisSubscriptionEvent, any Error>) {
        let (stream, continuation) = AsyncThrowingStream<RedisSubscriptionEvent, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(max(1, bufferSize))
        )
        let targets = channels.map(Target.channel) + patterns.map(Target.pattern)
        enum Next {
            case wait(EventLoopFuture<Void>)
            case connect(EventLoopPromise<Void>)
        }
        let (id, next) = try self.state.withLockedValue { state throws -> (UInt64, Next) in
            guard !state.isShutdown else { throw RedisError(.shutdown, "the Redis client has shut down") }
            state.nextID += 1
            let id = state.nextID
            state.sinks[id] = Sink(continuation: continuation, targets: targets)
            var fresh: [Target] = []
            for target in Set(targets) {
                if state.subscribers[target, default: []].isEmpty { fresh.append(target) }
                state.subscribers[target, default: []].insert(id)
            }
            switch state.connection {
            case .connected(let connection):
                return (id, .wait(Self.sendSubscriptionChange(subscribe: true, fresh, on: connection)))
            case .connecting(let future):
                // The connection being made subscribes to everything registered, this one included.
                return (id, .wait(future))
            case .idle:
                let promise = self.pool.eventLoopGroup.any().makePromise(of: Void.self)
                state.connection = .connecting(promise.futureResult)
                return (id, .connect(promise))
            }
        }
        do {
            switch next {
            case .wait(let future):
                try await future.get()
            case .connect(let promise):
                Task { await self.connectAndRestore(promise: promise, afterDrop: false) }
                try await promise.futureResult.get()
            }
        } catch {
            await self.unsubscribe(id: id)
            // A subscription interrupted by shutdown reports the shutdown, not the connection it closed.
            if self.state.withLockedValue({ $0.isShutdown }) {
                throw RedisError(.shutdown, "the Redis client has shut down")
            }
            throw error
        }
        return (id, stream)
    }

    /// Ends a subscription: finishes its stream and unsubscribes channels no other subscription uses.
    func unsubscribe(id: UInt64) async {
        let (sink, change) = self.state.withLockedValue { state -> (Sink?, EventLoopFuture<Void>?) in
            guard let sink = state.sinks.removeValue(forKey: id) else { return (nil, nil) }
            var stale: [Target] = []
            for target in Set(sink.targets) {
                state.subscribers[target]?.remove(id)
                if state.subscribers[target]?.isEmpty == true {
                    state.subscribers[target] = nil
                    stale.append(target)
                }
            }
            guard case .connected(let connection) = state.connection, !stale.isEmpty else { return (sink, nil) }
            return (sink, Self.sendSubscriptionChange(subscribe: false, stale, on: connection))
        }
        sink?.continuation.finish()
        // The server's confirmation is awaited so a later subscribe on the same channel is ordered after it;
        // if the connection dropped meanwhile, there is nothing left to unsubscribe.
        try? await change?.get()
    }

    /// Ends every subscription with a shutdown error and closes the connection.
    func shutdown() async {
        let (sinks, connection) = self.state.withLockedValue { state -> ([Sink], RedisConnection?) in
            state.isShutdown = true
            let sinks = Array(state.sinks.values)
            state.sinks = [:]
            state.subscribers = [:]
            var connection: RedisConnection?
            if case .connected(let current) = state.connection { connection = current }
            state.connection = .idle
            return (sinks, connection)
        }
        for sink in sinks {
            sink.continuation.finish(throwing: RedisError(.shutdown, "the Redis client has shut down"))
        }
        await connection?.close()
    }

    // MARK: Connection

    /// Connects, subscribes to everything registered, and completes `promise`. After a drop (`afterDrop`),
    /// retries with backoff until it succeeds, nothing is subscribed any more, or the client shuts down.
    private func connectAndRestore(promise: EventLoopPromise<Void>, afterDrop: Bool) async {
        var promise = promise
        if !afterDrop, let refusal = self.pool.connectRefusal() {
            // Redis failed recently: fail at once rather than wait for another connect timeout.
            self.state.withLockedValue { state in
                if case .connecting = state.connection { state.connection = .idle }
            }
            promise.fail(refusal)
            return
        }
        var attempt = 0
        while true {
            attempt += 1
            do {
                let connection = try await self.pool.open(id: -1) { [weak self] push in self?.deliver(push) }
                self.pool.recordConnectOutcome(nil)
                let restored = self.state.withLockedValue { state -> EventLoopFuture<Void>? in
                    guard !state.isShutdown else { return nil }
                    state.connection = .connected(connection)
                    return Self.sendSubscriptionChange(subscribe: true, Array(state.subscribers.keys), on: connection)
                }
                guard let restored else {
                    await connection.close()
                    promise.fail(RedisError(.shutdown, "the Redis client has shut down"))
                    return
                }
                connection.onClose { [weak self] in self?.connectionClosed(connection) }
                try await restored.get()
                promise.succeed(())
                if afterDrop { self.reportReconnected() }
                self.logger.debug("redis subscriber connected", metadata: ["redis.attempt": "\(attempt)"])
                return
            } catch {
                let redisError = RedisConnectionPool.asRedisError(error)
                self.pool.recordConnectOutcome(redisError)
                let keepTrying = self.state.withLockedValue { state -> Bool in
                    if case .connected = state.connection { return false }  // a new drop started its own task
                    let keepTrying = afterDrop && !state.isShutdown && !state.sinks.isEmpty
                    if !keepTrying {
                        state.connection = .idle
                    }
                    return keepTrying
                }
                promise.fail(redisError)
                guard keepTrying else { return }
                self.logger.info(
                    "redis subscriber reconnect failed, retrying",
                    metadata: ["redis.attempt": "\(attempt)", "error": "\(redisError.message)"]
                )
                let delay = ReconnectBackoff.delay(
                    failures: attempt,
                    initial: UInt64(max(1, self.pool.configuration.initialReconnectDelay.nanoseconds)),
                    max: UInt64(max(1, self.pool.configuration.maxReconnectDelay.nanoseconds)),
                    jitter: Double.random(in: 0...1)
                )
                try? await Task.sleep(for: .nanoseconds(Int64(delay)))
                let next = self.state.withLockedValue { state -> EventLoopPromise<Void>? in
                    guard !state.isShutdown, !state.sinks.isEmpty else {
                        state.connection = .idle
                        return nil
                    }
                    let next = self.pool.eventLoopGroup.any().makePromise(of: Void.self)
                    state.connection = .connecting(next.futureResult)
                    return next
                }
                guard let next else { return }
                promise = next
            }
        }
    }

    private func connectionClosed(_ connection: RedisConnection) {
        let promise = self.state.withLockedValue { state -> EventLoopPromise<Void>? in
            guard case .connected(let current) = state.connection, current === connection else { return nil }
            guard !state.isShutdown, !state.sinks.isEmpty else {
                state.connection = .idle
                return nil
            }
            for id in state.sinks.keys { state.sinks[id]?.missedWhileDisconnected = true }
            let promise = self.pool.eventLoopGroup.any().makePromise(of: Void.self)
            state.connection = .connecting(promise.futureResult)
            return promise
        }
        guard let promise else { return }
        self.logger.warning("redis subscriber connection lost; resubscribing")
        // Reconnecting outlives any one caller, so it runs in its own task; it ends once subscriptions are
        // restored, when none are left, or at shutdown.
        Task { await self.connectAndRestore(promise: promise, afterDrop: true) }
    }

    private func reportReconnected() {
        self.state.withLockedValue { state in
            for id in state.sinks.keys where state.sinks[id]?.missedWhileDisconnected == true {
                state.sinks[id]?.missedWhileDisconnected = false
                Self.yield(.gap(RedisSubscriptionGap(reason: .reconnected)), to: id, in: &state)
            }
        }
    }

    private static func sendSubscriptionChange(
        subscribe: Bool,
        _ targets: [Target],
        on connection: RedisConnection
    ) -> EventLoopFuture<Void> {
        var channels: [String] = []
        var patterns: [String] = []
        for target in targets {
            switch target {
            case .channel(let name): channels.append(name)
            case .pattern(let name): patterns.append(name)
            }
        }
        var commands: [RedisCommand] = []
        if !channels.isEmpty {
            var command = RedisCommand(subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE")
            command.append(contentsOf: channels)
            commands.append(command)
        }
        if !patterns.isEmpty {
            var command = RedisCommand(subscribe ? "PSUBSCRIBE" : "PUNSUBSCRIBE")
            command.append(contentsOf: patterns)
            commands.append(command)
        }
        guard !commands.isEmpty else { return connection.channel.eventLoop.makeSucceededVoidFuture() }
        return connection.enqueue(commands, expectedReplies: targets.count, kind: .pushConfirmations)
            .flatMapThrowing { replies in
                if let error = replies.lazy.compactMap(RedisError.fromReply).first { throw error }
            }
    }

    // MARK: Delivery

    /// Called on the event loop for every push frame that is not a subscription confirmation.
    private func deliver(_ push: [RESPValue]) {
        guard let kind = push.first?.asciiLowercasedString else { return }
        let target: Target
        let message: RedisPubSubMessage
        switch kind {
        case "message" where push.count >= 3:
            guard let channel = push[1].stringValue, let payload = push[2].bytesValue else { return }
            target = .channel(channel)
            message = RedisPubSubMessage(channel: channel, pattern: nil, payload: payload)
        case "pmessage" where push.count >= 4:
            guard let pattern = push[1].stringValue, let channel = push[2].stringValue,
                let payload = push[3].bytesValue
            else { return }
            target = .pattern(pattern)
            message = RedisPubSubMessage(channel: channel, pattern: pattern, payload: payload)
        default:
            return
        }
        self.state.withLockedValue { state in
            guard let ids = state.subscribers[target] else { return }
            for id in ids {
                Self.yield(.message(message), to: id, in: &state)
            }
        }
    }

    /// Yields to one subscription; when its buffer is full, counts the drop and reports it before the next
    /// event that fits.
    private static func yield(_ event: RedisSubscriptionEvent, to id: UInt64, in state: inout State) {
        guard let sink = state.sinks[id] else { return }
        if sink.dropped > 0 {
            let gap = RedisSubscriptionEvent.gap(RedisSubscriptionGap(reason: .bufferOverflow(dropped: sink.dropped)))
            if case .dropped = sink.continuation.yield(gap) {
                state.sinks[id]?.dropped += 1
                return
            }
            state.sinks[id]?.dropped = 0
        }
        if case .dropped = sink.continuation.yield(event) {
            state.sinks[id]?.dropped += 1
        }
    }
}

extension RESPValue {
    /// A string or verbatim string decoded as UTF-8; nil for other types.
    public var stringValue: String? {
        switch self {
        case .simpleString(let bytes), .blobString(let bytes), .verbatimString(_, let bytes):
            String(buffer: bytes)
        default:
            nil
        }
    }

    /// The bytes of a string or verbatim string; nil for other types.
    public var bytesValue: ByteBuffer? {
        switch self {
        case .simpleString(let bytes), .blobString(let bytes), .verbatimString(_, let bytes): bytes
        default: nil
        }
    }
}
