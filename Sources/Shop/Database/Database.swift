public import Logging
public import PostgresNIO
import Synchronization

/// PostgreSQL as the shop's modules use it: the pool's queries, connections and transactions, with a bound on how
/// long a call may wait for a connection when its task set one (``withConnectionWait(_:_:)``).
///
/// The bound is what makes the edge fail fast: while PostgreSQL is down, postgres-nio's pool keeps requests
/// waiting until its own circuit breaker trips (about a minute). HTTP requests run with a wait of
/// `DATABASE_REQUEST_WAIT_MS` (2 s by default), so they answer `503` with `Retry-After` in about that long.
/// Background work (consumers, the relay, jobs) sets no bound and waits: behind the edge, patience is right.
///
/// Only the wait for a connection is bounded: once a call holds one, its queries run to completion, so a
/// transaction that queues on a hot row's lock is never cut short.
public struct Database: Sendable {
    /// The pool (run it as a service).
    public let client: PostgresClient

    /// How long a call on this task may wait for a pooled connection; nil: as long as the pool makes it.
    @TaskLocal static var connectionWait: Duration?

    /// Creates the facade over a pool.
    /// - Parameter client: The pool.
    public init(client: PostgresClient) {
        self.client = client
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
        guard let limit = Self.connectionWait else { return try await self.client.withConnection(body) }
        let leased = LeaseFlag()
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await self.client.withConnection { connection in
                    leased.set()
                    return try await body(connection)
                }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            while let next = try await group.next() {
                if let value = next {
                    group.cancelAll()
                    return value
                }
                // The bound passed. Holding a connection: let the work finish. Still waiting: give up.
                if !leased.isSet {
                    group.cancelAll()
                    throw DatabaseUnavailable(waited: limit)
                }
            }
            throw DatabaseUnavailable(waited: limit)
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
        try await self.withConnection { connection in
            do {
                return try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
            } catch let error as PostgresTransactionError {
                if let closureError = error.closureError, error.rollbackError == nil { throw closureError }
                throw error
            }
        }
    }

    /// Runs one query and returns all its rows (leased and released within the call, so its connection wait is
    /// bounded like every other call). For the small result sets of the shop's queries.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRows {
        try await self.withConnection { connection in
            PostgresRows(rows: try await connection.query(query, logger: logger).collect())
        }
    }
}

/// Whether a call got its connection (set by the work, read by the bound).
private final class LeaseFlag: Sendable {
    private let value = Mutex(false)

    func set() { self.value.withLock { $0 = true } }

    var isSet: Bool { self.value.withLock { $0 } }
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
    /// How long the call waited.
    public let waited: Duration

    public var description: String { "no database connection within \(self.waited)" }
}
