import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import RedisClient
import Shop
import Synchronization
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Redis failing *after* the session loaded — out of memory, busy with a script, not answering in time — answers
/// `503 SERVICE_UNAVAILABLE` with `Retry-After` through the one mapping of dependency failures, never a `500`.
/// Every failure here is a real reply of a real `redis-server` of the test's own.
@Suite("Dependency failures after the session loaded: 503 with Retry-After")
struct DependencyFailureTests {
    /// The app on `server`, with sessions that are only read per request (so a failing write cannot hit the
    /// session load), and a test route that writes to `server` through a client of its own.
    static func withApp(
        _ test: @escaping @Sendable (any TestClientProtocol, AccountsFixture, CatalogRedisServer) async throws -> Void
    ) async throws {
        let server = try await CatalogRedisServer.start()
        do {
            try await Self.withApp(server, test)
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    private static func withApp(
        _ server: CatalogRedisServer,
        _ test: @escaping @Sendable (any TestClientProtocol, AccountsFixture, CatalogRedisServer) async throws -> Void
    ) async throws {
        let url = server.url
        let routes = TestRoutes.routes { router in
            router.post("/test/redis-write") { _, _ -> String in
                var configuration = try RedisConfiguration(url: url)
                configuration.commandTimeout = .milliseconds(300)
                let redis = RedisClient(configuration: configuration, logger: TestServers.logger)
                do {
                    try await redis.set("test:dependency-failure", to: "x")
                } catch {
                    await redis.shutdown()
                    throw error
                }
                await redis.shutdown()
                return "written"
            }
            router.post("/test/redis-read") { _, _ -> String in
                let redis = RedisClient(configuration: try RedisConfiguration(url: url), logger: TestServers.logger)
                do {
                    let value = try await redis.get("test:dependency-failure")
                    await redis.shutdown()
                    return value ?? ""
                } catch {
                    await redis.shutdown()
                    throw error
                }
            }
        }
        try await withAccountsApp(
            configure: .with { configuration in
                configuration.redis = try RedisConfiguration(url: url)
                configuration.accounts.sessionTouchInterval = .seconds(60)
            },
            extraRoutes: routes
        ) { client, fixture in try await test(client, fixture, server) }
    }

    static func expectUnavailable(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == .serviceUnavailable, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.retryAfter] != nil, sourceLocation: sourceLocation)
        #expect(try response.problem(sourceLocation: sourceLocation).code == "SERVICE_UNAVAILABLE")
    }

    @Test("-OOM on a write: the test route and a manual job run answer 503 SERVICE_UNAVAILABLE")
    func outOfMemory() async throws {
        try await Self.withApp { client, fixture, server in
            _ = try await fixture.insertUser(email: "ops@example.com", password: "correct horse battery", role: .admin)
            let admin = try await client.login("ops@example.com", "correct horse battery")
            let before = try await client.send(.post, "/test/redis-write", cookie: admin)
            #expect(before.status == .ok, "\(before.text)")

            await server.cli(["CONFIG", "SET", "maxmemory-policy", "noeviction"])
            await server.cli(["CONFIG", "SET", "maxmemory", "1"])
            #expect(await server.cli(["SET", "probe", "x"]).contains("OOM"))

            try Self.expectUnavailable(try await client.send(.post, "/test/redis-write", cookie: admin))
            // A route of the service's own that writes to Redis after the session loaded (the job's lock).
            let jobs = try await client.send(.get, "/api/v1/admin/jobs", cookie: admin)
            #expect(jobs.status == .ok, "\(jobs.text)")
            #expect(jobs.text.contains(#""schedulerRunning":true"#), "\(jobs.text)")
            try Self.expectUnavailable(
                try await client.send(.post, "/api/v1/admin/jobs/daily-sales/run", cookie: admin)
            )
            await server.cli(["CONFIG", "SET", "maxmemory", "0"])
        }
    }

    @Test("-BUSY while a script runs past busy-reply-threshold: 503")
    func busyScript() async throws {
        try await Self.withApp { client, fixture, server in
            try await fixture.insertDemoUser()
            let user = try await client.login(Seeder.demoEmail, Seeder.demoPassword)
            // The session loads from Redis before the script starts; the test route's write then meets -BUSY.
            await server.cli(["CONFIG", "SET", "busy-reply-threshold", "10"])
            let script = Task.detached { await server.cli(["EVAL", "while true do end", "0"]) }
            var busy = false
            for _ in 0..<200 where !busy {
                busy = await server.cli(["PING"]).contains("BUSY")
                if !busy { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(busy)
            try Self.expectUnavailable(try await client.send(.post, "/test/redis-write", cookie: user))
            await server.cli(["SCRIPT", "KILL"])
            _ = await script.value
        }
    }

    @Test("a command that gets no answer in time (clients paused): 503")
    func commandTimeout() async throws {
        try await Self.withApp { client, fixture, server in
            try await fixture.insertDemoUser()
            let user = try await client.login(Seeder.demoEmail, Seeder.demoPassword)
            // Writes are held for 10 s; the route's client gives up after 300 ms.
            await server.cli(["CLIENT", "PAUSE", "10000", "WRITE"])
            try Self.expectUnavailable(try await client.send(.post, "/test/redis-write", cookie: user))
            await server.cli(["CLIENT", "UNPAUSE"])
        }
    }

    /// PostgreSQL ends the route's connection in the middle of its transaction (`pg_terminate_backend` while a
    /// statement runs: what a server restart or a failover does to it): the statement fails with 57P01 and the
    /// rollback on the closed connection fails too, so postgres-nio throws a `PostgresTransactionError` wrapping
    /// both. The one mapping looks inside it and answers `503` with `Retry-After`, not `500`.
    @Test(
        "a PostgreSQL connection ended mid-transaction (PostgresTransactionError): 503 with Retry-After",
        .timeLimit(.minutes(3))
    )
    func postgresConnectionEndedMidTransaction() async throws {
        let databaseURL = Mutex<DatabaseURL?>(nil)
        let thrown = Mutex<(any Error)?>(nil)
        let routes = TestRoutes.routes { router in
            router.post("/test/postgres-terminated") { _, _ -> String in
                guard let url = databaseURL.withLock({ $0 }) else { return "no database" }
                let pool = PostgresClient(
                    configuration: url.clientConfiguration(maxConnections: 2),
                    backgroundLogger: TestServers.logger
                )
                let running = Task { await pool.run() }
                defer { running.cancel() }
                let database = Database(client: pool, backgroundWait: .seconds(5))
                do {
                    try await database.transaction(logger: TestServers.logger) { connection in
                        var pid = 0
                        for try await value in try await connection.query(
                            "SELECT pg_backend_pid()",
                            logger: TestServers.logger
                        ).decode(Int.self) { pid = value }
                        // From the pool's other connection, while this one waits for its statement: the server
                        // ends this one, and the statement fails at once (57P01), as does the rollback.
                        let terminate = Task {
                            // Once the statement runs (the backend is `active`), not before.
                            for _ in 0..<200 {
                                var state = ""
                                for try await value in try await database.query(
                                    "SELECT state FROM pg_stat_activity WHERE pid = \(Int32(pid))",
                                    logger: TestServers.logger
                                ).decode(String.self) { state = value }
                                if state == "active" { break }
                                try await Task.sleep(for: .milliseconds(50))
                            }
                            try await database.query(
                                "SELECT pg_terminate_backend(\(Int32(pid)))",
                                logger: TestServers.logger
                            )
                        }
                        defer { terminate.cancel() }
                        try await connection.query("SELECT pg_sleep(30)", logger: TestServers.logger)
                    }
                } catch {
                    thrown.withLock { $0 = error }
                    throw error
                }
                return "committed"
            }
        }
        try await withAccountsApp(extraRoutes: routes) { client, fixture in
            databaseURL.withLock { $0 = fixture.database }
            try await fixture.insertDemoUser()
            let user = try await client.login(Seeder.demoEmail, Seeder.demoPassword)
            try Self.expectUnavailable(try await client.send(.post, "/test/postgres-terminated", cookie: user))
            // Which error the route saw depends on who notices first: postgres-nio (the statement's 57P01 and the
            // failed rollback, as `PostgresTransactionError`) or, under load, the `Database` facade's watchdog
            // (`DatabaseUnavailable`, 1 s after it saw the connection closed). Both must answer 503. Without the
            // facade the call can hang for minutes under load (a clean-clone run exceeded a 3-minute limit), so
            // the test keeps it.
            let error = thrown.withLock { $0 }
            #expect(
                error is PostgresTransactionError || error is DatabaseUnavailable,
                "the route threw \(String(describing: error))"
            )
        }
    }

    @Test("a server error that is the service's fault (WRONGTYPE) is still a 500: the mapping is not a blanket")
    func programmingErrorStays500() async throws {
        try await Self.withApp { client, fixture, server in
            try await fixture.insertDemoUser()
            let user = try await client.login(Seeder.demoEmail, Seeder.demoPassword)
            await server.cli(["DEL", "test:dependency-failure"])
            await server.cli(["LPUSH", "test:dependency-failure", "x"])
            let response = try await client.send(.post, "/test/redis-read", cookie: user)
            #expect(response.status == .internalServerError, "\(response.text)")
            #expect(try response.problem().code == "INTERNAL_ERROR")
        }
    }
}
