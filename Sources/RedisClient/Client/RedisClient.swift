public import Logging
public import NIOCore
public import NIOPosix
public import ServiceLifecycle

/// A Redis client: auto-pipelined shared connections, dedicated connections for blocking commands and
/// `WATCH`, scripts, pub/sub, and typed helpers for the common commands.
///
/// Run it as a `Service` in your `ServiceGroup`: ``run()`` keeps connections healthy (keep-alive `PING`, idle
/// connection reaping) and, on graceful shutdown, lets in-flight commands finish before closing everything.
/// Commands may be sent before `run()` starts; connections open on demand.
///
/// ```swift
/// let redis = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:6379/0"), logger: logger)
/// try await redis.set("greeting", to: "hello")
/// let value = try await redis.get("greeting")   // "hello"
/// ```
public final class RedisClient: Sendable, Service {
    /// The configuration the client was created with.
    public let configuration: RedisConfiguration
    let pool: RedisConnectionPool
    let subscriber: RedisSubscriber
    let metrics: RedisMetrics
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
        self.pool = RedisConnectionPool(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        self.subscriber = RedisSubscriber(pool: self.pool, logger: logger)
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
                    await self.pool.maintain()
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
        await self.pool.shutdown(grace: self.configuration.commandTimeout ?? .seconds(5))
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
        let start = NIODeadline.now()
        do {
            let connection = try await self.pool.sharedConnection()
            let reply = try await connection.send(command, timeout: timeout)
            self.metrics.recordSuccess(command: command.name, since: start)
            return reply
        } catch {
            self.metrics.recordFailure(command: command.name, since: start, error: error)
            throw error
        }
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
            let connection = try await self.pool.sharedConnection()
            let replies = try await connection.pipeline(commands, timeout: timeout)
            self.metrics.recordSuccess(command: "PIPELINE", since: start)
            return replies.map { reply in RedisError.fromReply(reply).map { .failure($0) } ?? .success(reply) }
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
    /// - Throws: ``RedisError`` with `.transactionAborted` when Redis discarded the transaction.
    public func transaction(_ commands: [RedisCommand]) async throws -> [Result<RESPValue, RedisError>] {
        let connection = try await self.pool.sharedConnection()
        return try await connection.transaction(commands)
    }

    /// Leases a connection for the caller alone for the duration of `body` (for `WATCH`, blocking commands,
    /// or anything that changes connection state).
    ///
    /// The connection is returned to the pool when `body` ends. If `body` throws or is cancelled, or leaves a
    /// command unanswered, the connection is closed instead, so no state leaks to the next user.
    /// - Parameter body: Work to do on the connection.
    /// - Returns: What `body` returns.
    public func withConnection<Result: Sendable>(
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await self.pool.leaseDedicated()
        do {
            let result = try await body(connection)
            self.pool.release(connection, reusable: true)
            return result
        } catch {
            self.pool.release(connection, reusable: false)
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
