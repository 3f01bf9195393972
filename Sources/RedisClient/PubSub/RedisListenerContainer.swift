public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Pub/sub listeners as a `Service`: handlers registered per channel, pattern or sharded channel, one subscription
/// for each kind, resubscribed after connection drops, gaps reported, handler errors contained.
///
/// ```swift
/// let listeners = RedisListenerContainer(client: redis, logger: logger)
/// listeners.addListener(channel: "notifications") { message in hub.deliver(message.payload) }
///           onGap: { gap in await hub.catchUp() }
/// // ServiceGroup: [redis, listeners, ...]
/// ```
///
/// - Handlers run one message at a time, in the order Redis delivered them (channel subscriptions and pattern
///   subscriptions each in their own order); keep them short (hand work off) — a slow handler fills the
///   subscription's bounded buffer and the overflow is reported as a gap.
/// - A handler that throws is logged and counted (`redis_listener_errors_total`); the loop goes on.
/// - After a reconnect (the client resubscribes by itself) or a failed subscribe that is retried later,
///   every listener's `onGap` runs: pub/sub is at-most-once, so this is the moment to catch up from a durable
///   source.
/// - Graceful shutdown ends the subscription and `run()` returns.
public final class RedisListenerContainer: Service, Sendable {
    /// Handles one message.
    public typealias Handler = @Sendable (RedisPubSubMessage) async throws -> Void
    /// Told that messages may have been missed.
    public typealias GapHandler = @Sendable (RedisSubscriptionGap) async -> Void

    private struct Listener: Sendable {
        var channel: String?
        var pattern: String?
        /// A sharded channel (`SSUBSCRIBE`).
        var shardChannel: String?
        var handler: Handler
        var onGap: GapHandler?
    }

    private struct State {
        var listeners: [Listener] = []
        var running = false
        var subscribed = false
    }

    let client: RedisClient
    let logger: Logger
    let bufferSize: Int
    private let state = Mutex(State())
    private let handled = Counter(label: "redis_listener_messages_total")
    private let failures = Counter(label: "redis_listener_errors_total")
    private let gaps = Counter(label: "redis_listener_gaps_total")

    /// Creates a container; add listeners, then run it as a service.
    /// - Parameters:
    ///   - client: The Redis client (its subscriber connection is shared with every other subscription).
    ///   - bufferSize: Messages buffered while handlers are busy before the overflow is reported as a gap.
    ///   - logger: Where handler errors and reconnects are logged.
    public init(client: RedisClient, bufferSize: Int = 4096, logger: Logger) {
        self.client = client
        self.bufferSize = bufferSize
        self.logger = logger
    }

    /// Calls `handler` for every message published to `channel`. Register before ``run()``.
    /// - Parameters:
    ///   - channel: The exact channel name.
    ///   - handler: Handles a message.
    ///   - onGap: Runs when messages may have been missed.
    public func addListener(channel: String, handler: @escaping Handler, onGap: GapHandler? = nil) {
        self.add(Listener(channel: channel, pattern: nil, shardChannel: nil, handler: handler, onGap: onGap))
    }

    /// Calls `handler` for every message published with `SPUBLISH` to the sharded channel `shardChannel` (Redis 7;
    /// on a cluster the subscription listens on the primary that owns the channel's slot and follows the slot when
    /// it moves, see ``RedisClient/ssubscribe(to:bufferSize:isolation:_:)``). Register before ``run()``.
    /// - Parameters:
    ///   - shardChannel: The exact sharded channel name.
    ///   - handler: Handles a message.
    ///   - onGap: Runs when messages may have been missed (also after the channel's slot moved).
    public func addListener(shardChannel: String, handler: @escaping Handler, onGap: GapHandler? = nil) {
        self.add(Listener(channel: nil, pattern: nil, shardChannel: shardChannel, handler: handler, onGap: onGap))
    }

    /// Calls `handler` for every message on a channel matching the glob-style `pattern`. Register before
    /// ``run()``.
    /// - Parameters:
    ///   - pattern: For example `orders.*`.
    ///   - handler: Handles a message.
    ///   - onGap: Runs when messages may have been missed.
    public func addListener(pattern: String, handler: @escaping Handler, onGap: GapHandler? = nil) {
        self.add(Listener(channel: nil, pattern: pattern, shardChannel: nil, handler: handler, onGap: onGap))
    }

    private func add(_ listener: Listener) {
        self.state.withLock { state in
            precondition(!state.running, "add listeners before RedisListenerContainer.run()")
            state.listeners.append(listener)
        }
    }

    /// True while the subscription is active (every registered channel and pattern is subscribed).
    public var isListening: Bool { self.state.withLock { $0.subscribed } }

    /// Subscribes and dispatches until graceful shutdown, resubscribing after failures.
    public func run() async throws {
        let listeners = self.state.withLock { state in
            state.running = true
            return state.listeners
        }
        let channels = Array(Set(listeners.compactMap(\.channel))).sorted()
        let patterns = Array(Set(listeners.compactMap(\.pattern))).sorted()
        let shardChannels = Array(Set(listeners.compactMap(\.shardChannel))).sorted()
        guard !channels.isEmpty || !patterns.isEmpty || !shardChannels.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        var failures = 0
        var missedSome = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let reportGap = missedSome
                try await cancelWhenGracefulShutdown {
                    try await self.listen(
                        channels: channels,
                        patterns: patterns,
                        shardChannels: shardChannels,
                        listeners: listeners,
                        reportGap
                    )
                }
                return
            } catch let error as RedisError where error.code == .shutdown {
                return
            } catch is CancellationError {
                return
            } catch {
                self.state.withLock { $0.subscribed = false }
                failures += 1
                missedSome = true
                self.logger.warning(
                    "pub/sub listeners cannot subscribe; retrying",
                    metadata: ["error": "\(error)", "attempt": "\(failures)"]
                )
                try? await Task.sleep(for: .milliseconds(min(2_000, 50 << min(failures, 6))))
            }
        }
    }

    private func listen(
        channels: [String],
        patterns: [String],
        shardChannels: [String],
        listeners: [Listener],
        _ missedSome: Bool
    ) async throws {
        if missedSome {
            // Whatever was published while no subscription was active is lost.
            await self.dispatchGap(RedisSubscriptionGap(reason: .reconnected), listeners)
        }
        // Channels and patterns need separate SUBSCRIBE and PSUBSCRIBE scopes. Each dispatches its own events
        // as it reads them, so a slow handler holds back its subscription's bounded buffer (and an overflow is
        // reported as a gap) instead of piling events up in memory.
        let started = StartCounter(
            total: (channels.isEmpty ? 0 : 1) + (patterns.isEmpty ? 0 : 1) + (shardChannels.isEmpty ? 0 : 1)
        )
        // Each scope's messages go to its own kind of listener (a sharded and a classic channel may share a name).
        let channelListeners = listeners.filter { $0.shardChannel == nil }
        let shardListeners = listeners.filter { $0.shardChannel != nil }
        let onStart: @Sendable () -> Void = {
            if started.startedOne() { self.state.withLock { $0.subscribed = true } }
        }
        defer { self.state.withLock { $0.subscribed = false } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            if !channels.isEmpty {
                group.addTask {
                    try await self.client.subscribe(to: channels, bufferSize: self.bufferSize) { subscription in
                        onStart()
                        for try await event in subscription {
                            await self.handle(event, channelListeners, gapsTo: listeners)
                        }
                    }
                }
            }
            if !patterns.isEmpty {
                group.addTask {
                    try await self.client.subscribe(toPatterns: patterns, bufferSize: self.bufferSize) { subscription in
                        onStart()
                        for try await event in subscription {
                            await self.handle(event, channelListeners, gapsTo: listeners)
                        }
                    }
                }
            }
            if !shardChannels.isEmpty {
                group.addTask {
                    try await self.client.ssubscribe(to: shardChannels, bufferSize: self.bufferSize) { subscription in
                        onStart()
                        for try await event in subscription {
                            await self.handle(event, shardListeners, gapsTo: listeners)
                        }
                    }
                }
            }
            // The first scope to end (an error, or the client shutting down) ends the other too.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Messages go to `listeners`; a gap goes to every listener in `all`, whichever subscription reported it.
    private func handle(_ event: RedisSubscriptionEvent, _ listeners: [Listener], gapsTo all: [Listener]) async {
        switch event {
        case .message(let message): await self.dispatch(message, listeners)
        case .gap(let gap): await self.dispatchGap(gap, all)
        }
    }

    private func dispatch(_ message: RedisPubSubMessage, _ listeners: [Listener]) async {
        for listener in listeners where Self.matches(listener, message) {
            do {
                try await listener.handler(message)
                self.handled.increment()
            } catch {
                self.failures.increment()
                self.logger.warning(
                    "pub/sub listener failed",
                    metadata: ["channel": "\(message.channel)", "error": "\(error)"]
                )
            }
        }
    }

    private func dispatchGap(_ gap: RedisSubscriptionGap, _ listeners: [Listener]) async {
        self.gaps.increment()
        self.logger.notice("pub/sub gap: messages may have been missed", metadata: ["reason": "\(gap.reason)"])
        for listener in listeners {
            await listener.onGap?(gap)
        }
    }

    private static func matches(_ listener: Listener, _ message: RedisPubSubMessage) -> Bool {
        if let channel = listener.channel { return message.pattern == nil && message.channel == channel }
        if let channel = listener.shardChannel { return message.pattern == nil && message.channel == channel }
        return message.pattern == listener.pattern
    }
}

/// Counts subscription scopes that started; says when the last one did.
private final class StartCounter: Sendable {
    private let state: Mutex<Int>
    private let total: Int

    init(total: Int) {
        self.total = total
        self.state = Mutex(0)
    }

    /// Records one start; true when every scope has started.
    func startedOne() -> Bool {
        self.state.withLock { count in
            count += 1
            return count == self.total
        }
    }
}
