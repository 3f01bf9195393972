import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// The client's connections: a few shared, auto-pipelined ones for ordinary commands, and a bounded set of
/// dedicated ones leased exclusively (blocking commands, `WATCH`, ``RedisClient/withConnection(_:)``).
///
/// Connections are opened on demand and replaced after they drop. After a failed connect the pool backs off
/// (exponentially, with jitter) and fails callers at once until the delay passes.
final class RedisConnectionPool: Sendable {
    private enum Slot: Sendable {
        case empty
        case connecting(EventLoopFuture<RedisConnection>)
        case connected(RedisConnection)
    }

    private struct LeaseWaiter: Sendable {
        let id: UInt64
        let continuation: CheckedContinuation<RedisConnection?, any Error>
        let timeout: Scheduled<Void>?
    }

    private struct State: Sendable {
        var shared: [Slot]
        var nextShared = 0
        var idleDedicated: [(connection: RedisConnection, since: UInt64)] = []
        /// Dedicated connections that exist or are being opened (leased + idle + connecting).
        var dedicatedCount = 0
        var waiters = CircularBuffer<LeaseWaiter>()
        var nextWaiterID: UInt64 = 0
        var backoff: ReconnectBackoff
        var nextConnectionID = 0
        var isShutdown = false
    }

    let configuration: RedisConfiguration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let state: NIOLockedValueBox<State>
    private let sslContext: NIOLockedValueBox<Result<NIOSSLContext, any Error>?>

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(
            State(
                shared: Array(repeating: .empty, count: max(1, configuration.multiplexedConnections)),
                backoff: ReconnectBackoff(
                    initialDelay: configuration.initialReconnectDelay,
                    maxDelay: configuration.maxReconnectDelay
                )
            )
        )
        self.sslContext = NIOLockedValueBox(nil)
    }

    // MARK: Shared connections

    /// A shared connection for ordinary commands, opening one if needed.
    func sharedConnection() async throws -> RedisConnection {
        enum Next {
            case ready(RedisConnection)
            case wait(EventLoopFuture<RedisConnection>)
            case open(Int, EventLoopPromise<RedisConnection>, id: Int)
        }
        let now = NIODeadline.now().uptimeNanoseconds
        let next = try self.state.withLockedValue { state throws -> Next in
            guard !state.isShutdown else { throw RedisError(.shutdown, "the Redis client has shut down") }
            let index = state.nextShared % state.shared.count
            state.nextShared &+= 1
            switch state.shared[index] {
            case .connected(let connection):
                return .ready(connection)
            case .connecting(let future):
                return .wait(future)
            case .empty:
                if let refusal = state.backoff.refusal(now: now) { throw refusal }
                let promise = self.eventLoopGroup.any().makePromise(of: RedisConnection.self)
                state.shared[index] = .connecting(promise.futureResult)
                state.nextConnectionID += 1
                return .open(index, promise, id: state.nextConnectionID)
            }
        }
        switch next {
        case .ready(let connection):
            return connection
        case .wait(let future):
            return try await future.get()
        case .open(let index, let promise, let id):
            // Opened in its own task so one caller's cancellation cannot fail everyone waiting on the slot.
            Task { await self.openShared(slot: index, id: id, promise: promise) }
            return try await promise.futureResult.get()
        }
    }

    private func openShared(slot: Int, id: Int, promise: EventLoopPromise<RedisConnection>) async {
        do {
            let connection = try await self.open(id: id)
            let keep = self.state.withLockedValue { state -> Bool in
                guard !state.isShutdown else { return false }
                state.backoff.recordSuccess()
                state.shared[slot] = .connected(connection)
                return true
            }
            guard keep else {
                await connection.close()
                promise.fail(RedisError(.shutdown, "the Redis client has shut down"))
                return
            }
            connection.onClose { [weak self] in self?.sharedClosed(slot: slot, connection: connection) }
            promise.succeed(connection)
        } catch {
            let redisError = Self.asRedisError(error)
            self.state.withLockedValue { state in
                state.shared[slot] = .empty
                state.backoff.recordFailure(redisError, now: NIODeadline.now().uptimeNanoseconds)
            }
            self.logger.warning("redis connect failed", metadata: ["error": "\(redisError)"])
            promise.fail(redisError)
        }
    }

    private func sharedClosed(slot: Int, connection: RedisConnection) {
        self.state.withLockedValue { state in
            if case .connected(let current) = state.shared[slot], current === connection {
                state.shared[slot] = .empty
            }
        }
        self.logger.debug("redis shared connection closed", metadata: ["redis.connection": "\(connection.id)"])
    }

    // MARK: Dedicated connections

    /// Leases a connection that no one else uses until ``release(_:reusable:)``.
    func leaseDedicated() async throws -> RedisConnection {
        enum Next {
            case ready(RedisConnection)
            case open(id: Int)
            case wait(id: UInt64)
        }
        let now = NIODeadline.now().uptimeNanoseconds
        let next = try self.state.withLockedValue { state throws -> Next in
            guard !state.isShutdown else { throw RedisError(.shutdown, "the Redis client has shut down") }
            while let idle = state.idleDedicated.popLast() {
                if !idle.connection.isClosed { return .ready(idle.connection) }
                state.dedicatedCount -= 1
            }
            if state.dedicatedCount < self.configuration.maxDedicatedConnections {
                if let refusal = state.backoff.refusal(now: now) { throw refusal }
                state.dedicatedCount += 1
                state.nextConnectionID += 1
                return .open(id: state.nextConnectionID)
            }
            state.nextWaiterID += 1
            return .wait(id: state.nextWaiterID)
        }
        switch next {
        case .ready(let connection):
            return connection
        case .open(let id):
            return try await self.openDedicated(id: id)
        case .wait(let id):
            if let connection = try await self.waitForLease(id: id) { return connection }
            // Handed a free place instead of a connection: open one in it.
            let connectionID = self.state.withLockedValue { state -> Int in
                state.nextConnectionID += 1
                return state.nextConnectionID
            }
            return try await self.openDedicated(id: connectionID)
        }
    }

    /// Opens a dedicated connection in a place already counted in `dedicatedCount`.
    private func openDedicated(id: Int) async throws -> RedisConnection {
        do {
            let connection = try await self.open(id: id)
            self.state.withLockedValue { $0.backoff.recordSuccess() }
            return connection
        } catch {
            let redisError = Self.asRedisError(error)
            let waiter = self.state.withLockedValue { state -> LeaseWaiter? in
                state.backoff.recordFailure(redisError, now: NIODeadline.now().uptimeNanoseconds)
                // The place is free again: give it to a waiter, if any, or release it.
                if let waiter = state.waiters.popFirst() { return waiter }
                state.dedicatedCount -= 1
                return nil
            }
            if let waiter {
                waiter.timeout?.cancel()
                waiter.continuation.resume(returning: nil)
            }
            throw redisError
        }
    }

    private func waitForLease(id: UInt64) async throws -> RedisConnection? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let timeout = self.eventLoopGroup.any().scheduleTask(
                    in: .nanoseconds(self.configuration.leaseTimeout.nanoseconds)
                ) {
                    self.abandonWait(
                        id: id,
                        error: RedisError(.leaseTimeout, "no dedicated Redis connection became free in time")
                    )
                }
                let enqueued = self.state.withLockedValue { state -> Bool in
                    guard !state.isShutdown else { return false }
                    state.waiters.append(LeaseWaiter(id: id, continuation: continuation, timeout: timeout))
                    return true
                }
                if !enqueued {
                    timeout.cancel()
                    continuation.resume(throwing: RedisError(.shutdown, "the Redis client has shut down"))
                }
            }
        } onCancel: {
            self.abandonWait(id: id, error: CancellationError())
        }
    }

    private func abandonWait(id: UInt64, error: any Error) {
        let waiter = self.state.withLockedValue { state -> LeaseWaiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.timeout?.cancel()
        waiter?.continuation.resume(throwing: error)
    }

    /// Returns a leased connection. Pass `reusable: false` when its state is unknown (a cancelled blocking
    /// command, a `WATCH` left behind): it is closed instead of being handed to someone else.
    func release(_ connection: RedisConnection, reusable: Bool) {
        enum Next {
            case handOver(LeaseWaiter, RedisConnection?)
            case close
            case keep
        }
        let canReuse = reusable && !connection.isClosed && connection.inFlightCount == 0
        let next = self.state.withLockedValue { state -> Next in
            if let waiter = state.waiters.popFirst() {
                if canReuse { return .handOver(waiter, connection) }
                // The closed connection's place goes to the waiter, who opens a new one.
                return .handOver(waiter, nil)
            }
            guard canReuse, !state.isShutdown else {
                state.dedicatedCount -= 1
                return .close
            }
            state.idleDedicated.append((connection, NIODeadline.now().uptimeNanoseconds))
            return .keep
        }
        switch next {
        case .handOver(let waiter, let handed):
            waiter.timeout?.cancel()
            if handed == nil { connection.channel.close(promise: nil) }
            waiter.continuation.resume(returning: handed)
        case .close:
            connection.channel.close(promise: nil)
        case .keep:
            break
        }
    }

    // MARK: Maintenance

    /// Closes idle dedicated connections past the idle timeout and pings the rest; run periodically.
    func maintain() async {
        let now = NIODeadline.now().uptimeNanoseconds
        let idleLimit = UInt64(max(0, self.configuration.idleTimeout.nanoseconds))
        let (expired, shared, idle) = self.state.withLockedValue {
            state -> ([RedisConnection], [RedisConnection], [RedisConnection]) in
            var expired: [RedisConnection] = []
            state.idleDedicated.removeAll { entry in
                let old = now &- entry.since >= idleLimit || entry.connection.isClosed
                if old {
                    expired.append(entry.connection)
                    state.dedicatedCount -= 1
                }
                return old
            }
            let shared = state.shared.compactMap { slot -> RedisConnection? in
                if case .connected(let connection) = slot { return connection }
                return nil
            }
            return (expired, shared, state.idleDedicated.map(\.connection))
        }
        for connection in expired { await connection.close() }
        for connection in shared + idle where !connection.isClosed {
            do {
                _ = try await connection.send(RedisCommand("PING"))
            } catch {
                self.logger.info(
                    "redis keep-alive failed, closing connection",
                    metadata: ["redis.connection": "\(connection.id)", "error": "\(error)"]
                )
                await connection.close()
            }
        }
    }

    /// Refuses new work, lets in-flight commands finish (up to `grace`), then closes every connection.
    func shutdown(grace: Duration) async {
        let (connections, waiters) = self.state.withLockedValue {
            state -> ([RedisConnection], CircularBuffer<LeaseWaiter>) in
            state.isShutdown = true
            var connections = state.idleDedicated.map(\.connection)
            state.idleDedicated = []
            for slot in state.shared {
                if case .connected(let connection) = slot { connections.append(connection) }
            }
            state.shared = state.shared.map { _ in .empty }
            let waiters = state.waiters
            state.waiters = []
            return (connections, waiters)
        }
        for waiter in waiters {
            waiter.timeout?.cancel()
            waiter.continuation.resume(throwing: RedisError(.shutdown, "the Redis client has shut down"))
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
        self.state.withLockedValue { state in
            if let error {
                state.backoff.recordFailure(error, now: NIODeadline.now().uptimeNanoseconds)
            } else {
                state.backoff.recordSuccess()
            }
        }
    }

    /// The error to fail a new connection attempt with now, if the pool is backing off.
    func connectRefusal() -> RedisError? {
        let now = NIODeadline.now().uptimeNanoseconds
        return self.state.withLockedValue { state in
            state.isShutdown ? RedisError(.shutdown, "the Redis client has shut down") : state.backoff.refusal(now: now)
        }
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
