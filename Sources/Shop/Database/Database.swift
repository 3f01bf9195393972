public import Logging
public import PostgresNIO
import Synchronization

/// PostgreSQL as the shop's modules use it: the pool's queries, connections and transactions, with a bound on how
/// long a call may wait for a pooled connection.
///
/// The bound is what makes the edge fail fast: while PostgreSQL is down, postgres-nio's pool keeps requests
/// waiting until its own circuit breaker trips (about a minute). HTTP requests run with a wait of
/// `DATABASE_REQUEST_WAIT_MS` (2 s by default, ``withConnectionWait(_:_:)``), so they answer `503` with
/// `Retry-After` in about that long. Background work (consumers, the relay, jobs) waits longer
/// (``backgroundWait``) — patience is right behind the edge — but not forever: a lease request the pool never
/// serves (seen after PostgreSQL refused connections while shutting down) would otherwise hold a consumer, and the
/// locks it holds, for good. A call that gives up fails with ``DatabaseUnavailable``, a transient failure.
///
/// Once a call holds a connection, its queries run to completion, so a transaction that queues on a hot row's lock is
/// never cut short — unless the connection closes under it: postgres-nio (1.33) never answers a query sent on a
/// connection the server has reset, so a call whose connection is closed and that has not ended a moment later
/// (``connectionLossGrace``) fails with ``DatabaseUnavailable`` at once, rather than holding its caller (and the locks
/// the caller holds) for good. A connection the pool hands over after the call gave up is released at once, unused.
/// The other side of that bound is the server's: pools built from ``DatabaseURL/clientConfiguration(maxConnections:idleTransactionTimeout:)``
/// with a timeout have PostgreSQL end a session that sits idle inside a transaction that long, so a caller that
/// stalls mid-transaction cannot hold row locks others queue for beyond it.
public struct Database: Sendable {
    /// The pool (run it as a service).
    public let client: PostgresClient
    /// The wait for a connection of calls on tasks that set no bound of their own.
    public let backgroundWait: Duration
    let tracing: DatabaseTracing

    /// How long a call whose connection closed under it may still take to end by itself (its query failing) before
    /// it is failed.
    static let connectionLossGrace = Duration.seconds(1)

    /// How long a call on this task may wait for a pooled connection; nil: ``backgroundWait``.
    @TaskLocal static var connectionWait: Duration?

    /// Creates the facade over a pool.
    /// - Parameters:
    ///   - client: The pool.
    ///   - backgroundWait: The wait for a connection of calls on tasks that set no bound.
    ///   - databaseName: The database's name, for the calls' spans (`db.namespace`).
    public init(client: PostgresClient, backgroundWait: Duration = .seconds(30), databaseName: String? = nil) {
        self.client = client
        self.backgroundWait = backgroundWait
        self.tracing = DatabaseTracing(databaseName: databaseName)
    }

    /// Runs `body` with calls on this task waiting at most `limit` for a connection.
    /// - Parameters:
    ///   - limit: The longest wait for a pooled connection.
    ///   - body: The work.
    /// - Returns: What `body` returns.
    public static func withConnectionWait<Result>(
        _ limit: Duration,
        _ body: () async throws -> Result
    ) async rethrows -> Result {
        try await Self.$connectionWait.withValue(limit) { try await body() }
    }

    /// Leases a connection for `body`.
    /// - Throws: ``DatabaseUnavailable`` when no connection was leased within the task's bound.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let limit = Self.connectionWait ?? self.backgroundWait
        let call = PendingCall<Result>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
                guard call.start(continuation) else { return }
                // The work runs in a task of its own and the caller is resumed by whichever comes first, so giving
                // up never waits for a lease request the pool does not let go of, or a query that is never answered.
                let work = Task {
                    do {
                        let value = try await self.client.withConnection { connection in
                            guard call.take(connection) else { throw DatabaseUnavailable(waited: limit) }
                            return try await body(connection)
                        }
                        call.finish(.success(value))
                    } catch {
                        call.finish(.failure(error))
                    }
                }
                call.attach(work: work)
                call.attach(watch: Task { await call.watch(limit: limit, grace: Self.connectionLossGrace) })
            }
        } onCancel: {
            call.cancel()
        }
    }

    /// Runs `body` in a transaction (committed when it returns, rolled back when it throws). An error thrown by
    /// `body` reaches the caller as itself, not wrapped in `PostgresTransactionError`, so callers can match domain
    /// errors and SQL states.
    /// - Throws: ``DatabaseUnavailable`` when no connection was leased within the task's bound.
    public func transaction<Result: Sendable>(
        logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.tracing.withSpan("TRANSACTION") {
            try await self.withConnection { connection in
                do {
                    return try await connection.withTransaction(logger: logger) { connection in
                        try await body(connection)
                    }
                } catch let error as PostgresTransactionError {
                    if let closureError = error.closureError, error.rollbackError == nil { throw closureError }
                    throw error
                }
            }
        }
    }

    /// Runs one query and returns all its rows (leased and released within the call, so its connection wait is
    /// bounded like every other call). For the small result sets of the shop's queries.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRows {
        try await self.tracing.withSpan(DatabaseTracing.operation(of: query.sql), queryText: query.sql) {
            try await self.withConnection { connection in
                PostgresRows(rows: try await connection.query(query, logger: logger).collect())
            }
        }
    }
}

/// One call's race between its work (getting a connection, then running on it) and its watch (the bound on the wait,
/// then the connection's health), or its caller's cancellation: exactly one of them resumes the caller.
private final class PendingCall<Result: Sendable>: Sendable {
    private enum Phase {
        case waiting
        case leased(PostgresConnection)
        case done

        var isWaiting: Bool {
            if case .waiting = self { return true }
            return false
        }
        var isDone: Bool {
            if case .done = self { return true }
            return false
        }
    }

    private struct State {
        var phase = Phase.waiting
        var continuation: CheckedContinuation<Result, any Error>?
        var work: Task<Void, Never>?
        var watch: Task<Void, Never>?
    }

    private let state = Mutex(State())

    /// What ending the call hands back: the caller to resume and the tasks to cancel.
    private typealias Ending = (CheckedContinuation<Result, any Error>?, Task<Void, Never>?, Task<Void, Never>?)

    /// Stores the caller's continuation; false (the caller resumed with `CancellationError`) when the caller was
    /// cancelled before.
    func start(_ continuation: CheckedContinuation<Result, any Error>) -> Bool {
        let cancelled = self.state.withLock { state -> Bool in
            guard state.phase.isWaiting else { return true }
            state.continuation = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        return !cancelled
    }

    /// The caller was cancelled: a call still waiting fails now; a call that holds a connection has its work
    /// cancelled (its transaction rolls back) and ends with what the work throws.
    func cancel() {
        let (continuation, work, watch) = self.state.withLock { state -> Ending in
            guard state.phase.isWaiting else { return (nil, state.work, nil) }
            return Self.end(&state)
        }
        work?.cancel()
        watch?.cancel()
        continuation?.resume(throwing: CancellationError())
    }

    func attach(work: Task<Void, Never>) {
        let cancelNow = self.state.withLock { state -> Bool in
            state.work = work
            return state.phase.isDone
        }
        if cancelNow { work.cancel() }
    }

    func attach(watch: Task<Void, Never>) {
        let cancelNow = self.state.withLock { state -> Bool in
            state.watch = watch
            return state.phase.isDone
        }
        if cancelNow { watch.cancel() }
    }

    /// The connection arrived: true when the call still wants it (it then runs until it ends or the connection is
    /// lost).
    func take(_ connection: PostgresConnection) -> Bool {
        self.state.withLock { state in
            guard state.phase.isWaiting else { return false }
            state.phase = .leased(connection)
            return true
        }
    }

    /// The work ended: resumes the caller unless it was resumed already.
    func finish(_ result: Swift.Result<Result, any Error>) {
        let (continuation, _, watch) = self.state.withLock { state -> Ending in
            guard !state.phase.isDone else { return (nil, nil, nil) }
            return Self.end(&state)
        }
        watch?.cancel()
        continuation?.resume(with: result)
    }

    /// Fails a call still waiting for a connection when the wait's bound passes; then, while the call holds its
    /// connection, checks the connection every `grace` and fails the call when it is still running `grace` after the
    /// connection was seen closed. Ends when the call ends (it is cancelled then).
    func watch(limit: Duration, grace: Duration) async {
        guard (try? await Task.sleep(for: limit)) != nil else { return }
        if self.fail(DatabaseUnavailable(waited: limit), when: { $0.isWaiting }) { return }
        var closedSince: ContinuousClock.Instant?
        while (try? await Task.sleep(for: grace)) != nil {
            guard let connection = self.leasedConnection else { return }
            guard connection.isClosed else {
                closedSince = nil
                continue
            }
            if let closedSince, ContinuousClock.now - closedSince >= grace {
                _ = self.fail(DatabaseUnavailable(waited: limit, connectionLost: true)) {
                    if case .leased = $0 { return true }
                    return false
                }
                return
            }
            closedSince = closedSince ?? .now
        }
    }

    private var leasedConnection: PostgresConnection? {
        self.state.withLock { state in
            if case .leased(let connection) = state.phase { return connection }
            return nil
        }
    }

    /// Ends the call with `error` if it is in a phase `condition` accepts; its work is cancelled (a lease request
    /// is withdrawn; a connection that arrives later is released unused).
    private func fail(_ error: any Error, when condition: (Phase) -> Bool) -> Bool {
        let (continuation, work, _) = self.state.withLock { state -> Ending in
            guard condition(state.phase) else { return (nil, nil, nil) }
            return Self.end(&state)
        }
        guard let continuation else { return false }
        work?.cancel()
        continuation.resume(throwing: error)
        return true
    }

    private static func end(_ state: inout State) -> Ending {
        state.phase = .done
        defer {
            state.continuation = nil
            state.watch = nil
        }
        return (state.continuation, state.work, state.watch)
    }
}

/// The rows of a query, read in full; decode them like a row sequence (`for try await x in rows.decode(T.self)`).
public struct PostgresRows: AsyncSequence, Sendable {
    public typealias Element = PostgresRow

    let rows: [PostgresRow]

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: IndexingIterator<[PostgresRow]>

        public mutating func next() async throws -> PostgresRow? { self.base.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: self.rows.makeIterator()) }
}

/// No database connection could be had within the caller's bound: PostgreSQL is down, unreachable or
/// overloaded. Answered as `503 SERVICE_UNAVAILABLE` with `Retry-After`.
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    /// How long the call waited (for a connection: its bound).
    public let waited: Duration
    /// The call had a connection, which closed under it (PostgreSQL stopped or the link broke) without the call
    /// ending: nothing it sent is known to have been committed.
    public let connectionLost: Bool

    public init(waited: Duration, connectionLost: Bool = false) {
        self.waited = waited
        self.connectionLost = connectionLost
    }

    public var description: String {
        self.connectionLost
            ? "the database connection closed in the middle of the call"
            : "no database connection within \(self.waited)"
    }
}
