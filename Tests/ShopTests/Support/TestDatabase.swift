import Logging
import PostgresNIO
import RedisClient
import Shop

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The PostgreSQL and Redis servers the tests use: `DATABASE_URL` and `REDIS_URL` when set, otherwise the
/// local defaults that `scripts/services.sh` starts.
enum TestServers {
    static var database: DatabaseURL {
        get throws {
            try DatabaseURL(ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ShopConfiguration.defaultDatabaseURL)
        }
    }

    static var redis: RedisConfiguration {
        get throws {
            try RedisConfiguration(
                url: ProcessInfo.processInfo.environment["REDIS_URL"] ?? ShopConfiguration.defaultRedisURL
            )
        }
    }

    /// The services' logger in tests: silent (critical only) unless `TEST_LOG_LEVEL` names a level, for looking into
    /// a test that hangs or fails (`TEST_LOG_LEVEL=debug` shows each service starting and stopping).
    static var logger: Logger {
        var logger = Logger(label: "shop-tests")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return logger
    }
}

/// Bounds how many test databases exist at once, so parallel tests stay within PostgreSQL's connection limit.
actor TestDatabaseLimiter {
    static let shared = TestDatabaseLimiter(permits: 6)

    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(permits: Int) {
        self.available = permits
    }

    func acquire() async {
        if self.available > 0 {
            self.available -= 1
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    func release() {
        if self.waiters.isEmpty {
            self.available += 1
        } else {
            self.waiters.removeFirst().resume()
        }
    }
}

/// Creates a database of its own (`shop_test_<random>`), runs `body` with its URL, and drops it afterwards,
/// whatever happens, so parallel tests and runs never see each other's data.
func withTestDatabase<Result: Sendable>(
    _ body: @Sendable (DatabaseURL) async throws -> Result
) async throws -> Result {
    await TestDatabaseLimiter.shared.acquire()
    let admin = try TestServers.database
    let name = "shop_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    do {
        _ = try await PostgresClient.withRunningClient(url: admin, logger: TestServers.logger, maxConnections: 1) {
            client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        let result: Result
        do {
            result = try await body(admin.with(database: name))
        } catch {
            try await dropDatabase(name, admin: admin)
            throw error
        }
        try await dropDatabase(name, admin: admin)
        await TestDatabaseLimiter.shared.release()
        return result
    } catch {
        await TestDatabaseLimiter.shared.release()
        throw error
    }
}

private func dropDatabase(_ name: String, admin: DatabaseURL) async throws {
    // `WITH (FORCE)` cannot end an autovacuum worker that happens to be in the database (it is not ours to
    // terminate), so a drop can fail now and succeed a moment later.
    var attempt = 0
    while true {
        do {
            _ = try await PostgresClient.withRunningClient(url: admin, logger: TestServers.logger, maxConnections: 1) {
                client in
                try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
            }
            return
        } catch {
            attempt += 1
            if attempt >= 10 { throw error }
            try await Task.sleep(for: .milliseconds(300))
        }
    }
}

/// Runs a client on `url` for the duration of `body`.
func withClient<Result: Sendable>(
    _ url: DatabaseURL,
    _ body: @Sendable (PostgresClient) async throws -> Result
) async throws -> Result {
    try await PostgresClient.withRunningClient(url: url, logger: TestServers.logger, maxConnections: 2, body)
}

extension PostgresClient {
    /// The single integer a query returns.
    func scalar(_ query: PostgresQuery) async throws -> Int {
        let rows = try await self.query(query)
        for try await value in rows.decode(Int.self) {
            return value
        }
        throw ScalarMissing()
    }
}

struct ScalarMissing: Error {}
