import ArgumentParser
import Logging
import PostgresNIO
import Shop

/// `shop seed`: load the demo data (idempotent).
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load demo products and the demo accounts (applies pending migrations first; idempotent)."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try self.options.load()
        bootstrapLogging(level: configuration.logLevel, format: configuration.logFormat)
        let logger = Logger(label: "shop.seed")
        do {
            let report = try await PostgresClient.withRunningClient(url: configuration.database, logger: logger) {
                client in
                try await configuration.database.waitUntilReachable(
                    timeout: configuration.databaseStartupTimeout,
                    logger: logger
                )
                try await Migrator(client: client, logger: logger).migrate()
                return try await Seeder(client: client, logger: logger).seed()
            }
            print("seed: inserted \(report.products) products and \(report.users) users")
        } catch {
            printError("error: seed failed: \(describe(error))")
            throw ExitCode.failure
        }
    }
}
