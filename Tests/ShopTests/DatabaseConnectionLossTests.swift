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

    @Test func callsOnConnectionsTheServerResetEndAndThePoolRecovers() async throws {
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
                try await eventually("all eight are inside their transactions") { counts.snapshot.started == 8 }
                try await Task.sleep(for: .milliseconds(500))
                try await server.stop(mode: "immediate")
                // A liveness bound, generous on purpose: a call that hangs never ends at all.
                try await eventually("every call ended", timeout: .seconds(60)) { counts.snapshot.ended == 8 }
                for task in inFlight { await task.value }
                try await server.launch()
                try await eventually("the pool serves again", timeout: .seconds(60)) {
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

    private func eventually(
        _ what: String,
        timeout: Duration = .seconds(20),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
        throw CatalogServerError("timed out waiting until \(what)")
    }
}
