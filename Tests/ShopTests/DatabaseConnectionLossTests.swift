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

}
