import Logging
import NIOConcurrencyHelpers
public import NIOCore

/// The client's single subscriber connection, shared by every subscription: the I/O side of
/// ``SubscriberStateMachine``, which makes every decision.
///
/// Subscriptions are reference-counted per channel and pattern: Redis is asked to `SUBSCRIBE` when the first
/// subscription for a channel starts and to `UNSUBSCRIBE` when the last one ends. Every change of the server's
/// subscriptions is decided and written while holding one lock, so concurrent subscribe and unsubscribe calls
/// reach the server in the order they were decided. The connection is checked with `PING` every keep-alive
/// interval; when it drops or stops answering, one reconnect restores every live channel and pattern, then each
/// subscription is told that a gap happened. A resubscribe the server refuses is reported and retried with
/// backoff.
final class RedisSubscriber: Sendable {
    typealias Machine = SubscriberStateMachine<RedisConnection, EventLoopPromise<Void>>
    typealias Target = Machine.Target

    typealias Continuation = AsyncThrowingStream<RedisSubscriptionEvent, any Error>.Continuation

    private struct Sink: Sendable {
        let continuation: Continuation
        /// False when the stream belongs to someone else (the sharded subscriber, which feeds one stream from several
        /// nodes): ending this subscription then leaves the stream open.
        var ownsStream = true
        var dropped = 0
    }

    /// What a node's subscriber tells the ``ShardedSubscriber`` it works for (on a cluster).
    enum ShardNotice: Sendable {
        /// The server dropped sharded channels of these subscriptions on its own: their slot moved.
        case moved(subscriptions: [UInt64])
        /// The server refused to subscribe again after a reconnect (`MOVED` when a slot left the node meanwhile).
        case refused(RedisError)
    }

    /// The generation of the connection a push frame came on, set once the state machine numbered it.
    private final class ConnectionTag: Sendable {
        let generation = NIOLockedValueBox<Int?>(nil)
    }

    private struct State: Sendable {
        var machine: Machine
        var sinks: [UInt64: Sink] = [:]
        var nextID: UInt64 = 0
    }

    /// A subscribe request written under the lock, whose outcome is reported once the lock is released.
    private struct SentSubscribe {
        let future: EventLoopFuture<Void>
        let generation: Int
        let purpose: Machine.Purpose
    }

    /// Where the subscriber connects: one server's pool, or on a cluster whichever node is current (any node
    /// receives every `PUBLISH`), moving on to another when it cannot connect.
    /// `current` may ask first (Sentinel); nil when no node could be found: connecting then fails and is retried.
    struct Nodes: Sendable {
        let current: @Sendable () async -> RedisConnectionPool?
        let failed: @Sendable () -> Void
    }

    private let nodes: Nodes
    private let notices: (@Sendable (ShardNotice) -> Void)?
    private let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state: NIOLockedValueBox<State>

    convenience init(pool: RedisConnectionPool, logger: Logger) {
        self.init(
            nodes: Nodes(current: { pool }, failed: {}),
            configuration: pool.configuration,
            eventLoopGroup: pool.eventLoopGroup,
            logger: logger
        )
    }

    init(
        nodes: Nodes,
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        notices: (@Sendable (ShardNotice) -> Void)? = nil
    ) {
        self.nodes = nodes
        self.notices = notices
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(
            State(
                machine: Machine(
                    backoff: ReconnectBackoff(
                        initialDelay: configuration.initialReconnectDelay,
                        maxDelay: configuration.maxReconnectDelay
                    )
                )
            )
        )
    }

    /// Registers a subscription and waits until the server confirmed it.
    func subscribe(
        channels: [String],
        patterns: [String],
        shardChannels: [String] = [],
        bufferSize: Int
    ) async throws -> (id: UInt64, stream: AsyncThrowingStream<RedisSubscriptionEvent, any Error>) {
        let (stream, continuation) = AsyncThrowingStream<RedisSubscriptionEvent, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(max(1, bufferSize))
        )
        let targets =
            channels.map(Target.channel) + patterns.map(Target.pattern) + shardChannels.map(Target.shardChannel)
        let id = try await self.subscribe(targets: targets, into: continuation, ownsStream: true)
        return (id, stream)
    }

    /// Registers a subscription whose events go to `continuation` and waits until the server confirmed it. With
    /// `ownsStream` false, ending the subscription leaves the stream open (its owner finishes it).
    func subscribe(targets: [Target], into continuation: Continuation, ownsStream: Bool) async throws -> UInt64 {
        let promise = self.eventLoopGroup.any().makePromise(of: Void.self)
        let now = NIODeadline.now().uptimeNanoseconds
        let id = self.update { state in
            state.nextID += 1
            let id = state.nextID
            state.sinks[id] = Sink(continuation: continuation, ownsStream: ownsStream)
            return (id, state.machine.subscribe(id: id, targets: targets, waiter: promise, now: now))
        }
        do {
            try await promise.futureResult.get()
        } catch {
            await self.unsubscribe(id: id)
            // A subscription interrupted by shutdown reports the shutdown, not the connection it closed.
            if self.state.withLockedValue({ $0.machine.isShutdown }) {
                throw RedisError(.shutdown, "the Redis client has shut down")
            }
            throw error
        }
        return id
    }

    /// Ends a subscription: finishes its stream and unsubscribes channels no other subscription uses.
    func unsubscribe(id: UInt64) async {
        let (sink, unsubscribed) = self.updateAndWrite { state in
            (state.sinks.removeValue(forKey: id), state.machine.unsubscribe(id: id))
        }
        if let sink, sink.ownsStream { sink.continuation.finish() }
        // The server's confirmation is awaited so a later subscribe on the same channel is ordered after it;
        // if the connection dropped meanwhile, there is nothing left to unsubscribe.
        for future in unsubscribed { try? await future.get() }
    }

    /// Ends every subscription with a shutdown error and closes the connection.
    func shutdown() async {
        self.update { state in ((), state.machine.shutdown()) }
    }

    // MARK: Driving the state machine

    /// Runs `body` on the state under the lock, writes the subscribe-family commands it decided (still under
    /// the lock, so they reach the server in the order decided), yields gap events, then does the rest of the
    /// actions outside the lock.
    @discardableResult
    private func update<Result>(_ body: (inout State) -> (Result, [Machine.Action])) -> Result {
        self.updateAndWrite(body).result
    }

    /// ``update(_:)``, also returning the unsubscribe requests it wrote.
    private func updateAndWrite<Result>(
        _ body: (inout State) -> (Result, [Machine.Action])
    ) -> (result: Result, unsubscribed: [EventLoopFuture<Void>]) {
        let (result, actions, sent, unsubscribed) = self.state.withLockedValue { state in
            let (result, actions) = body(&state)
            var sent: [SentSubscribe] = []
            var unsubscribed: [EventLoopFuture<Void>] = []
            for action in actions {
                switch action {
                case .subscribe(let connection, let generation, let targets, let purpose):
                    let future = Self.sendSubscriptionChange(subscribe: true, targets, on: connection)
                    sent.append(SentSubscribe(future: future, generation: generation, purpose: purpose))
                case .unsubscribe(let connection, let targets):
                    unsubscribed.append(Self.sendSubscriptionChange(subscribe: false, targets, on: connection))
                case .gap(let ids, let reason):
                    for id in ids { Self.yield(.gap(RedisSubscriptionGap(reason: reason)), to: id, in: &state) }
                case .finishAll(let error):
                    for sink in state.sinks.values { sink.continuation.finish(throwing: error) }
                    state.sinks = [:]
                default:
                    break
                }
            }
            return (result, actions, sent, unsubscribed)
        }
        for action in actions { self.perform(action) }
        for request in sent {
            request.future.whenComplete { result in
                var error: RedisError?
                if case .failure(let failure) = result { error = RedisConnectionPool.asRedisError(failure) }
                let now = NIODeadline.now().uptimeNanoseconds
                if let error, request.purpose == .restore, let notices = self.notices {
                    notices(.refused(error))
                }
                self.update { state in
                    (
                        (),
                        state.machine.subscribeCompleted(
                            generation: request.generation,
                            purpose: request.purpose,
                            error: error,
                            now: now
                        )
                    )
                }
            }
        }
        return (result, unsubscribed)
    }

    /// Does what needs no lock.
    private func perform(_ action: Machine.Action) {
        switch action {
        case .connect:
            // Connecting outlives any one caller, so it runs in its own task.
            Task { await self.connect() }
        case .monitor(let connection, let generation):
            self.monitor(connection, generation: generation)
        case .activate(let waiter):
            waiter.succeed(())
        case .fail(let waiter, let error):
            waiter.fail(error)
        case .close(let connection):
            connection.channel.close(promise: nil)
        case .retry(let delay):
            self.logger.info(
                "redis subscriber cannot subscribe; retrying",
                metadata: ["redis.retry_in_ms": "\(delay / 1_000_000)"]
            )
            self.eventLoopGroup.any().scheduleTask(in: .nanoseconds(Int64(min(delay, UInt64(Int64.max))))) {
                self.update { state in ((), state.machine.retryTimerFired()) }
            }
        case .moved(let targets, let ids):
            self.logger.info(
                "redis dropped sharded channels (their slot moved); subscribing where the slot lives now",
                metadata: ["redis.channels": "\(targets.count)"]
            )
            if let notices = self.notices {
                notices(.moved(subscriptions: ids))
            } else {
                // One server and no cluster to follow: subscribe again from scratch, which reports the gap.
                let connection = self.state.withLockedValue { state -> RedisConnection? in
                    switch state.machine.connection {
                    case .subscribing(let connection, _), .connected(let connection, _): connection
                    default: nil
                    }
                }
                connection?.channel.close(promise: nil)
            }
        case .subscribe, .unsubscribe, .gap, .finishAll:
            break  // done under the lock
        }
    }

    private func connect() async {
        let pool = await self.nodes.current()
        do {
            guard let pool else {
                throw RedisError(.connectionUnavailable, "no server to subscribe on is known yet")
            }
            if let refusal = pool.connectRefusal() { throw refusal }
            let tag = ConnectionTag()
            let connection = try await pool.open(id: -1) { [weak self] push in
                self?.deliver(push, generation: tag.generation.withLockedValue { $0 })
            }
            pool.recordConnectOutcome(nil)
            self.update { state in
                let actions = state.machine.connected(connection)
                // Numbered before anything is subscribed on it, so every push it brings knows its connection.
                for case .monitor(_, let generation) in actions {
                    tag.generation.withLockedValue { $0 = generation }
                }
                return ((), actions)
            }
        } catch {
            let redisError = RedisConnectionPool.asRedisError(error)
            if redisError.code != .shutdown {
                pool?.recordConnectOutcome(redisError)
                self.nodes.failed()
            }
            let now = NIODeadline.now().uptimeNanoseconds
            self.update { state in ((), state.machine.connectFailed(redisError, now: now)) }
        }
    }

    /// Reports the connection's close to the state machine and checks its health until then: a `PING` every
    /// keep-alive interval that fails, or gets no answer within the command timeout (the connect timeout when
    /// none is set), closes the connection, which starts the reconnect and the gap report.
    private func monitor(_ connection: RedisConnection, generation: Int) {
        let configuration = self.configuration
        let interval = TimeAmount.nanoseconds(max(1_000_000, configuration.keepAliveInterval.nanoseconds))
        let timeout = configuration.healthCheckTimeout
        let logger = self.logger
        let check = connection.channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            connection.enqueue([RedisCommand("PING")], expectedReplies: 1, kind: .regular, timeout: timeout)
                .whenFailure { error in
                    guard !connection.isClosed else { return }
                    logger.warning(
                        "redis subscriber connection failed its health check; replacing it",
                        metadata: ["error": "\(error)"]
                    )
                    connection.channel.close(promise: nil)
                }
        }
        connection.onClose { [weak self] in
            check.cancel()
            self?.update { state in ((), state.machine.connectionClosed(generation: generation)) }
        }
    }

    private static func sendSubscriptionChange(
        subscribe: Bool,
        _ targets: [Target],
        on connection: RedisConnection
    ) -> EventLoopFuture<Void> {
        var channels: [String] = []
        var patterns: [String] = []
        // SSUBSCRIBE takes channels of one hash slot only (CROSSSLOT otherwise, on a cluster): one command per slot.
        var shardChannels: [HashSlot: [String]] = [:]
        for target in targets {
            switch target {
            case .channel(let name): channels.append(name)
            case .pattern(let name): patterns.append(name)
            case .shardChannel(let name): shardChannels[HashSlot(key: name), default: []].append(name)
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
        for slot in shardChannels.keys.sorted() {
            var command = RedisCommand(subscribe ? "SSUBSCRIBE" : "SUNSUBSCRIBE")
            command.append(contentsOf: shardChannels[slot]!)
            commands.append(command)
        }
        guard !commands.isEmpty else { return connection.channel.eventLoop.makeSucceededVoidFuture() }
        return connection.enqueue(commands, expectedReplies: targets.count, kind: .pushConfirmations)
            .flatMapThrowing { replies in
                if let error = replies.lazy.compactMap(RedisError.fromReply).first { throw error }
            }
    }

    // MARK: Delivery

    /// Called on the event loop for every push frame that is not a subscription confirmation, with the generation of
    /// the connection it came on.
    private func deliver(_ push: [RESPValue], generation: Int?) {
        guard let kind = push.first?.asciiLowercasedString else { return }
        let target: Target
        let message: RedisPubSubMessage
        switch kind {
        case "message" where push.count >= 3:
            guard let channel = push[1].stringValue, let payload = push[2].bytesValue else { return }
            target = .channel(channel)
            message = RedisPubSubMessage(channel: channel, pattern: nil, payload: payload)
        case "smessage" where push.count >= 3:
            guard let channel = push[1].stringValue, let payload = push[2].bytesValue else { return }
            target = .shardChannel(channel)
            message = RedisPubSubMessage(channel: channel, pattern: nil, payload: payload)
        case "sunsubscribe" where push.count >= 2:
            // Not a confirmation of ours (the connection matched those to our requests): the server dropped it.
            guard let generation, let channel = push[1].stringValue else { return }
            self.update { state in
                ((), state.machine.serverUnsubscribed(generation: generation, target: .shardChannel(channel)))
            }
            return
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
            guard let ids = state.machine.subscriptions(of: target) else { return }
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
