import ArgumentParser
import Logging
import PostgresNIO
import Shop

/// `shop migrate`: apply pending migrations and exit.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations (safe to run while other instances start)."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try self.options.load()
        bootstrapLogging(level: configuration.logLevel, format: configuration.logFormat)
        let logger = Logger(label: "shop.migrate")
        do {
            let applied = try await PostgresClient.withRunningClient(url: configuration.database, logger: logger) {
                client in
                try await configuration.database.waitUntilReachable(
                    timeout: configuration.databaseStartupTimeout,
                    logger: logger
                )
                return try await Migrator(client: client, logger: logger).migrate()
            }
            if applied.isEmpty {
                print("migrate: \(configuration.database.redacted) is up to date")
            } else {
                print(
                    "migrate: applied \(applied.map(String.init).joined(separator: ", ")) to \(configuration.database.redacted)"
                )
            }
        } catch {
            printError("error: migrate failed: \(describe(error))")
            throw ExitCode.failure
        }
    }
}

/// One line for an error, without leaking what `PSQLError` hides on purpose.
func describe(_ error: any Error) -> String {
    if let error = error as? PSQLError {
        if let message = error.serverInfo?[.message] {
            return "PostgreSQL: \(message)"
        }
        return "PostgreSQL: \(error.code)"
    }
    return "\(error)"
}
