import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import Shop

/// PostgreSQL killed under transactions that are between two queries: every call ends (fails, to be retried) instead
/// of waiting for good on a connection that is gone, and the pool serves again once the server is back.
///
/// The chaos run found consumers stuck for minutes inside a user's lock after `pg_ctl stop -m immediate`: their next
/// query went out on a connection the server had reset, and postgres-nio never answered it.
@Suite("Database: connections lost mid-transaction", .serialized)
struct DatabaseConnectionLossTests {
    final class Counts: Sendable {
        private let value = Mutex((started: 0, ended: 0))
        func start() { self.value.withLock { $0.started += 1 } }
        func end() { self.value.withLock { $0.ended += 1 } }
        var snapshot: (started: Int, ended: Int) { self.value.withLock { $0 } }
    }

    // The limit ends the test if a call hangs after all (the waits below only record an issue).
    @Test(.timeLimit(.minutes(10)))
    func callsOnConnectionsTheServerResetEndAndThePoolRecovers() async throws {
        let server = try await PrivatePostgres.start()
        let pool = PostgresClient(
            configuration: server.clientConfiguration(maxConnections: 8),
            backgroundLogger: TestServers.logger
        )
        let database = Database(client: pool, backgroundWait: .seconds(5))
        let counts = Counts()
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await pool.run() }
                // Eight transactions, each between two queries (asleep) when the server is killed.
                let inFlight = (0..<8).map { _ in
                    Task {
                        counts.start()
                        defer { counts.end() }
                        _ = try? await database.transaction(logger: TestServers.logger) { connection in
                            try await connection.query("SELECT 1", logger: TestServers.logger)
                            try await Task.sleep(for: .milliseconds(1_500))
                            try await connection.query("SELECT 2", logger: TestServers.logger)
                            try await connection.query("SELECT 3", logger: TestServers.logger)
                        }
                    }
                }
                try await DurabilityTests.eventually("all eight are inside their transactions") {
                    counts.snapshot.started == 8
                }
                try await Task.sleep(for: .milliseconds(500))
                try await server.stop(mode: "immediate")
                // A liveness bound, generous on purpose: a call that hangs never ends at all.
                try await DurabilityTests.eventually("every call ended", within: .seconds(60)) {
                    counts.snapshot.ended == 8
                }
                for task in inFlight { await task.value }
                try await server.launch()
                try await DurabilityTests.eventually("the pool serves again", within: .seconds(60)) {
                    (try? await database.query("SELECT 1", logger: TestServers.logger)) != nil
                }
                group.cancelAll()
            }
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    /// A transaction whose client goes quiet while holding a row lock (a stalled instance, or a driver that never
    /// sends its next statement) is ended by PostgreSQL after `DATABASE_IDLE_TRANSACTION_TIMEOUT_MS`, so the requests
    /// queued on that row go on instead of waiting for good, and the abandoned call fails rather than commit late.
    // The limit is the failure: without the server-side timeout the second update waits forever (checked: with the
    // timeout left out, this test exceeds its limit). The limit counts the wait for a test database too, which a
    // full parallel run can make long.
    @Test(.timeLimit(.minutes(10)))
    func aTransactionItsClientAbandonsIsEndedAndItsLocksFreed() async throws {
        try await withTestDatabase { url in
            let pool = PostgresClient(
                configuration: url.clientConfiguration(maxConnections: 4, idleTransactionTimeout: .seconds(1)),
                backgroundLogger: TestServers.logger
            )
            let database = Database(client: pool, backgroundWait: .seconds(5))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await pool.run() }
                try await database.query(
                    "CREATE TABLE hot (id int PRIMARY KEY, n int NOT NULL)",
                    logger: TestServers.logger
                )
                try await database.query("INSERT INTO hot VALUES (1, 0)", logger: TestServers.logger)
                let (locked, lockedSignal) = AsyncStream<Void>.makeStream()
                let (released, releasedSignal) = AsyncStream<Void>.makeStream()
                let holder = Task {
                    try await database.transaction(logger: TestServers.logger) { connection in
                        try await connection.query("UPDATE hot SET n = n + 1 WHERE id = 1", logger: TestServers.logger)
                        lockedSignal.yield()
                        // Silent inside the transaction until the other writer got the row.
                        for await _ in released { break }
                        try await connection.query(
                            "UPDATE hot SET n = n + 100 WHERE id = 1",
                            logger: TestServers.logger
                        )
                    }
                }
                for await _ in locked { break }
                // Queues on the row the holder locked: it only gets it once the server ended the holder's session.
                try await database.transaction(logger: TestServers.logger) { connection in
                    try await connection.query("UPDATE hot SET n = n + 10 WHERE id = 1", logger: TestServers.logger)
                }
                releasedSignal.yield()
                let outcome = await holder.result
                #expect(throws: (any Error).self) { try outcome.get() }
                // Only the second writer's update is there: the abandoned transaction rolled back, nothing of it
                // committed late.
                #expect(
                    try await database.query("SELECT n FROM hot WHERE id = 1", logger: TestServers.logger)
                        .rows.first?.decode(Int.self) == 10
                )
                group.cancelAll()
            }
        }
    }
}
