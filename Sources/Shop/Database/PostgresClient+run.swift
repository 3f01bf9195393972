public import Logging
public import PostgresNIO

extension PostgresClient {
    /// Runs a client for `url` for the duration of `body` (for commands such as `migrate` and `seed`
    /// that are not long-running services).
    ///
    /// - Parameters:
    ///   - url: Where to connect.
    ///   - logger: The client's background logger.
    ///   - maxConnections: The pool's size limit.
    ///   - body: The work; the client is running while it executes.
    /// - Returns: What `body` returns.
    public static func withRunningClient<Result: Sendable>(
        url: DatabaseURL,
        logger: Logger,
        maxConnections: Int = 4,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(
            configuration: url.clientConfiguration(maxConnections: maxConnections),
            backgroundLogger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            do {
                let result = try await body(client)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}

extension PostgresClient {
    /// Waits until the database answers `SELECT 1`, for at most `timeout`.
    ///
    /// - Parameters:
    ///   - url: Named in the error (password masked).
    ///   - timeout: How long to keep trying.
    /// - Throws: ``DatabaseUnavailableError`` when it never answers.
    public func waitUntilReachable(url: DatabaseURL, timeout: Duration) async throws {
        do {
            try await withTimeout(timeout) {
                let rows = try await self.query("SELECT 1 AS ok")
                for try await _ in rows {}
            }
        } catch let error as PSQLError where error.code == .server {
            throw DatabaseUnavailableError(url: url, reason: error.serverInfo?[.message] ?? "server error")
        } catch let error as PSQLError {
            throw DatabaseUnavailableError(url: url, reason: "\(error.code)")
        } catch let error as TimeoutError {
            throw DatabaseUnavailableError(url: url, reason: error.description)
        }
    }
}

/// PostgreSQL did not answer at start.
public struct DatabaseUnavailableError: Error, CustomStringConvertible, Sendable {
    let url: DatabaseURL
    let reason: String
    public var description: String {
        "cannot reach PostgreSQL at \(self.url.redacted) (\(self.reason)); is it running? (scripts/services.sh starts it)"
    }
}
