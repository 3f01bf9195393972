public import Logging
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A Redis client: auto-pipelined shared connections, dedicated connections for blocking commands and
/// `WATCH`, scripts, pub/sub, and typed helpers for the common commands.
///
/// Run it as a `Service` in your `ServiceGroup`: ``run()`` keeps connections healthy (keep-alive `PING`, idle
/// connection reaping) and, on graceful shutdown, lets in-flight commands finish before closing everything.
/// Commands may be sent before `run()` starts; connections open on demand.
///
/// With a `redis+cluster://` configuration the client routes each command to the node that owns its keys' slot
/// and follows the cluster through redirections and failovers; see `docs/redis-client.md`.
///
/// ```swift
/// let redis = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:6379/0"), logger: logger)
/// try await redis.set("greeting", to: "hello")
/// let value = try await redis.get("greeting")   // "hello"
/// ```
public final class RedisClient: Sendable, Service {
    /// The configuration the client was created with.
    public let configuration: RedisConfiguration
    /// The pool commands use: the only one, or on a cluster the first seed's (``cluster`` holds one per node).
    let pool: RedisConnectionPool
    /// The slot map and node pools, on a cluster.
    let cluster: ClusterRouter?
    /// The primary Sentinel names and its pool, with Sentinel (then ``pool`` is unused).
    let sentinel: SentinelRouter?
    let subscriber: RedisSubscriber
    /// The sharded (`SSUBSCRIBE`) subscribers, one per node, on a cluster; elsewhere ``subscriber`` serves those too.
    let shardedSubscriber: ShardedSubscriber?
    let metrics: RedisMetrics
    let tracing: RedisTracing
    /// Calls sent and not yet answered (``poolStatistics()``).
    private let inFlight = Atomic<Int>(0)
    let logger: Logger

    /// Creates a client. No connection is opened until the first command.
    /// - Parameters:
    ///   - configuration: Where the server is and how to behave.
    ///   - eventLoopGroup: The event loops connections run on. Defaults to NIO's shared singleton group.
    ///   - logger: Where to log. Credentials and command arguments are never logged.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = RedisMetrics()
        self.tracing = RedisTracing(configuration: configuration)
        switch configuration.topology {
        case .standalone:
            self.cluster = nil
            self.sentinel = nil
            self.pool = RedisConnectionPool(
                configuration: configuration,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
            self.subscriber = RedisSubscriber(pool: self.pool, logger: logger)
            self.shardedSubscriber = nil
        case .cluster(let seeds):
            let router = ClusterRouter(
                configuration: configuration,
                seeds: seeds,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
            self.cluster = router
            self.sentinel = nil
            self.pool = router.pool(for: seeds[0])
            self.subscriber = RedisSubscriber(
                nodes: RedisSubscriber.Nodes(
                    current: { router.subscriberPool() },
                    failed: { router.subscriberNodeFailed() }
                ),
                configuration: configuration,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
            self.shardedSubscriber = ShardedSubscriber(
                router: router,
                configuration: configuration,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
        case .sentinel(let sentinels, let masterName):
            let router = SentinelRouter(
                configuration: configuration,
                sentinels: sentinels,
                masterName: masterName,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
            self.cluster = nil
            self.sentinel = router
            // Never opens a connection: every command goes through the router's pool of the current primary.
            self.pool = RedisConnectionPool(
                configuration: configuration.forSentinel(sentinels[0]),
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
            self.subscriber = RedisSubscriber(
                nodes: RedisSubscriber.Nodes(
                    current: { try? await router.currentPool() },
                    failed: { router.primaryFailed() }
                ),
                configuration: configuration,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
            self.shardedSubscriber = nil
        }
    }

    /// Runs connection maintenance until graceful shutdown, then drains and closes every connection.
    public func run() async throws {
        let interval = min(
            self.configuration.keepAliveInterval,
            max(self.configuration.idleTimeout / 2, .milliseconds(10))
        )
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard !Task.isShuttingDownGracefully && !Task.isCancelled else { break }
                    if let cluster = self.cluster {
                        await cluster.maintain()
                        // A slot that moved without telling its subscribers still gets its sharded channels back.
                        await self.shardedSubscriber?.rebalance(refresh: false)
                    } else if let sentinel = self.sentinel {
                        await sentinel.maintain()
                    } else {
                        await self.pool.maintain()
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await self.shutdown()
    }

    /// Stops the client: refuses new commands, waits briefly for in-flight ones, ends every subscription and
    /// closes every connection. ``run()`` calls this on graceful shutdown.
    public func shutdown() async {
        await self.subscriber.shutdown()
        await self.shardedSubscriber?.shutdown()
        let grace = self.configuration.commandTimeout ?? .seconds(5)
        if let cluster = self.cluster {
            await cluster.shutdown(grace: grace)
        } else if let sentinel = self.sentinel {
            await sentinel.shutdown(grace: grace)
        } else {
            await self.pool.shutdown(grace: grace)
        }
    }

    /// The client's connections, waiters and unanswered calls now, summed over every node on a cluster.
    ///
    /// Cheap (a lock per pool); read it when metrics are scraped rather than in a loop.
    public func poolStatistics() -> RedisPoolStatistics {
        let pools: [RedisConnectionPool]
        if let cluster = self.cluster {
            pools = cluster.allPools
        } else if let sentinel = self.sentinel {
            pools = sentinel.poolIfOpen.map { [$0] } ?? []
        } else {
            pools = [self.pool]
        }
        var statistics = pools.reduce(RedisPoolStatistics()) { $0 + $1.statistics }
        statistics.inFlightCommands = self.inFlight.load(ordering: .relaxed)
        return statistics
    }

    /// One logical call: counted in flight while it runs, inside its span.
    private func tracked<Result>(
        _ operation: String,
        batchSize: Int? = nil,
        _ body: () async throws -> Result
    ) async throws -> Result {
        self.inFlight.add(1, ordering: .relaxed)
        defer { self.inFlight.subtract(1, ordering: .relaxed) }
        return try await self.tracing.withSpan(operation, batchSize: batchSize, body)
    }

    /// Sends a command on a shared connection and returns its reply; an error reply is thrown.
    /// - Parameter command: The command.
    /// - Returns: The reply.
    /// - Throws: ``RedisError``; `.server` for an error reply.
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        try await self.send(command, timeout: nil)
    }

    /// Sends a command with its own timeout.
    /// - Parameters:
    ///   - command: The command.
    ///   - timeout: How long to wait for the reply instead of the configured command timeout.
    /// - Returns: The reply.
    public func send(_ command: RedisCommand, timeout: Duration?) async throws -> RESPValue {
        try await self.send(command, timeout: timeout, readFrom: nil)
    }

    /// `send`, with the read preference of the call (nil: the configuration's).
    private func send(
        _ command: RedisCommand,
        timeout: Duration?,
        readFrom: RedisConfiguration.ReadFrom?
    ) async throws -> RESPValue {
        let start = NIODeadline.now()
        do {
            let reply = try await self.tracked(command.name) {
                if let cluster = self.cluster {
                    return try await self.send(command, timeout: timeout, on: cluster, asking: nil, readFrom: readFrom)
                }
                return try await self.onPrimary(timeout: timeout) { pool in
                    try await pool.sharedConnection().send(command, timeout: timeout)
                }
            }
            self.metrics.recordSuccess(command: command.name, since: start)
            return reply
        } catch {
            self.metrics.recordFailure(command: command.name, since: start, error: error)
            throw error
        }
    }

    /// Sends a command, choosing for this call whether a replica may serve it.
    ///
    /// On Redis Cluster, `.replicaPreferred` lets an allow-listed read (``RedisCommand/isReadOnly``) be served by a
    /// replica of its slot's shard, falling back to the primary within the deadline, whatever
    /// ``RedisConfiguration/readFrom`` says; `.primary` sends it to the primary even when the configuration prefers
    /// replicas (a read that must see the caller's own latest write). On a single server and with Sentinel this is
    /// ``send(_:timeout:)``.
    /// - Parameters:
    ///   - command: The command.
    ///   - timeout: How long to wait for the reply instead of the configured command timeout.
    ///   - readFrom: Where this read may be served.
    /// - Returns: The reply.
    public func send(
        _ command: RedisCommand,
        timeout: Duration? = nil,
        readFrom: RedisConfiguration.ReadFrom
    ) async throws -> RESPValue {
        try await self.send(command, timeout: timeout, readFrom: Optional(readFrom))
    }

    /// Sends commands back to back in one write and returns each reply, error replies as `.failure`.
    ///
    /// The commands are not atomic: other clients' commands may run between them. Use ``transaction(_:)``
    /// for all-or-nothing execution.
    /// - Parameters:
    ///   - commands: The commands.
    ///   - timeout: How long to wait for all the replies instead of the configured command timeout.
    /// - Returns: One result per command, in order.
    public func pipeline(
        _ commands: [RedisCommand],
        timeout: Duration? = nil
    ) async throws -> [Result<RESPValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        let start = NIODeadline.now()
        do {
            let results = try await self.tracked("PIPELINE", batchSize: commands.count) {
                if let cluster = self.cluster {
                    return try await self.pipeline(commands, timeout: timeout, on: cluster)
                }
                let replies = try await self.onPrimary(timeout: timeout) { pool in
                    try await pool.sharedConnection().pipeline(commands, timeout: timeout)
                }
                return replies.map { reply in RedisError.fromReply(reply).map { .failure($0) } ?? .success(reply) }
            }
            self.metrics.recordSuccess(command: "PIPELINE", since: start)
            return results
        } catch {
            self.metrics.recordFailure(command: "PIPELINE", since: start, error: error)
            throw error
        }
    }

    /// Runs commands inside `MULTI`/`EXEC`: Redis executes all of them with nothing in between.
    ///
    /// The whole block is written in one piece on one connection, so no other command of this client can slip
    /// inside it. A command that fails at run time (for example `WRONGTYPE`) gives `.failure` in its place
    /// while the others still apply, as in Redis; a command rejected while queueing aborts the transaction.
    /// - Parameter commands: The commands.
    /// - Returns: One result per command, in order.
    /// - Throws: ``RedisError`` with `.transactionAborted` when Redis discarded the transaction; on a cluster,
    ///   `.crossSlot` when the commands' keys are in different slots.
    public func transaction(_ commands: [RedisCommand]) async throws -> [Result<RESPValue, RedisError>] {
        try await self.tracked("MULTI", batchSize: commands.count) {
            if let cluster = self.cluster { return try await self.transaction(commands, on: cluster) }
            return try await self.onPrimary(timeout: nil) { pool in
                try await pool.sharedConnection().transaction(commands)
            }
        }
    }

    /// Leases a connection for the caller alone for the duration of `body` (for `WATCH`, blocking commands,
    /// or anything that changes connection state).
    ///
    /// The connection is returned to the pool when `body` ends. If `body` throws or is cancelled, or leaves a
    /// command unanswered, the connection is closed instead, so no state leaks to the next user.
    /// - Parameters:
    ///   - routingKey: On a cluster, a key the work touches: the connection is to the node that owns its slot (keys in
    ///     other slots are answered with `MOVED`). Without one, a cluster gives a connection to any primary. Ignored
    ///     on a single server.
    ///   - body: Work to do on the connection.
    /// - Returns: What `body` returns.
    public func withConnection<Result: Sendable>(
        routingKey: String? = nil,
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection(slot: routingKey.map { HashSlot(key: $0) }, body)
    }

    func withConnection<Result: Sendable>(
        slot: HashSlot?,
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let pool = try await self.dedicatedPool(for: slot)
        let connection = try await pool.leaseDedicated()
        do {
            let result = try await body(connection)
            pool.release(connection, reusable: true)
            return result
        } catch {
            pool.release(connection, reusable: false)
            throw error
        }
    }
}

extension RedisConnection {
    /// Runs commands inside `MULTI`/`EXEC` on this connection. See ``RedisClient/transaction(_:)``.
    /// - Parameter commands: The commands.
    /// - Returns: One result per command.
    public func transaction(_ commands: [RedisCommand]) async throws -> [Result<RESPValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        var block = [RedisCommand("MULTI")]
        block.reserveCapacity(commands.count + 2)
        block.append(contentsOf: commands)
        block.append(RedisCommand("EXEC"))
        let replies = try await self.pipeline(block)
        if let error = RedisError.fromReply(replies[0]) { throw error }
        let exec = replies[replies.count - 1]
        switch exec {
        case .array(let results):
            guard results.count == commands.count else {
                throw RedisError.unexpected(exec, expected: "\(commands.count) results from EXEC")
            }
            return results.map { reply in RedisError.fromReply(reply).map { .failure($0) } ?? .success(reply) }
        case .null:
            throw RedisError(.transactionAborted, "EXEC returned null: a watched key changed")
        default:
            // EXECABORT: report the first queueing error, which says what was wrong.
            let queueingError = replies.dropFirst().dropLast().lazy.compactMap(RedisError.fromReply).first
            let message = queueingError?.message ?? RedisError.fromReply(exec)?.message ?? "EXEC failed"
            throw RedisError(.transactionAborted, message)
        }
    }
}
