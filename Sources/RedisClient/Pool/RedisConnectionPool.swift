import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import Synchronization

/// The client's connections: a few shared, auto-pipelined ones for ordinary commands, and a bounded set of
/// dedicated ones leased exclusively (blocking commands, `WATCH`, ``RedisClient/withConnection(_:)``).
///
/// The I/O side of ``ConnectionPoolStateMachine``, which makes every decision. Connections are opened on demand
/// and replaced after they drop. After a failed connect the pool backs off (exponentially, with jitter) and fails
/// callers at once until the delay passes. Waiting for a connection — one being opened, or a dedicated one to
/// come free — can be cancelled, and is bounded by the connect timeout or the lease timeout.
final class RedisConnectionPool: Sendable {
    typealias Machine = ConnectionPoolStateMachine<RedisConnection, Waiter>

    enum Waiter: Sendable {
        case shared(UnsafeContinuation<RedisConnection, any Error>)
        case lease(UnsafeContinuation<Machine.Grant, any Error>, timeout: LeaseTimer)
    }

    /// The lease timeout of one waiter, started once it is queued (a timer started earlier could fire before
    /// there is anything to abandon) and cancelled when it is served.
    final class LeaseTimer: Sendable {
        /// The timer once started, and whether the waiter was served (or gave up) already.
        private let state = NIOLockedValueBox<(scheduled: Scheduled<Void>?, done: Bool)>((nil, false))

        func start(_ schedule: () -> Scheduled<Void>) {
            let task = schedule()
            let served = self.state.withLockedValue { state -> Bool in
                state.scheduled = task
                return state.done
            }
            if served { task.cancel() }
        }

        func cancel() {
            let scheduled = self.state.withLockedValue { state -> Scheduled<Void>? in
                state.done = true
                return state.scheduled
            }
            scheduled?.cancel()
        }
    }

    let configuration: RedisConfiguration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let state: NIOLockedValueBox<Machine>
    private let nextWaiterID = Atomic<UInt64>(0)
    private let sslContext: NIOLockedValueBox<Result<NIOSSLContext, any Error>?>

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(
            Machine(
                sharedSlots: configuration.multiplexedConnections,
                maxDedicated: configuration.maxDedicatedConnections,
                backoff: ReconnectBackoff(
                    initialDelay: configuration.initialReconnectDelay,
                    maxDelay: configuration.maxReconnectDelay
                )
            )
        )
        self.sslContext = NIOLockedValueBox(nil)
    }

    private static var now: UInt64 { NIODeadline.now().uptimeNanoseconds }

    /// How many callers wait for a dedicated connection now.
    var waitingLeaseCount: Int { self.state.withLockedValue { $0.waitingLeases } }

    /// Connections and waiters now.
    var statistics: RedisPoolStatistics { self.state.withLockedValue { $0.statistics } }

    // MARK: Shared connections

    /// A shared connection for ordinary commands, opening one if needed.
    func sharedConnection() async throws -> RedisConnection {
        let now = Self.now
        switch self.state.withLockedValue({ $0.leaseShared(now: now) }) {
        case .ready(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait(let slot):
            return try await self.waitForShared(slot: slot)
        case .open(let slot, let connectionID):
            // Opened in its own task so one caller's cancellation cannot fail everyone waiting on the slot.
            Task { await self.openShared(slot: slot, id: connectionID) }
            return try await self.waitForShared(slot: slot)
        }
    }

    private func waitForShared(slot: Int) async throws -> RedisConnection {
        let id = self.nextWaiterID.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<RedisConnection, any Error>) in
                let decision = self.state.withLockedValue { machine -> Machine.SharedWaitDecision in
                    if Task.isCancelled { return .fail(RedisError(.connectionUnavailable, "cancelled")) }
                    return machine.waitForShared(slot: slot, id: id, waiter: .shared(continuation))
                }
                switch decision {
                case .ready(let connection): continuation.resume(returning: connection)
                case .fail(let error): continuation.resume(throwing: Task.isCancelled ? CancellationError() : error)
                case .waiting: break
                }
            }
        } onCancel: {
            if case .shared(let continuation) = self.state.withLockedValue({ $0.abandonShared(id: id) }) {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    private func openShared(slot: Int, id: Int) async {
        do {
            let connection = try await self.open(id: id)
            guard let waiters = self.state.withLockedValue({ $0.sharedOpened(slot: slot, connection) }) else {
                await connection.close()
                return
            }
            connection.onClose { [weak self] in
                self?.state.withLockedValue { $0.sharedClosed(connection) }
                self?.logger.debug("redis shared connection closed", metadata: ["redis.connection": "\(connection.id)"])
            }
            for case .shared(let continuation) in waiters { continuation.resume(returning: connection) }
        } catch {
            let redisError = Self.asRedisError(error)
            let now = Self.now
            let waiters = self.state.withLockedValue { $0.sharedOpenFailed(slot: slot, redisError, now: now) }
            self.logger.warning("redis connect failed", metadata: ["error": "\(redisError)"])
            for case .shared(let continuation) in waiters { continuation.resume(throwing: redisError) }
        }
    }

    // MARK: Dedicated connections

    /// Leases a connection that no one else uses until ``release(_:reusable:)``.
    func leaseDedicated() async throws -> RedisConnection {
        let id = self.nextWaiterID.wrappingAdd(1, ordering: .relaxed).newValue
        let grant = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Machine.Grant, any Error>) in
                let timeout = LeaseTimer()
                let now = Self.now
                let decision = self.state.withLockedValue { machine -> Machine.LeaseDecision in
                    if Task.isCancelled { return .fail(RedisError(.connectionUnavailable, "cancelled")) }
                    return machine.leaseDedicated(id: id, waiter: .lease(continuation, timeout: timeout), now: now)
                }
                switch decision {
                case .granted(let grant):
                    continuation.resume(returning: grant)
                case .fail(let error):
                    continuation.resume(throwing: Task.isCancelled ? CancellationError() : error)
                case .waiting:
                    timeout.start {
                        self.eventLoopGroup.any().scheduleTask(
                            in: .nanoseconds(self.configuration.leaseTimeout.nanoseconds)
                        ) {
                            self.abandonLease(
                                id: id,
                                error: RedisError(.leaseTimeout, "no dedicated Redis connection became free in time")
                            )
                        }
                    }
                }
            }
        } onCancel: {
            self.abandonLease(id: id, error: CancellationError())
        }
        switch grant {
        case .connection(let connection):
            return connection
        case .open(let connectionID):
            return try await self.openDedicated(id: connectionID)
        }
    }

    private func abandonLease(id: UInt64, error: any Error) {
        if case .lease(let continuation, let timeout) = self.state.withLockedValue({ $0.abandonLease(id: id) }) {
            timeout.cancel()
            continuation.resume(throwing: error)
        }
    }

    /// Opens a dedicated connection in a place granted by the state machine.
    private func openDedicated(id: Int) async throws -> RedisConnection {
        do {
            // A place handed over while Redis is failing fails at once (and passes on), instead of each queued
            // waiter paying a connect timeout in turn.
            if let refusal = self.connectRefusal() { throw refusal }
            let connection = try await self.open(id: id)
            connection.tracksSessionState = true
            self.state.withLockedValue { $0.dedicatedOpened() }
            return connection
        } catch {
            let redisError = Self.asRedisError(error)
            let now = Self.now
            if let (waiter, grant) = self.state.withLockedValue({ $0.dedicatedOpenFailed(redisError, now: now) }) {
                Self.resume(waiter, with: grant)
            }
            throw redisError
        }
    }

    /// Returns a leased connection. Pass `reusable: false` when its state is unknown (a cancelled blocking
    /// command, an error in the middle of the caller's work): it is closed instead of being handed to someone
    /// else. A reusable connection whose session state was changed (`SELECT`, `WATCH`, `CLIENT TRACKING`, ...)
    /// is reset first (`RESET`, then the handshake again), and closed if that fails.
    func release(_ connection: RedisConnection, reusable: Bool) {
        let canReuse = reusable && !connection.isClosed && connection.inFlightCount == 0
        if canReuse && connection.sessionStateChanged {
            Task {
                let clean = await self.resetSession(connection)
                self.giveBack(connection, reusable: clean)
            }
            return
        }
        self.giveBack(connection, reusable: canReuse)
    }

    private func giveBack(_ connection: RedisConnection, reusable: Bool) {
        let now = Self.now
        let decision = self.state.withLockedValue { $0.release(connection, reusable: reusable, now: now) }
        self.perform(decision)
    }

    /// Puts a connection back in the state a new one has: `RESET` ends transactions, watches, subscriptions,
    /// tracking and authentication and selects database 0; the handshake then authenticates and selects again.
    private func resetSession(_ connection: RedisConnection) async -> Bool {
        do {
            let commands = [RedisCommand("RESET")] + RedisConnection.handshakeCommands(self.configuration)
            let replies = try await connection.pipeline(commands, timeout: self.configuration.connectTimeout)
            guard replies.first?.stringValue == "RESET" else { return false }
            try RedisConnection.checkHandshake(Array(replies.dropFirst()), configuration: self.configuration)
            connection.sessionStateChanged = false
            return true
        } catch {
            self.logger.info(
                "redis connection could not be reset; closing it",
                metadata: ["redis.connection": "\(connection.id)", "error": "\(error)"]
            )
            return false
        }
    }

    private func perform(_ decision: Machine.ReturnDecision) {
        switch decision {
        case .handOver(let waiter, let grant, let close):
            close?.channel.close(promise: nil)
            Self.resume(waiter, with: grant)
        case .close(let connection):
            connection.channel.close(promise: nil)
        case .keep:
            break
        }
    }

    private static func resume(_ waiter: Waiter, with grant: Machine.Grant) {
        guard case .lease(let continuation, let timeout) = waiter else { return }
        timeout.cancel()
        continuation.resume(returning: grant)
    }

    // MARK: Maintenance

    /// Closes idle dedicated connections past the idle timeout and checks the rest with `PING`; run periodically.
    /// The idle connections being checked are out of the pool meanwhile, so no caller can lease one and have it
    /// closed under it by a check that timed out behind the caller's own command.
    func maintain() async {
        let now = Self.now
        let idleLimit = UInt64(max(0, self.configuration.idleTimeout.nanoseconds))
        let (expired, shared, dedicated) = self.state.withLockedValue {
            $0.beginKeepAlive(now: now, idleLimit: idleLimit, isClosed: { $0.isClosed })
        }
        for connection in expired { await connection.close() }
        for connection in shared where !connection.isClosed {
            if await !self.ping(connection) { await connection.close() }
        }
        for connection in dedicated {
            var healthy = !connection.isClosed
            if healthy { healthy = await self.ping(connection) }
            let decision = self.state.withLockedValue { $0.finishCheck(connection, healthy: healthy) }
            self.perform(decision)
        }
    }

    /// True when the connection answered; also true when the check itself was cancelled (shutdown), which says
    /// nothing about the connection. Bounded by the command timeout, or the connect timeout when none is set.
    private func ping(_ connection: RedisConnection) async -> Bool {
        do {
            _ = try await connection.send(RedisCommand("PING"), timeout: self.configuration.healthCheckTimeout)
            return true
        } catch is CancellationError {
            return true
        } catch {
            self.logger.info(
                "redis keep-alive failed, closing connection",
                metadata: ["redis.connection": "\(connection.id)", "error": "\(error)"]
            )
            return false
        }
    }

    /// Refuses new work, lets in-flight commands finish (up to `grace`), then closes every connection.
    func shutdown(grace: Duration) async {
        let (connections, waiters) = self.state.withLockedValue { $0.shutdown() }
        let error = RedisError(.shutdown, "the Redis client has shut down")
        for waiter in waiters {
            switch waiter {
            case .shared(let continuation):
                continuation.resume(throwing: error)
            case .lease(let continuation, let timeout):
                timeout.cancel()
                continuation.resume(throwing: error)
            }
        }
        let deadline = ContinuousClock.now.advanced(by: grace)
        while ContinuousClock.now < deadline, connections.contains(where: { !$0.isClosed && $0.inFlightCount > 0 }) {
            try? await Task.sleep(for: .milliseconds(5))
        }
        for connection in connections { await connection.close() }
    }

    // MARK: Opening

    func open(id: Int, pushHandler: RedisConnection.PushHandler? = nil) async throws -> RedisConnection {
        try await RedisConnection.connect(
            configuration: self.configuration,
            id: id,
            eventLoop: self.eventLoopGroup.any(),
            sslContext: try self.makeSSLContext(),
            logger: self.logger,
            pushHandler: pushHandler
        )
    }

    /// Records the outcome of a connection attempt made outside the pool (the subscriber's).
    func recordConnectOutcome(_ error: RedisError?) {
        let now = Self.now
        self.state.withLockedValue { $0.recordConnectOutcome(error, now: now) }
    }

    /// The error to fail a new connection attempt with now, if the pool is backing off.
    func connectRefusal() -> RedisError? {
        let now = Self.now
        return self.state.withLockedValue { $0.connectRefusal(now: now) }
    }

    private func makeSSLContext() throws -> NIOSSLContext? {
        guard let tls = self.configuration.tls else { return nil }
        let result = self.sslContext.withLockedValue { cached -> Result<NIOSSLContext, any Error> in
            if let cached { return cached }
            let made = Result { try NIOSSLContext(configuration: tls) }
            cached = made
            return made
        }
        do {
            return try result.get()
        } catch {
            throw RedisError(.invalidConfiguration, "invalid TLS configuration", underlying: error)
        }
    }

    static func asRedisError(_ error: any Error) -> RedisError {
        if let error = error as? RedisError { return error }
        return RedisError(.connectionUnavailable, "cannot connect", underlying: error)
    }
}
