public import Logging
import NIOSSL
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

extension DatabaseURL {
    /// Waits until PostgreSQL accepts a login to this database, for at most `timeout`.
    ///
    /// Each attempt is a direct connection (not the pool), so a refused connection is retried quickly and a
    /// server error — a wrong password, a database that does not exist — stops at once with its message.
    ///
    /// - Parameters:
    ///   - timeout: How long to keep trying.
    ///   - logger: For the connection attempts.
    /// - Throws: ``DatabaseUnavailableError`` naming the database (password masked) and the reason.
    public func waitUntilReachable(timeout: Duration, logger: Logger) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var reason = "no answer within \(timeout.milliseconds) ms"
        var attempt = 0
        while clock.now < deadline {
            attempt += 1
            let remaining = clock.now.duration(to: deadline)
            do {
                var configuration = PostgresConnection.Configuration(
                    host: self.host,
                    port: self.port,
                    username: self.user,
                    password: self.password,
                    database: self.database,
                    tls: try self.connectionTLS()
                )
                configuration.options.connectTimeout = .milliseconds(max(1, min(remaining, .seconds(5)).milliseconds))
                let connection = try await PostgresConnection.connect(
                    configuration: configuration,
                    id: attempt,
                    logger: logger
                )
                try await connection.close()
                return
            } catch let error as PSQLError where error.code == .server {
                throw DatabaseUnavailableError(
                    url: self,
                    reason: error.serverInfo?[.message] ?? "server error",
                    serverAnswered: true
                )
            } catch {
                reason = HealthController.describe(error)
            }
            try await Task.sleep(for: min(.milliseconds(250), clock.now.duration(to: deadline)))
        }
        throw DatabaseUnavailableError(url: self, reason: reason, serverAnswered: false)
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch self.tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }
}

/// PostgreSQL did not answer at start, or refused the login.
public struct DatabaseUnavailableError: Error, CustomStringConvertible, Sendable {
    let url: DatabaseURL
    let reason: String
    let serverAnswered: Bool

    public var description: String {
        if self.serverAnswered {
            return "PostgreSQL at \(self.url.redacted) refused the connection: \(self.reason)"
        }
        return "cannot reach PostgreSQL at \(self.url.redacted) (\(self.reason)); is it running? "
            + "(scripts/services.sh starts it)"
    }
}
