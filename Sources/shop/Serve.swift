import ArgumentParser
import Hummingbird
import Logging
import Metrics
import Prometheus
import Shop

/// `shop serve`: run the HTTP service until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve HTTP (applies pending migrations first); SIGTERM or SIGINT drain and stop."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try self.options.load()
        bootstrapLogging(level: configuration.logLevel)
        // The global metrics system is bootstrapped here only: tests build many applications per process.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let logger = Logger(label: "shop")
        let app = buildApplication(
            configuration: configuration,
            logger: logger,
            options: ApplicationOptions(metricsRegistry: registry)
        )
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            printError("error: shop serve stopped: \(error)")
            throw ExitCode.failure
        }
        logger.info("stopped")
    }
}
