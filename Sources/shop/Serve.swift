import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Shop

/// `shop serve`: run the HTTP service until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve HTTP (applies pending migrations first); SIGTERM or SIGINT drain and stop."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try self.options.load()
        bootstrapLogging(level: configuration.logLevel, format: configuration.logFormat)
        // The global metrics system is bootstrapped here only: tests build many applications per process.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        // Likewise the tracer: OTLP export when the OTEL_* environment asks for it, the no-op tracer otherwise.
        let traceExport: (any Service)?
        do {
            traceExport = try TraceExport.bootstrap(
                instanceID: configuration.instanceID,
                environment: ProcessInfo.processInfo.environment
            )
        } catch {
            printError("error: trace export: \(error)")
            throw ExitCode.failure
        }

        let logger = Logger(label: "shop")
        let app = buildApplication(
            configuration: configuration,
            logger: logger,
            options: ApplicationOptions(metricsRegistry: registry)
        )
        do {
            // The exporter is listed first so that it stops last, after the application's final spans.
            let services: [any Service] = (traceExport.map { [$0] } ?? []) + [app]
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        } catch {
            printError("error: shop serve stopped: \(error)")
            throw ExitCode.failure
        }
        logger.info("stopped")
    }
}
